"""``raygent memory`` against a real store opened in the test process (no cluster).

The embedding model loads once per process (``memory.shared_embedder``), so the module
fixture that ingests the corpus pays for it and every later command reuses it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from memory import chunk_text
from scenarios.cli.memory import memory_app

runner = CliRunner()
# Wide enough that ids and scores are never cut in the captured tables.
ENV = {"COLUMNS": "200", "RAYGENT_MEMORY_DIR": None, "HF_HUB_OFFLINE": "1"}

RAY_MD = """# Ray actors

Ray actors are stateful workers. Each actor processes one method call at a time, in the
order the calls arrive, so its state needs no locks.
"""

LANCE_WORDS = ("LanceDB stores vector tables as columnar fragments on local disk; every "
               "write creates a new table version that readers can pin. ")

NOTES = [
    {"id": "kb1", "text": "Error E4012 on the Kestrel router: renew the DHCP lease.",
     "metadata": {"topic": "it"}},
    {"id": "kb2", "text": "Sourdough bread needs a starter that is fed every day.",
     "namespace": "kitchen"},
    {"text": "Prune tomato side shoots weekly for a bigger harvest."},
]


def _app() -> typer.Typer:
    # The sub-app under its name, as `raygent memory` will be once registered in cli.
    app = typer.Typer()
    app.add_typer(memory_app, name="memory")
    return app


APP = _app()


def _memory(*args: str | Path) -> Any:
    return runner.invoke(APP, ["memory", *map(str, args)], env=ENV)


@dataclass(frozen=True)
class Corpus:
    """Files ingested once for the module, and the store they went into."""

    docs: Path
    store: Path
    lance_chunks: int
    ingest: dict[str, Any]

    def id(self, name: str, chunk: int = 0) -> str:
        return f"{self.docs / name}#{chunk}"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    root = tmp_path_factory.mktemp("corpus")
    docs = root / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "ray.md").write_text(RAY_MD)
    lance = LANCE_WORDS * 20  # about 2,500 characters: several chunks
    (docs / "sub" / "lance.txt").write_text(lance)
    (docs / "notes.jsonl").write_text(
        json.dumps(NOTES[0]) + "\n\n" + "\n".join(json.dumps(n) for n in NOTES[1:]) + "\n")
    # Skipped by the directory walk: hidden, or not a supported type.
    (docs / ".draft.md").write_text("# Draft\n\nnot for memory")
    (docs / "readme.rst").write_text("not for memory")
    store = root / "store"
    result = _memory("ingest", docs, "--data-dir", store, "--json")
    assert result.exit_code == 0, result.output
    return Corpus(docs=docs, store=store,
                  lance_chunks=len(chunk_text(lance, 1000, 200)),
                  ingest=json.loads(result.stdout))


def _search_json(corpus: Corpus, query: str, *args: str) -> dict[str, Any]:
    result = _memory("search", query, "--data-dir", corpus.store, "--json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


# -- ingest ----------------------------------------------------------------------------------


def test_ingest_walks_directories_and_chunks_long_texts(corpus: Corpus) -> None:
    assert corpus.lance_chunks >= 3
    total = 1 + corpus.lance_chunks + len(NOTES)
    assert corpus.ingest["written"] == corpus.ingest["new"] == total
    assert corpus.ingest["replaced"] == 0
    assert corpus.ingest["files"] == {
        str(corpus.docs / "notes.jsonl"): 3, str(corpus.docs / "ray.md"): 1,
        str(corpus.docs / "sub" / "lance.txt"): corpus.lance_chunks}
    assert corpus.ingest["namespaces"] == {"default": total - 1, "kitchen": 1}
    # Each chunk is a record of its own, overlapping the next one.
    data = _search_json(corpus, "LanceDB table versions", "-k", "50", "--mode", "keyword")
    lance_ids = {h["id"] for h in data["hits"] if "lance.txt" in h["id"]}
    assert lance_ids == {corpus.id("sub/lance.txt", i) for i in range(corpus.lance_chunks)}
    assert all(len(h["text"]) <= 1000 for h in data["hits"])


def test_reingesting_a_file_replaces_its_records(corpus: Corpus) -> None:
    result = _memory("ingest", corpus.docs / "ray.md", "--data-dir", corpus.store)
    assert result.exit_code == 0, result.output
    assert "wrote 1 record from 1 file (0 new, 1 replaced)" in result.stdout


def test_a_file_that_got_shorter_leaves_no_old_chunk(tmp_path: Path) -> None:
    doc, store = tmp_path / "notes.txt", tmp_path / "store"
    doc.write_text(" ".join(f"sentence {i} about harbour cranes." for i in range(60))
                   + " The zanzibarite tail ends here.")
    first = _memory("ingest", doc, "--data-dir", store, "--chunk-size", "400",
                    "--overlap", "0", "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["written"] >= 3
    doc.write_text("One short sentence about harbour cranes.")
    second = _memory("ingest", doc, "--data-dir", store, "--chunk-size", "400",
                     "--overlap", "0", "--json")
    assert second.exit_code == 0, second.output
    out = json.loads(second.stdout)
    assert out["written"] == 1 and out["removed"] == json.loads(first.stdout)["written"] - 1
    result = _memory("search", "zanzibarite", "--data-dir", store, "--mode", "keyword",
                     "--json")
    assert json.loads(result.stdout)["hits"] == []
    assert _memory("stats", "--data-dir", store, "--json").stdout.count('"records": 1') == 1


def test_ingest_without_chunking(corpus: Corpus, tmp_path: Path) -> None:
    result = _memory("ingest", corpus.docs / "sub", "--data-dir", tmp_path / "whole",
                     "--chunk-size", "0", "--namespace", "books", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["written"] == 1 and out["namespaces"] == {"books": 1}
    result = _memory("search", "columnar fragments", "--data-dir", tmp_path / "whole",
                     "--json")
    (hit,) = json.loads(result.stdout)["hits"]
    assert hit["id"] == str(corpus.docs / "sub" / "lance.txt")  # no chunk suffix
    assert hit["namespace"] == "books"


def test_empty_files_in_a_directory_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "empty.md").write_text("\n")
    (tmp_path / "docs" / "full.txt").write_text("Some text worth remembering.")
    result = _memory("ingest", tmp_path / "docs", "--data-dir", tmp_path / "s")
    assert result.exit_code == 0, result.output
    assert f"skipping empty file {tmp_path / 'docs' / 'empty.md'}" in result.stderr
    assert "wrote 1 record from 1 file (1 new, 0 replaced)" in result.stdout


def test_ingest_in_batches(corpus: Corpus, tmp_path: Path) -> None:
    result = _memory("ingest", corpus.docs / "notes.jsonl", "--data-dir", tmp_path / "b",
                     "--batch-size", "2", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["written"] == len(NOTES)
    data = _search_json(Corpus(corpus.docs, tmp_path / "b", 0, {}), "harvest bread router",
                        "-k", "10", "--mode", "keyword")
    assert {h["id"] for h in data["hits"]} == {"kb1#0", "kb2#0",
                                               f"{corpus.docs / 'notes.jsonl'}:4#0"}


# -- search ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "query", "expected"), [
    ("hybrid", "how does an actor handle its method calls?", "ray.md"),
    ("vector", "which database keeps embeddings on disk", "sub/lance.txt"),
    ("keyword", "E4012 Kestrel", "kb1"),
])
def test_search_table_shows_the_hit_and_why(corpus: Corpus, mode: str, query: str,
                                           expected: str) -> None:
    result = _memory("search", query, "--mode", mode, "-k", "3", "--data-dir", corpus.store)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    # Keyword search returns only records sharing a term with the query.
    assert re.match(rf"[123] hits? for {re.escape(repr(query))} \({mode}, k=3, ", lines[0])
    header = next(line for line in lines if line.lstrip().startswith("#"))
    assert header.split() == ["#", "id", "score", "vector", "keyword", "text"]
    top = lines[lines.index(header) + 2]  # below the header's rule
    assert top.split()[0] == "1"
    want = expected if expected == "kb1" else str(corpus.docs / expected)
    assert top.split()[1].startswith(want), top
    # Vector-only and keyword-only hits leave the other retriever's column empty.
    if mode == "vector":
        assert top.split()[5] == "-"
    if mode == "keyword":
        assert top.split()[3] == "-"
    if mode == "hybrid":
        assert "#1" in top.split()[4:8]


def test_search_json_has_scores_and_ranks(corpus: Corpus) -> None:
    data = _search_json(corpus, "Kestrel router error E4012", "-k", "4")
    assert data["mode"] == "hybrid" and data["k"] == 4 and data["namespace"] is None
    hits = data["hits"]
    assert [h["rank"] for h in hits] == [1, 2, 3, 4]
    assert hits[0]["id"] == "kb1#0" and hits[0]["metadata"]["topic"] == "it"
    assert hits[0]["vector_rank"] >= 1 and hits[0]["keyword_rank"] == 1
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_search_one_namespace(corpus: Corpus) -> None:
    data = _search_json(corpus, "bread", "--namespace", "kitchen")
    assert [h["id"] for h in data["hits"]] == ["kb2#0"]


def test_search_with_no_hits(corpus: Corpus) -> None:
    result = _memory("search", "zzzqqq", "--mode", "keyword", "--data-dir", corpus.store)
    assert result.exit_code == 0
    assert result.stdout.startswith("0 hits for 'zzzqqq'")


# -- stats -----------------------------------------------------------------------------------


def test_stats(corpus: Corpus) -> None:
    result = _memory("stats", "--data-dir", corpus.store)
    assert result.exit_code == 0, result.output
    assert f"memory store: {corpus.store}" in result.stdout
    records = next(line for line in result.stdout.splitlines() if "records" in line)
    assert records.split()[-1] == str(corpus.ingest["written"])
    data = json.loads(_memory("stats", "--data-dir", corpus.store, "--json").stdout)
    assert data["records"] == corpus.ingest["written"]
    assert data["namespaces"] == corpus.ingest["namespaces"]
    assert data["model"] == "all-MiniLM-L6-v2"


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "code", "message"), [
    (["search", "  "], 2, "error: the query is empty"),
    (["search", "x", "-k", "0"], 2, "Invalid value for '-k'"),
    (["search", "x", "--mode", "fuzzy"], 2, "Invalid value for '--mode'"),
    (["search", "x", "--namespace", "nope"], 1, "error: unknown namespace 'nope'"),
    (["search", "x", "-k", "100000"], 1, "error: k must be an integer in [1, 1000]"),
])
def test_bad_searches(corpus: Corpus, args: list[str], code: int, message: str) -> None:
    result = _memory(*args, "--data-dir", corpus.store)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_bad_ingests_write_nothing(corpus: Corpus, tmp_path: Path) -> None:
    good = tmp_path / "good.md"
    good.write_text("# Good\n\nA perfectly fine note.")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": 42}\n')
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"id": "kb1", "text": "another kb1"}\n')
    (tmp_path / "nothing").mkdir()
    (tmp_path / "blank").mkdir()
    (tmp_path / "blank" / "a.md").write_text("")
    (tmp_path / "x.pdf").write_bytes(b"%PDF")
    cases = [
        ([good, bad], f"{bad}:2: each line must be an object with a 'text' string"),
        ([good, tmp_path / "missing.md"], "missing.md: no such file or directory"),
        ([good, tmp_path / "x.pdf"], "x.pdf: unsupported file type '.pdf'"),
        ([empty], f"{empty}: file is empty"),
        ([tmp_path / "nothing"], "no .jsonl, .md, .txt files in this directory"),
        ([tmp_path / "blank"], "nothing to ingest: every file is empty"),
        ([corpus.docs / "notes.jsonl", dup], "record id 'kb1#0' comes from both"),
    ]
    for paths, message in cases:
        result = _memory("ingest", *paths, "--data-dir", corpus.store)
        assert result.exit_code == 1, (paths, result.output)
        assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1  # one line, no traceback
    data = json.loads(_memory("stats", "--data-dir", corpus.store, "--json").stdout)
    assert data["records"] == corpus.ingest["written"]  # the good file was not written
    assert not _search_json(corpus, "perfectly fine note", "--mode", "keyword")["hits"]


def test_usage_errors(corpus: Corpus, tmp_path: Path) -> None:
    result = _memory("ingest", corpus.docs, "--chunk-size", "100", "--overlap", "100",
                     "--data-dir", tmp_path / "s")
    assert result.exit_code == 2
    assert "--overlap (100) must be smaller than --chunk-size (100)" in result.stderr
    result = _memory("stats", "--data-dir", corpus.store, "--address", "127.0.0.1:1")
    assert result.exit_code == 2
    assert "either --data-dir" in result.stderr


def test_reading_a_store_that_does_not_exist_creates_nothing(tmp_path: Path) -> None:
    for command in (["stats"], ["search", "anything"]):
        result = _memory(*command, "--data-dir", tmp_path / "typo")
        assert result.exit_code == 1
        assert result.stderr.startswith(f"error: no memory store in {tmp_path / 'typo'}")
    assert not (tmp_path / "typo").exists()


def test_no_running_system_fails_fast() -> None:
    result = _memory("stats", "--address", "127.0.0.1:1")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no Ray cluster answers at ")


@pytest.mark.parametrize("command", [[], ["ingest"], ["search"], ["stats"], ["eval"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = _memory(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
    if command and command != ["eval"]:
        assert "--data-dir" in result.stdout and "--address" in result.stdout


# -- through a running system ----------------------------------------------------------------


def test_through_a_running_systems_memory_agent(make_runtime: Any, corpus: Corpus,
                                                tmp_path: Path) -> None:
    import ray

    from memory._agent import MemoryAgent

    runtime = make_runtime()
    remote = ["--address", ray.get_runtime_context().gcs_address,
              "--ray-namespace", runtime.config.namespace]
    result = _memory("stats", *remote)
    assert result.exit_code == 1
    assert "has no memory agent: spawn memory.MemoryAgent named 'memory'" in result.stderr

    runtime.spawn(MemoryAgent, name="memory", config={"data_dir": str(tmp_path / "agent")})
    result = _memory("ingest", corpus.docs, *remote, "--batch-size", "3", "--json")
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)["written"]
    assert written == corpus.ingest["written"]
    assert "memory agent 'memory'" in json.loads(result.stdout)["store"]

    result = _memory("search", "E4012 Kestrel", *remote, "-k", "2")
    assert result.exit_code == 0, result.output
    assert "kb1#0" in result.stdout
    stats = json.loads(_memory("stats", *remote, "--json").stdout)
    assert stats["records"] == written
    # Whole files per batch: notes.jsonl (3), ray.md (1), lance.txt (its chunks).
    assert stats["calls"]["replace_sources"] == 3
    assert "calls" in _memory("stats", *remote).stdout  # the agent's counters are shown


# -- eval ------------------------------------------------------------------------------------


def test_eval_runs_on_the_bundled_set() -> None:
    """The issue's claim, checked: default hybrid beats either retriever by >= 0.03."""
    result = _memory("eval", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["set"]["queries"] >= 300 and data["set"]["documents"] >= 5000
    modes = data["modes"]
    assert set(modes) == {"hybrid", "vector", "keyword"}
    for m in modes.values():
        assert 0.0 <= m["ndcg_at_10"] <= 1.0 and 0.0 <= m["recall_at_100"] <= 1.0
        assert set(m["by_kind"]) == {"keyword", "mixed", "paraphrase"}
    assert modes["keyword"]["ndcg_at_10"] < 0.6
    best_single = max(modes["vector"]["ndcg_at_10"], modes["keyword"]["ndcg_at_10"])
    assert modes["hybrid"]["ndcg_at_10"] >= best_single + 0.03
    assert data["defaults"] == {"fusion": "weighted 0.6 zscore", "candidates": 100,
                                "stopwords": "english"}


def test_eval_table_on_a_set_of_your_own(tmp_path: Path) -> None:
    docs = [{"id": "a", "text": "Error E4012 on the Kestrel router: renew the DHCP lease."},
            {"id": "b", "text": "Sourdough bread needs a starter fed every day."},
            {"id": "c", "text": "Prune tomato side shoots weekly."}]
    queries = [{"id": "q1", "text": "E4012", "kind": "keyword", "domain": "it",
                "relevant": {"a": 2}},
               {"id": "q2", "text": "how do I keep a levain alive?",
                "kind": "paraphrase", "domain": "food", "relevant": {"b": 2}}]
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (tmp_path / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    result = _memory("eval", "--set", tmp_path, "-m", "keyword", "-m", "vector",
                     "--cache-dir", tmp_path / "cache", "--quiet")
    assert result.exit_code == 0, result.output
    assert "on 2 queries over 3 documents" in result.stdout
    assert re.search(r"keyword\s+0\.5000\s+0\.5000\s+0\.5000", result.stdout), result.stdout
    assert "vector" in result.stdout and "hybrid" not in result.stdout.split("defaults")[1]
    assert list((tmp_path / "cache").iterdir())  # the document vectors were cached
    sweep = _memory("eval", "--set", tmp_path, "--sweep", "--top", "3", "--json",
                    "--cache-dir", tmp_path / "cache")
    assert sweep.exit_code == 0, sweep.output
    data = json.loads(sweep.stdout)
    assert len(data["sweep"]) == 2 * (2 + 25 * 4) and data["best"]["config"].startswith("hybrid")


def test_eval_errors(tmp_path: Path) -> None:
    result = _memory("eval", "--set", tmp_path)
    assert result.exit_code == 1
    assert "corpus.jsonl is missing" in result.stderr
    result = _memory("eval", "--rerank-model", tmp_path / "nope")
    assert result.exit_code == 1
    assert "is not a directory" in result.stderr
