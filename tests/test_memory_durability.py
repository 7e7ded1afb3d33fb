"""Memory durability: re-ingest replaces a file's chunks atomically, add retries are safe.

Real LanceDB on disk, the real MiniLM embedder, and real ``kill -9`` of a process that is
part way through an ingest.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from actors._errors import DuplicateIdError, InvalidRecordError
from memory import (
    Embedder,
    HybridStore,
    MemoryAgent,
    MemoryConfig,
    MemoryService,
    chunk_text,
    shared_embedder,
)
from tests.conftest import wait_for

REPO = Path(__file__).resolve().parent.parent
CHUNK = 200

# The old version ends with a tail the new one lacks: "zebratail" and its topic (tides,
# lighthouses) appear nowhere else.
OLD = "\n\n".join(
    [f"Section {i}. The quarterly pump report lists valve part XJ-{9000 + i} as inspected "
     f"and cleaned by the morning crew." for i in range(30)]
    + ["Appendix. The zebratail lighthouse keeper logs ocean tides and storm warnings "
       "for coastal shipping every night."]
)
NEW = "\n\n".join(
    f"Section {i}. The quarterly pump report lists valve part XJ-{9000 + i} as replaced "
    "by the quokka maintenance team." for i in range(4)
)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return shared_embedder()


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    d = tmp_path / "docs"
    d.mkdir()
    return d


@pytest.fixture
def config(tmp_path: Path, docs: Path) -> MemoryConfig:
    return MemoryConfig(data_dir=tmp_path / "mem", ingest_roots=(docs,))


@pytest.fixture
def service(config: MemoryConfig, embedder: Embedder) -> Iterator[MemoryService]:
    svc = MemoryService(config, embedder=embedder)
    yield svc
    svc.close()


def _chunks(text: str) -> list[str]:
    return chunk_text(text, CHUNK, 0)


def _source_records(store: HybridStore, source: Path) -> dict[str, str]:
    """Id -> text of every record that came from ``source``."""
    recs = store.get(store.ids())
    return {r.id: r.text for r in recs if r.metadata.get("source") == str(source)}


def _expected(source: Path, text: str) -> dict[str, str]:
    return {f"{source}#{i}": c for i, c in enumerate(_chunks(text))}


def _assert_only_new(store: HybridStore, report: Path) -> None:
    assert _source_records(store, report) == _expected(report, NEW)
    assert store.search("zebratail", k=5, mode="keyword") == []
    for mode in ("vector", "hybrid"):
        hits = store.search("zebratail lighthouse keeper ocean tides", k=10, mode=mode)
        assert hits, mode
        assert all(h.text in _chunks(NEW) for h in hits
                   if h.metadata.get("source") == str(report)), mode
        assert {h.id for h in hits} <= set(store.ids()), mode
    assert [h.id for h in store.search("quokka", k=10, mode="keyword")] != []


# ------------------------------------------------------------- shorter re-ingest


def test_shorter_reingest_leaves_no_stale_chunk(service: MemoryService, docs: Path,
                                                config: MemoryConfig,
                                                embedder: Embedder) -> None:
    report = docs / "report.txt"
    other = docs / "other.md"
    report.write_text(OLD)
    other.write_text("# Other\n\nThe zebratail is also a kite design, kept apart.")
    service.ingest([docs], chunk_size=CHUNK, overlap=0)
    assert len(_source_records(service.store, report)) == len(_chunks(OLD)) > 20
    assert len(service.search("zebratail", k=5, mode="keyword")) == 2

    report.write_text(NEW)
    version = service.store.stats()["table_version"]
    ids = service.ingest([report], chunk_size=CHUNK, overlap=0)
    assert ids == list(_expected(report, NEW))
    # One commit: the upsert and the deletion of the old tail are one table version.
    assert service.store.stats()["table_version"] == version + 1
    assert service.count() == len(_chunks(NEW)) + 1
    assert [h.metadata["source"] for h in service.search("zebratail", k=5, mode="keyword")
            ] == [str(other)]  # the other file is untouched
    service.store.delete([f"{other}#0"])
    _assert_only_new(service.store, report)
    assert service.stats()["calls"]["ingest"] == 2
    # The keyword index on disk agrees once the store is reopened.
    service.close()
    with HybridStore(config, embedder) as reopened:
        _assert_only_new(reopened, report)


def test_an_emptied_file_loses_all_its_chunks(service: MemoryService, docs: Path) -> None:
    report = docs / "report.txt"
    report.write_text(OLD)
    service.ingest([report], chunk_size=CHUNK, overlap=0)
    report.write_text("")
    assert service.ingest([report], chunk_size=CHUNK, overlap=0) == []
    assert service.count() == 0
    assert service.search("zebratail", k=5, mode="keyword") == []


def test_records_added_by_hand_are_not_a_files_chunks(service: MemoryService,
                                                      docs: Path) -> None:
    report = docs / "report.txt"
    report.write_text(OLD)
    service.add([{"id": "note", "text": "zebratail sightings", "metadata": {"source": "x"}}])
    service.ingest([report], chunk_size=CHUNK, overlap=0)
    report.write_text(NEW)
    service.ingest([report], chunk_size=CHUNK, overlap=0)
    assert [h.id for h in service.search("zebratail", k=5, mode="keyword")] == ["note"]


def test_replace_sources_for_records_read_elsewhere(service: MemoryService) -> None:
    def recs(src: str, n: int, word: str) -> list[dict[str, object]]:
        return [{"id": f"{src}/{i}", "text": f"{word} part {i}", "metadata": {"source": src}}
                for i in range(n)]

    service.replace_sources(["a", "b"], recs("a", 5, "walrus") + recs("b", 3, "otter"))
    assert service.count() == 8
    assert service.replace_sources(["a"], recs("a", 2, "heron")) == (["a/0", "a/1"], 3)
    assert sorted(service.store.ids()) == ["a/0", "a/1", "b/0", "b/1", "b/2"]
    assert service.search("walrus", k=5, mode="keyword") == []
    assert service.replace_sources(["b"], []) == ([], 3)  # a source with no records left
    assert sorted(service.store.ids()) == ["a/0", "a/1"]
    with pytest.raises(InvalidRecordError):
        service.replace_sources("a", [])  # type: ignore[arg-type]


# ------------------------------------------------------------- kill -9 mid-ingest

_CRASHER = """
import os, sys, threading
from pathlib import Path
from memory import MemoryConfig, MemoryService
from memory._writes import WritePath

