"""The offline backend: answers only by quoting the retrieved context, with citations.

No model generates text. The context passages (``context=`` or the numbered passages of the
last user message, see :func:`actors.llm.format_context_prompt`) are split into sentences;
each sentence is scored against the question as

    cosine(question, sentence) + lexical_weight * (share of the question's content words,
                                                   codes such as ``XJ-9027`` included,
                                                   that the sentence contains)

and the best sentences scoring at least ``threshold`` are quoted, each followed by the
``[n]`` of its passage. When none passes, the answer is exactly ``I don't know``, with no
citations. Ties keep context order, so the same input always gives the same answer.

The lexical term is there because sentence embeddings blur identifiers: ``XJ-9027`` and
``XJ-9072`` embed almost alike, so words containing digits weigh three times as much as
plain words in the overlap, and a plural ``s`` is ignored.

Defaults were tuned on the bundled retrieval set (``tests/data``; the same check runs in
``tests/test_llm.py``): its 40 queries plus 5 questions about near-identical codes, each with
the relevant document and the documents most similar to the question as context, and 20
questions nothing there answers, with the three most similar documents as context. With
``lexical_weight=0.4`` and ``threshold=0.4`` the relevant document is cited first for 43 of
45 (none wrong, 2 "I don't know") and 1 of 20 unrelated questions gets an answer ("how do I
change a bicycle tyre?" quotes the tyre-pressure note). Cosine alone at 0.4 cites first 29
of 40 with 3 wrong; 0.35 answers 2 of 20 unrelated questions. The best unrelated score was
0.355, the two lowest answerable ones 0.386 and 0.399.

Layering: this package never imports ``memory`` (both sit on the runtime core, side by
side). The embedding function is passed in (``embed=``); when none is, the backend calls the
factory named by :attr:`ExtractiveConfig.embedder` (an import path resolved in the process
that runs the backend, by default raygent's shared MiniLM embedder in ``memory``).
"""

from __future__ import annotations

import asyncio
import importlib
import re
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from opentelemetry.trace import Tracer

from actors._errors import ConfigError
from actors.llm._backend import (
    chat_span,
    check_number,
    record_completion,
)
from actors.llm._errors import (
    LLMError,
    LLMRequestError,
    LLMTimeoutError,
)
from actors.llm._types import (
    IDK,
    Citation,
    Completion,
    ContextItem,
    Messages,
    Usage,
    prepare,
)

#: An embedding function: texts in, an ``(n, dim)`` array of L2-normalised vectors out.
EmbedFn = Callable[[Sequence[str]], np.ndarray]

DEFAULT_EMBED_MODEL = "all-MiniLM-L6-v2"
#: The factory of the default embedding function: raygent's shared MiniLM embedder.
DEFAULT_EMBEDDER = "memory:encoder_for"

#: Generation parameters a model backend would use; accepted and ignored here, so callers
#: can send the same parameters to either backend.
IGNORED_PARAMS = frozenset({
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "seed", "stop", "n",
    "presence_penalty", "frequency_penalty", "logit_bias", "user", "model",
    "response_format", "logprobs", "top_logprobs",
})
OWN_PARAMS = frozenset({"context", "timeout_s", "threshold", "max_sentences"})

