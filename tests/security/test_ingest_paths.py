"""Memory ingest reads only regular UTF-8 text files under its configured roots.

Hostile paths (``../``, symlinks out, /proc, a 1 GB sparse file, binary files, FIFOs,
directories hiding any of these) are each refused with a typed, picklable error that says
which path, why and what to do; the store is unchanged and a good file still ingests. The
last test goes through the real memory actor on Ray.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import PathNotAllowedError, RaygentError, SecurityError
from actors._errors import ConfigError, InvalidRecordError
from memory import Embedder, MemoryAgent, MemoryConfig, MemoryService, shared_embedder
from memory._ingest import IngestPolicy
from tests.conftest import wait_for

CANARY = "TOPSECRET-canary-7731"


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return shared_embedder()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``docs/`` (the allowed root) with one good file, and ``outside/`` with a secret."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "good.md").write_text("# Pumps\n\nValve XJ-9027 was replaced.")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text(f"password {CANARY}")
    return tmp_path


@pytest.fixture
def service(tree: Path, embedder: Embedder) -> Iterator[MemoryService]:
    cfg = MemoryConfig(data_dir=tree / "mem", ingest_roots=(tree / "docs",))
    svc = MemoryService(cfg, embedder=embedder)
    svc.ingest([tree / "docs" / "good.md"])
    yield svc
    svc.close()


def _symlink(link: Path, target: Path) -> Path:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    return link


def _traversal(t: Path) -> str:
    return f"{t}/docs/../outside/secret.txt"


def _symlink_out(t: Path) -> str:
    return str(_symlink(t / "docs" / "notes.txt", t / "outside" / "secret.txt"))


def _sparse(t: Path) -> str:
    with open(t / "docs" / "huge.txt", "wb") as fh:
        fh.truncate(1 << 30)  # 1 GB of holes: no disk used, but 1 GB to read
    return str(t / "docs" / "huge.txt")


def _nul(t: Path) -> str:
    (t / "docs" / "blob.txt").write_bytes(b"looks like text\x00\x01\x02" * 100)
    return str(t / "docs" / "blob.txt")


def _latin1(t: Path) -> str:
    (t / "docs" / "latin.md").write_bytes("café crème à la carte ".encode("latin-1") * 50)
    return str(t / "docs" / "latin.md")


def _fifo(t: Path) -> str:
    os.mkfifo(t / "docs" / "pipe.txt")  # opening it for reading would block forever
    return str(t / "docs" / "pipe.txt")


def _dir_with_symlink_out(t: Path) -> str:
    (t / "docs" / "sub").mkdir()
    (t / "docs" / "sub" / "fine.txt").write_text("an ordinary note")
    _symlink(t / "docs" / "sub" / "evil.md", t / "outside" / "secret.txt")
    return str(t / "docs" / "sub")


def _dir_with_dir_symlink_out(t: Path) -> str:
    _symlink(t / "docs" / "sub" / "escape", t / "outside")
    return str(t / "docs")


def _dir_with_fifo(t: Path) -> str:
    (t / "docs" / "sub").mkdir()
    os.mkfifo(t / "docs" / "sub" / "queue.jsonl")
    return str(t / "docs" / "sub")


# (make the path, words the reason must contain, the path the error must name)
CASES: dict[str, tuple[Callable[[Path], str], str, str]] = {
    "dotdot": (_traversal, "resolves to", "outside/secret.txt"),
    "symlink-out": (_symlink_out, "outside the allowed roots", "notes.txt"),
    "proc-environ": (lambda t: "/proc/self/environ", "under /proc", "/proc/self/environ"),
    "sys": (lambda t: "/sys/kernel", "under /sys", "/sys/kernel"),
    "dev-zero": (lambda t: "/dev/zero", "under /dev", "/dev/zero"),
    "sparse-1gb": (_sparse, "over the limit", "huge.txt"),
    "nul-bytes": (_nul, "NUL byte", "blob.txt"),
    "not-utf8": (_latin1, "not UTF-8", "latin.md"),
    "fifo": (_fifo, "a FIFO", "pipe.txt"),
    "dir-symlink-file-out": (_dir_with_symlink_out, "outside the allowed roots", "evil.md"),
    "dir-symlink-dir-out": (_dir_with_dir_symlink_out, "outside the allowed roots", "escape"),
    "dir-fifo": (_dir_with_fifo, "a FIFO", "queue.jsonl"),
    "nul-in-name": (lambda t: f"{t}/docs/good.md\x00.txt", "NUL character", "good.md"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_path_is_refused_and_changes_nothing(case: str, tree: Path,
                                                       service: MemoryService) -> None:
    make, reason, named = CASES[case]
    path = make(tree)
    before = (service.count(), service.store.stats()["table_version"], service.store.ids())
    with pytest.raises(PathNotAllowedError) as info:
        service.ingest([path])
    err = info.value
    assert isinstance(err, SecurityError) and isinstance(err, RaygentError)
    assert not err.retryable
    assert named in err.path and named in str(err) and reason in str(err)
    assert "MemoryConfig" in str(err) or "ingest" in str(err)  # says what to do
    assert CANARY not in str(err)
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is PathNotAllowedError and str(again) == str(err)
    assert (service.count(), service.store.stats()["table_version"],
            service.store.ids()) == before
    assert service.search(CANARY, k=3, mode="keyword") == []
    assert service.stats()["errors"] == {"ingest": 1}
    # Nothing else is affected: a good file still ingests.
    (tree / "docs" / "later.txt").write_text("The lighthouse keeper logs the tides.")
    assert service.ingest([tree / "docs" / "later.txt"]) == [
        f"{os.path.realpath(tree / 'docs' / 'later.txt')}#0"]
    assert service.search("lighthouse tides", k=1, mode="keyword")[0].text.startswith("The")


def _rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def test_a_1gb_sparse_file_is_refused_without_being_read(tree: Path,
                                                        service: MemoryService) -> None:
    path = _sparse(tree)
    before = _rchar()
    with pytest.raises(PathNotAllowedError, match="1,073,741,824 bytes"):
        service.ingest([path])
    assert _rchar() - before < 1 << 20  # judged by its size, not by reading it


def test_a_call_is_all_or_nothing(tree: Path, service: MemoryService) -> None:
    (tree / "docs" / "new.txt").write_text("A brand new quokka note.")
    before = service.count()
    with pytest.raises(PathNotAllowedError):
        service.ingest([tree / "docs" / "new.txt", _symlink_out(tree)])
    assert service.count() == before
    assert service.search("quokka", k=1, mode="keyword") == []


def test_symlinks_and_dotdot_inside_the_roots_are_fine(tree: Path,
                                                       service: MemoryService) -> None:
    docs = tree / "docs"
    (docs / "deep").mkdir()
    (docs / "deep" / "real.txt").write_text("Gaskets need glue.")
    link = _symlink(docs / "alias.txt", docs / "deep" / "real.txt")
    ids = service.ingest([link, f"{docs}/deep/../deep/real.txt"])
    # One file, however it is named: ids and sources use its real path.
    real = os.path.realpath(docs / "deep" / "real.txt")
    assert ids == [f"{real}#0"]
    assert service.get(ids)[0].metadata["source"] == real


def test_the_data_dir_is_a_root_by_default(tmp_path: Path, embedder: Embedder) -> None:
    cfg = MemoryConfig(data_dir=tmp_path / "mem")
    with MemoryService(cfg, embedder=embedder) as svc:
        (tmp_path / "mem" / "inbox.txt").write_text("Dropped into the data directory.")
        (tmp_path / "elsewhere.txt").write_text("Not under any root.")
        assert len(svc.ingest([tmp_path / "mem" / "inbox.txt"])) == 1
        with pytest.raises(PathNotAllowedError,
                           match=r"add its directory to MemoryConfig\.ingest_roots"):
            svc.ingest([tmp_path / "elsewhere.txt"])
        # Missing paths and unsupported types keep their own errors (inside the roots).
        with pytest.raises(InvalidRecordError, match="no such file"):
            svc.ingest([tmp_path / "mem" / "absent.txt"])
        (tmp_path / "mem" / "image.png").write_bytes(b"\x89PNG")
        with pytest.raises(InvalidRecordError, match="unsupported file type"):
            svc.ingest([tmp_path / "mem" / "image.png"])


@pytest.mark.parametrize("bad", [{"ingest_roots": "/data"}, {"ingest_roots": [""]},
                                 {"ingest_roots": [3]}, {"max_ingest_bytes": 0},
                                 {"max_ingest_bytes": True}])
def test_ingest_settings_are_checked(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        MemoryConfig(**bad)  # type: ignore[arg-type]


def test_the_launcher_lets_a_scenario_read_its_own_directory(tmp_path: Path) -> None:
    from scenarios import builtin_scenarios
    from scenarios._launch import _memory_config, with_overrides
    from scenarios._spec import DATA_DIR

    spec = builtin_scenarios()["rag-qa"].spec
    assert spec is not None
    config = _memory_config(spec)
    assert config["ingest_roots"] == [str(Path(spec.source).parent), str(DATA_DIR)]
    policy = IngestPolicy.from_config(MemoryConfig(**config))
    paths = [spec.resolve_path(p) for p in spec.memory["ingest"]["paths"]]  # type: ignore[index]
    assert [str(p) for p in policy.files(paths)] == [os.path.realpath(p) for p in paths]
    with pytest.raises(PathNotAllowedError):
        policy.files([os.path.join(os.path.dirname(spec.source), "..", "..", "pyproject.toml")])
    # Documents named with --docs by the user who runs the system are allowed too.
    (tmp_path / "mine.md").write_text("# Mine")
    spec2 = with_overrides(spec, docs=[str(tmp_path / "mine.md")])
    policy2 = IngestPolicy.from_config(MemoryConfig(**_memory_config(spec2)))
    assert policy2.files([tmp_path / "mine.md"]) == [Path(os.path.realpath(tmp_path / "mine.md"))]


def test_the_memory_actor_refuses_with_the_typed_error_and_keeps_serving(
        make_runtime, tree: Path) -> None:
    rt = make_runtime()
    rt.spawn(MemoryAgent, name="memory", config={
        "data_dir": str(tree / "mem"), "ingest_roots": [str(tree / "docs")]})
    for path in (_traversal(tree), "/proc/self/environ", _symlink_out(tree), _sparse(tree)):
        with pytest.raises(PathNotAllowedError) as info:
            rt.memory.call("ingest", [path])
        assert info.value.path == path and CANARY not in str(info.value)
    assert rt.memory.count() == 0
    ids = rt.memory.call("ingest", [str(tree / "docs" / "good.md")])
    assert len(ids) == 1
    assert rt.memory.search("XJ-9027", k=1, mode="keyword")[0].id == ids[0]
    status = rt.status().agent("memory")
    assert status.state == "running" and status.restarts == 0
    wait_for(lambda: rt.memory.stats()["errors"].get("ingest") == 4, timeout_s=10)


SEGMENTS = ["..", ".", "", "docs", "sub", "deeper", "outside", "a.txt", "b.md", "c.jsonl",
            "s.txt", "in_link.txt", "out_link.txt", "out_dir", "loop.txt", "missing.md"]


@pytest.fixture(scope="module")
def maze(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tree with links in, links out, a loop and a secret next door."""
    root = tmp_path_factory.mktemp("maze")
    docs = root / "docs"
    (docs / "sub" / "deeper").mkdir(parents=True)
    (docs / "a.txt").write_text("alpha")
    (docs / "sub" / "b.md").write_text("# Beta")
    (docs / "sub" / "deeper" / "c.jsonl").write_text('{"text": "gamma"}\n')
    (root / "outside").mkdir()
    (root / "outside" / "s.txt").write_text(CANARY)
    (docs / "in_link.txt").symlink_to(docs / "sub" / "b.md")
    (docs / "sub" / "out_link.txt").symlink_to(root / "outside" / "s.txt")
    (docs / "out_dir").symlink_to(root / "outside")
    (docs / "sub" / "loop.txt").symlink_to(docs / "sub" / "loop.txt")
    return root


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=6))
def test_whatever_the_path_only_regular_files_under_the_roots_come_back(
        maze: Path, parts: list[str]) -> None:
    docs = os.path.realpath(maze / "docs")
    policy = IngestPolicy(roots=(docs,), max_bytes=1 << 20)
    raw = str(maze / "docs") + "/" + "/".join(parts)
    try:
        files = policy.files([raw])
    except (PathNotAllowedError, InvalidRecordError) as exc:
        assert CANARY not in str(exc)
        if isinstance(exc, PathNotAllowedError):
            assert exc.path.startswith(str(maze))
        return
    assert os.path.realpath(raw).startswith(docs + "/") or os.path.realpath(raw) == docs
    for f in files:
        assert str(f) == os.path.realpath(f) and f.is_file()
        assert str(f).startswith(docs + "/")
        assert CANARY not in policy.read(f)