data_dir, docs, point, marker, new_text = sys.argv[1:6]
svc = MemoryService(MemoryConfig(data_dir=Path(data_dir), ingest_roots=(Path(docs),)))
report = Path(docs) / "report.txt"
svc.ingest([report], chunk_size={chunk}, overlap=0)
svc.flush()  # the keyword index on disk now describes the old version
report.write_text(Path(new_text).read_text())
real_commit = WritePath._commit

def mark():
    Path(marker + ".tmp").write_text(point)
    os.replace(marker + ".tmp", marker)

def commit_then_hang(self, action, fn):
    # The parent kills this process with SIGKILL at the chosen point of the commit.
    if point in ("before", "during"):
        mark()
    if point != "before":
        real_commit(self, action, fn)
    if point == "after":
        mark()
    threading.Event().wait()

WritePath._commit = commit_then_hang
svc.ingest([report], chunk_size={chunk}, overlap=0)
"""


@pytest.mark.parametrize("point", ["before", "during", "after"])
def test_kill_9_mid_ingest_leaves_the_file_all_old_or_all_new(
        point: str, tmp_path: Path, docs: Path, config: MemoryConfig,
        embedder: Embedder) -> None:
    report = docs / "report.txt"
    report.write_text(OLD)
    new_text = tmp_path / "new.txt"
    new_text.write_text(NEW)
    marker = tmp_path / "marker"
    log = (tmp_path / "crasher.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_CRASHER.format(chunk=CHUNK)),
         str(config.data_dir), str(docs), point, str(marker), str(new_text)],
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)},
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: marker.exists() or proc.poll() is not None, timeout_s=240,
                 interval_s=0.001)
        assert marker.exists(), (tmp_path / "crasher.log").read_text()[-3000:]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(30)
        log.close()
    assert proc.returncode == -signal.SIGKILL
    with HybridStore(config, embedder) as store:
        found = _source_records(store, report)
        old, new = _expected(report, OLD), _expected(report, NEW)
        assert found in (old, new), f"a half batch survived: {sorted(found)}"
        if point == "before":
            assert found == old
        if point == "after":
            assert found == new
        if found == new:
            _assert_only_new(store, report)
        else:
            assert store.search("quokka", k=5, mode="keyword") == []
            assert len(store.search("zebratail", k=5, mode="keyword")) == 1
        assert store.count() == len(found)


# ------------------------------------------------------------- add retried


def test_add_retried_with_the_same_content_is_a_no_op(service: MemoryService,
                                                      config: MemoryConfig,
                                                      embedder: Embedder) -> None:
    first = [{"id": "a", "text": "Pumps need seals.", "metadata": {"n": 1.5, "tags": ["x"]}},
             {"id": "b", "text": "Valves need springs.", "namespace": "parts",
              "created_at": 1_700_000_000.0}]
    assert service.add(first) == ["a", "b"]
    version = service.store.stats()["table_version"]
    assert service.add(first) == ["a", "b"]  # the retry after a lost reply
    assert service.store.stats()["table_version"] == version  # nothing written
    assert service.count() == 2
    # A retry mixed with new records adds only the new ones.
    assert service.add([first[1], {"id": "c", "text": "Gaskets need glue."}]) == ["b", "c"]
    assert service.count() == 3
    service.close()
    # Metadata read back from disk still compares equal.
    with MemoryService(config, embedder=embedder) as again:
        assert again.add(first) == ["a", "b"]
        assert again.count() == 3


@pytest.mark.parametrize("changed", [
    {"text": "Pumps need new seals."},
    {"metadata": {"n": 2}},
    {"metadata": {"n": 1.5, "tags": ["y"]}},
    {"namespace": "other"},
    {"created_at": 5.0},
])
def test_add_with_other_content_is_a_duplicate(service: MemoryService,
                                               changed: dict[str, object]) -> None:
    base = {"id": "a", "text": "Pumps need seals.", "metadata": {"n": 1.5, "tags": ["x"]}}
    service.add([base])
    with pytest.raises(DuplicateIdError) as info:
        service.add([{**base, **changed}, {"id": "fresh", "text": "never written"}])
    message = str(info.value)
    assert "'a'" in message and "upsert" in message and "another id" in message
    assert service.count() == 1  # all or nothing
    assert service.get(["a"])[0].text == base["text"]
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is DuplicateIdError and str(again) == message


def test_add_retried_through_the_actor_after_it_was_killed(make_runtime,
                                                           tmp_path: Path) -> None:
    rt = make_runtime()
    rt.spawn(MemoryAgent, name="memory", config={"data_dir": str(tmp_path / "mem")})
    docs = [{"id": "r1", "text": "Ray actors hold state."},
            {"id": "r2", "text": "LanceDB keeps tables on disk.", "metadata": {"k": [1]}}]
    assert rt.memory.add(docs) == ["r1", "r2"]
    # The reply was lost with the process: the caller cannot know the add landed.
    ray.kill(rt.agent_handle("memory"), no_restart=True)
    wait_for(lambda: rt.status().agent("memory").restarts == 1
             and rt.status().agent("memory").state == "running", timeout_s=90)
    assert rt.memory.add(docs) == ["r1", "r2"]
    assert rt.memory.count() == 2
    with pytest.raises(DuplicateIdError):
        rt.memory.add([{"id": "r1", "text": "Something else."}])
    assert json.loads(json.dumps(rt.memory.get(["r2"])[0].metadata)) == {"k": [1]}