_STOPWORD_TEXT = (
    "a an the of to in on for and or is are was were be been by with at from as it its this "
    "that these those what which who whom whose how why when where do does did i my me you "
    "your we our can could should would will about into than then there their they them he "
    "she his her not no yes if so up out over under any some"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_TOKEN = re.compile(r"\w[\w-]*\w|\w")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_PARAGRAPH = re.compile(r"\n\s*\n")
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")


@dataclass(frozen=True, kw_only=True)
class ExtractiveConfig:
    """Settings of the extractive backend.

    Attributes:
        model: Sentence-transformers model of the default embedder (ignored when an
            embedding function is injected); also the model name on spans and completions.
        embedder: ``module:function`` that takes a model name and returns an
            :data:`EmbedFn`; used when no ``embed=`` is passed in.
        threshold: Lowest score a sentence needs to be quoted; raise it to say "I don't
            know" more often, lower it to answer more.
        lexical_weight: Weight of the exact content-word overlap added to the cosine.
        max_sentences: Most sentences quoted.
        margin: A sentence after the best one is quoted only if it scores within this of it.
        min_sentence_chars: Shorter fragments are not quoted.
        cache_size: Sentence and question vectors kept (LRU): retrieval returns the same
            passages again and again, and embedding is the whole cost of a call. 0: none.
    """

    model: str = DEFAULT_EMBED_MODEL
    embedder: str = DEFAULT_EMBEDDER
    threshold: float = 0.4
    lexical_weight: float = 0.4
    max_sentences: int = 2
    margin: float = 0.1
    min_sentence_chars: int = 8
    cache_size: int = 4096

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError("must name a sentence-transformers model", field="llm.model")
        if not isinstance(self.embedder, str) or ":" not in self.embedder:
            raise ConfigError("must be a 'module:function' import path",
                              field="llm.embedder")
        check_number(self.threshold, "llm.threshold", minimum=-1.0, maximum=2.0)
        check_number(self.lexical_weight, "llm.lexical_weight", strict=False, maximum=1.0)
        check_number(self.max_sentences, "llm.max_sentences", integer=True, minimum=1,
                     strict=False)
        check_number(self.margin, "llm.margin", strict=False)
        check_number(self.min_sentence_chars, "llm.min_sentence_chars", integer=True,
                     strict=False)
        check_number(self.cache_size, "llm.cache_size", integer=True, strict=False)


def default_embed_fn(model: str = DEFAULT_EMBED_MODEL,
                     embedder: str = DEFAULT_EMBEDDER) -> EmbedFn:
    """The embedding function the factory at ``embedder`` builds for ``model``.

    Raises:
        ConfigError: If the factory cannot be imported or returns something not callable.
    """
    module_name, _, attr = embedder.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load the embedder factory {embedder!r}: {exc}",
                          field="llm.embedder") from None
    fn = factory(model)
    if not callable(fn):
        raise ConfigError(f"{embedder!r} returned {type(fn).__name__}, not an embedding "
                          "function", field="llm.embedder")
    return cast(EmbedFn, fn)


@dataclass(frozen=True)
class _Sentence:
    passage: int  # 0-based index in the context
    position: int  # 0-based index in the passage
    text: str


def split_sentences(text: str, min_chars: int = 1) -> list[str]:
    """Split a passage into sentences, dropping fragments shorter than ``min_chars``.

    Sentences end at ``.!?`` followed by a capital or a digit, at blank lines and before list
    items (``-``, ``*``, ``1.``); other line breaks are hard wraps inside a sentence.
    """
    out: list[str] = []
    for paragraph in _PARAGRAPH.split(text):
        blocks: list[list[str]] = []
        for line in paragraph.splitlines():
            if not line.strip():
                continue
            if not blocks or _BULLET.match(line):
                blocks.append([line.strip()])
            else:
                blocks[-1].append(line.strip())
        for block in blocks:
            out.extend(p.strip() for p in _SENTENCE_END.split(" ".join(block)))
    return [p for p in out if len(p) >= min_chars]


def content_words(text: str) -> frozenset[str]:
    """Lower-cased words and codes (``xj-9027``) of a text, without stop words, with a
    plural or third-person ``s`` dropped (``fits`` matches ``fit``)."""
    words = (w for w in _TOKEN.findall(text.lower()) if w not in _STOPWORDS)
    return frozenset(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss")
                     and w.isalpha() else w for w in words)


_CODE_WEIGHT = 3.0


def _weight(word: str) -> float:
    # A shared code or number (XJ-9027, E4021, 07:40) is much stronger evidence than a
    # shared word: near-identical codes embed almost alike, so only this term tells them apart.
    return _CODE_WEIGHT if any(c.isdigit() for c in word) else 1.0


def overlap(asked: frozenset[str], words: frozenset[str]) -> float:
    """Weighted share of the question's content words found in a sentence, in [0, 1]."""
    total = sum(_weight(w) for w in asked)
    return sum(_weight(w) for w in asked & words) / total if total else 0.0


def _with_marker(sentence: str, n: int) -> str:
    # "... the softener [1]." reads better than "... the softener. [1]"
    if sentence[-1] in ".!?":
        return f"{sentence[:-1]} [{n}]{sentence[-1]}"
    return f"{sentence} [{n}]"


