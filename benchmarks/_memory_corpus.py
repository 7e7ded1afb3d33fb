"""The synthetic corpus of the memory benchmark: Zipf-distributed topic words, invented rare
terms and unique codes, so BM25 postings have a realistic length distribution at any size."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

_TOPICS = [
    "router", "firmware", "network", "outage", "latency", "packet", "dns", "certificate",
    "backup", "cluster", "node", "disk", "memory", "leak", "billing", "invoice", "payment",
    "refund", "customer", "ticket", "release", "deploy", "rollback", "kitchen", "recipe",
    "oven", "flour", "butter", "garden", "tomato", "compost", "soil", "river", "mountain",
    "train", "flight", "hotel", "museum", "ticket", "passport", "battery", "engine", "tyre",
    "brake", "sensor", "fuel", "weather", "storm", "rain", "snow", "football", "tennis",
    "marathon", "training", "muscle", "sleep", "vitamin", "doctor", "hospital", "school",
    "teacher", "student", "exam", "library", "book", "history", "empire", "treaty", "war",
    "trade", "market", "price", "stock", "bond", "inflation", "energy", "solar", "wind", "heat",
    "pump", "insulation", "window", "door", "roof", "paint", "music", "guitar", "piano", "song",
    "concert", "film", "camera", "photo", "language", "grammar", "translation", "science",
    "cell", "gene", "protein", "star", "planet", "galaxy", "telescope", "ocean", "fish", "bird",
    "forest", "tree", "animal", "dog", "cat"
]
_GLUE = [
    "the", "a", "of", "to", "and", "in", "for", "on", "with", "is", "was", "are", "that",
    "this", "it", "from", "by", "at", "as", "be", "has", "have", "after", "before", "during",
    "because", "when", "while", "which", "new", "old", "small", "large", "quick", "slow"
]


def make_corpus(n: int, seed: int = 7) -> list[str]:
    """Synthetic documents: Zipf-distributed topic words, invented rare terms and codes.

    Args:
        n: Number of documents.
        seed: Random seed.

    Returns:
        ``n`` distinct texts of roughly 20-50 words.
    """
    rng = np.random.default_rng(seed)
    syll = ["ka", "lo", "mi", "ren", "tu", "sa", "vor", "el", "qui", "do", "zan", "pe"]
    rare = ["".join(rng.choice(syll, size=rng.integers(2, 4))) for _ in range(20_000)]
    vocab = _TOPICS + rare
    weights = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    weights /= weights.sum()
    docs = []
    for i in range(n):
        n_words = int(rng.integers(12, 30))
        content = rng.choice(len(vocab), size=n_words, p=weights)
        glue = rng.choice(len(_GLUE), size=n_words // 2)
        words = [vocab[c] for c in content] + [_GLUE[g] for g in glue]
        rng.shuffle(words)
        words.append(f"ID-{i:06d}")
        docs.append(" ".join(words) + ".")
    return docs


def make_queries(docs: Sequence[str], n: int, seed: int) -> list[str]:
    """Queries of 2-5 words taken from random documents (so they have keyword matches)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [w.strip(".") for w in rng.choice(docs).split() if w not in _GLUE]
        out.append(" ".join(rng.sample(words, k=min(len(words), rng.randint(2, 5)))))
    return out