def _word_count(*texts: str) -> int:
    return sum(len(_TOKEN.findall(t)) for t in texts)


class ExtractiveBackend:
    """Answers from the given context only, by quoting its most relevant sentences.

    Args:
        config: The settings (defaults: :class:`ExtractiveConfig`).
        embed: The embedding function; None builds :func:`default_embed_fn` on first use.
        tracer: Where ``chat {model}`` spans go (default: the global raygent tracer).
    """

    name = "extractive"
    system = "raygent.extractive"

    def __init__(self, config: ExtractiveConfig | None = None, *, embed: EmbedFn | None = None,
                 tracer: Tracer | None = None) -> None:
        self.config = config or ExtractiveConfig()
        self.model = self.config.model
        self._embed = embed
        self._embed_lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._tracer = tracer

    def __repr__(self) -> str:
        return f"ExtractiveBackend(model={self.model!r}, threshold={self.config.threshold})"

    # -- embedding ---------------------------------------------------------------------------

    def _embed_fn(self) -> EmbedFn:
        with self._embed_lock:
            if self._embed is None:
                self._embed = default_embed_fn(self.config.model, self.config.embedder)
            return self._embed

    def _embed_new(self, texts: list[str]) -> np.ndarray:
        vectors = np.asarray(self._embed_fn()(texts), dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise LLMError(f"the embedding function returned shape {vectors.shape} for "
                           f"{len(texts)} texts; it must return one vector per text")
        # Normalise again: an injected function may not, and a dot product must be a cosine.
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of ``texts``, from the LRU cache where possible."""
        size = self.config.cache_size
        if not size:
            return self._embed_new(list(texts))
        with self._cache_lock:
            found = {t: self._cache[t] for t in texts if t in self._cache}
            for t in found:
                self._cache.move_to_end(t)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            fresh = self._embed_new(missing)
            found.update(zip(missing, fresh, strict=True))
            with self._cache_lock:
                self._cache.update(zip(missing, fresh, strict=True))
                while len(self._cache) > size:
                    self._cache.popitem(last=False)
        return np.stack([found[t] for t in texts])

    async def warm_up(self) -> None:
        """Load the embedding model now rather than on the first question."""
        await asyncio.to_thread(self._embed_new, ["warm up"])

    async def health(self) -> None:
        """Embed a word and check the vector is finite and unit length.

        Raises:
            LLMError: If the embedder fails or returns nonsense.
        """
        try:
            # Past the cache: the point is to run the model.
            vec = (await asyncio.to_thread(self._embed_new, ["health"]))[0]
        except LLMError:
            raise
        except Exception as exc:
            raise LLMError(f"the embedding model {self.model!r} failed: "
                           f"{type(exc).__name__}: {exc}") from exc
        if not np.all(np.isfinite(vec)) or abs(float(np.linalg.norm(vec)) - 1.0) > 1e-3:
            raise LLMError(f"the embedding model {self.model!r} returned an invalid vector")

    async def aclose(self) -> None:
        """Nothing to release (the shared embedder outlives the backend)."""

    # -- answering ---------------------------------------------------------------------------

    def _options(self, params: Mapping[str, Any]) -> tuple[float, int, float | None]:
        unknown = sorted(set(params) - OWN_PARAMS - IGNORED_PARAMS)
        if unknown:
            raise LLMRequestError(
                f"unknown parameter {unknown[0]!r} for the extractive backend: it takes "
                f"{', '.join(sorted(OWN_PARAMS))} (and ignores generation parameters)")
        threshold = params.get("threshold", self.config.threshold)
        max_sentences = params.get("max_sentences", self.config.max_sentences)
        timeout_s = params.get("timeout_s")
        try:
            check_number(threshold, "threshold", minimum=-1.0, maximum=2.0)
            check_number(max_sentences, "max_sentences", integer=True, minimum=1, strict=False)
            if timeout_s is not None:
                check_number(timeout_s, "timeout_s")
        except ConfigError as exc:
            raise LLMRequestError(str(exc)) from None
        return float(threshold), int(max_sentences), timeout_s

    def answer(self, question: str, context: Sequence[ContextItem], *,
               threshold: float | None = None, max_sentences: int | None = None
               ) -> tuple[str, tuple[Citation, ...]]:
        """The answer text and its citations (blocking: embeds in the calling thread).

        Args:
            question: The question.
            context: ``(doc_id, text)`` passages, cited as ``[1]``, ``[2]``... in this order.
            threshold: Overrides the configured threshold.
            max_sentences: Overrides the configured maximum.

        Returns:
            ``("I don't know", ())`` when no sentence scores at least the threshold.
        """
        cfg = self.config
        threshold = cfg.threshold if threshold is None else threshold
        max_sentences = cfg.max_sentences if max_sentences is None else max_sentences
        sentences = [_Sentence(p, i, s) for p, (_, text) in enumerate(context)
                     for i, s in enumerate(split_sentences(text, cfg.min_sentence_chars))]
        if not question.strip() or not sentences:
            return IDK, ()
        vectors = self._encode([question, *(s.text for s in sentences)])
        cosines = vectors[1:] @ vectors[0]
        asked = content_words(question)
        scored: list[tuple[float, _Sentence]] = []
        for sentence, cosine in zip(sentences, cosines, strict=True):
            lexical = overlap(asked, content_words(sentence.text))
            # Rounded so float noise between runs cannot reorder near-ties.
            scored.append((round(float(cosine) + cfg.lexical_weight * lexical, 6), sentence))
        scored.sort(key=lambda item: (-item[0], item[1].passage, item[1].position))
        best = scored[0][0]
        if best < threshold:
            return IDK, ()
        chosen: list[_Sentence] = []
        seen_text: set[str] = set()
        for score, sentence in scored:
            if len(chosen) == max_sentences or score < max(threshold, best - cfg.margin):
                break
            if sentence.text not in seen_text:
                seen_text.add(sentence.text)
                chosen.append(sentence)
        quoted: dict[int, list[str]] = {}
        for sentence in chosen:
            quoted.setdefault(sentence.passage, []).append(sentence.text)
        text = " ".join(_with_marker(s.text, s.passage + 1) for s in chosen)
        citations = tuple(Citation(index=p + 1, doc_id=context[p][0], text=" ".join(texts))
                          for p, texts in quoted.items())
        return text, citations

    async def complete(self, messages: Messages, **params: Any) -> Completion:
        """Answer the last user question from the context.

        Args:
            messages: The conversation; the last user turn is the question (and may carry
                the context in the :func:`actors.llm.format_context_prompt` format).
            **params: ``context=`` passages (wins over the message's), ``threshold=``,
                ``max_sentences=``, ``timeout_s=``; generation parameters are ignored.

        Raises:
            LLMRequestError: For malformed messages, context or parameters.
            LLMTimeoutError: If embedding takes longer than ``timeout_s``.
            LLMError: If the embedder fails.
        """
        threshold, max_sentences, timeout_s = self._options(params)
        prepared = prepare(messages, params.get("context"))
        with chat_span(self._tracer, system=self.system, model=self.model) as span:
            work = asyncio.to_thread(self.answer, prepared.question, prepared.context,
                                     threshold=threshold, max_sentences=max_sentences)
            try:
                async with asyncio.timeout(timeout_s):
                    text, citations = await work
            except TimeoutError:
                raise LLMTimeoutError(f"the extractive backend ({self.model})",
                                      float(timeout_s or 0)) from None
            completion = Completion(
                text=text, model=self.model, finish_reason="stop", citations=citations,
                usage=Usage(input_tokens=_word_count(prepared.question,
                                                     *(t for _, t in prepared.context)),
                            output_tokens=_word_count(text)))
            record_completion(span, completion)
            return completion

    async def stream(self, messages: Messages, **params: Any) -> AsyncIterator[str]:
        """The answer of :meth:`complete`, a word at a time (deltas join to its text)."""
        completion = await self.complete(messages, **params)
        for piece in re.findall(r"\s*\S+", completion.text):
            yield piece


__all__ = ["EmbedFn", "ExtractiveBackend", "ExtractiveConfig", "default_embed_fn",
           "split_sentences"]
