"""``raygent memory``: ingest files into, search and inspect raygent's memory store.

By default every command opens the store in this process (:class:`memory.MemoryService` on
``--data-dir``), so no cluster is needed. With ``--address`` the commands go through the
memory agent of a running system instead (``Runtime.attach().memory``), which is the only
way while that agent holds the store: a store directory has one owner at a time.

Expected failures end as one red ``error:`` line with exit code 1; usage mistakes exit 2.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Protocol

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from actors import AgentNotFoundError, RaygentError
from actors._errors import InvalidRecordError
from memory._config import MemoryConfig, default_data_dir
from memory._disk import MANIFEST
from memory._loaders import SUFFIXES, _expand, load_documents
from memory._records import DEFAULT_NAMESPACE, Hit, Record, coerce_records
from scenarios._connect import open_runtime
from scenarios.cli._edge import JsonOpt, console, edge, err_console, fail, print_json
from scenarios.cli._memory_eval import eval_command
from scenarios.cli._memory_render import hit_json, hits_table, stats_table

memory_app = typer.Typer(
    help="Ingest files into, search and inspect raygent's memory store (in this process, "
         "or through a running system's memory agent with --address); measure retrieval "
         "quality with eval.",
    no_args_is_help=True,
)
memory_app.command("eval")(eval_command)



class SearchMode(StrEnum):
    """How ``raygent memory search`` ranks records."""

    hybrid = "hybrid"
    vector = "vector"
    keyword = "keyword"


DataDirOpt = Annotated[Path | None, typer.Option(
    "--data-dir", show_default="$RAYGENT_MEMORY_DIR or ~/.raygent/memory",
    help="Store directory, opened in this process (no cluster needed).")]
AddressOpt = Annotated[str | None, typer.Option(
    "--address", show_default=False,
    help="Go through the memory agent of the raygent system on this Ray cluster (auto, "
         "host:port or ray://host:port) instead of opening --data-dir here.")]
RayNamespaceOpt = Annotated[str | None, typer.Option(
    "--ray-namespace", show_default="$RAYGENT_NAMESPACE or raygent",
    help="Ray namespace of the system (with --address).")]


# -- reaching a store ------------------------------------------------------------------------


class _MemoryAPI(Protocol):
    """What the commands use; ``MemoryService`` and ``MemoryClient`` both offer it."""

    def search(self, query: str, *, k: int = 5, mode: Any = "hybrid",
               namespace: str | None = None) -> list[Any]: ...

    def replace_sources(self, sources: Sequence[str], records: Sequence[Record]
                        ) -> tuple[list[str], int]: ...

    def count(self, namespace: str | None = None) -> int: ...

    def stats(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class _Target:
    """An open store and how to name it to the user."""

    api: _MemoryAPI
    where: str


def _quiet_model_load() -> None:
    # The model loader draws a tqdm bar on stderr, which would interleave with ours.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    with contextlib.suppress(ImportError):
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()


@contextlib.contextmanager
def _open(data_dir: Path | None, address: str | None, ray_namespace: str | None, *,
          create: bool) -> Iterator[_Target]:
    """Open the store in this process, or reach the running system's memory agent.

    Args:
        data_dir: Store directory for in-process use; None means the default one.
        address: Ray cluster of a running system; None opens ``data_dir`` here.
        ray_namespace: The system's Ray namespace (with ``address``).
        create: Create a store that does not exist yet (ingest); otherwise that is an error,
            so that a mistyped ``--data-dir`` does not leave an empty store behind.

    Yields:
        The target; the store is closed (or Ray disconnected) afterwards.

    Raises:
        RaygentError: If there is no store, or the system or its memory agent is missing.
    """
    if address is not None:
        if data_dir is not None:
            fail("give either --data-dir (a store opened here) or --address (the running "
                  "system's memory agent, whose store directory is its own), not both", code=2)
        runtime = open_runtime(address, ray_namespace)
        try:
            client = runtime.memory
            where = f"memory agent {client.name!r} (Ray namespace {client.namespace!r})"
            try:
                yield _Target(client, where)
            except AgentNotFoundError:
                raise RaygentError(
                    f"the system in Ray namespace {client.namespace!r} has no memory agent: "
                    "spawn memory.MemoryAgent named 'memory' there, or drop --address to "
                    "open a store in this process") from None
        finally:
            runtime.disconnect()
        return
    path = (data_dir.expanduser() if data_dir is not None else default_data_dir()).absolute()
    if not create and not (path / MANIFEST).exists():
        raise RaygentError(f"no memory store in {path}: ingest files first with "
                           f"`raygent memory ingest PATH --data-dir {path}`")
    from memory._service import MemoryService

    _quiet_model_load()
    with err_console.status("loading the embedding model and the store..."):
        service = MemoryService(MemoryConfig(data_dir=path))
    try:
        yield _Target(service, str(path))
    finally:
        with err_console.status("saving the store..."):
            service.close()


# -- ingest ----------------------------------------------------------------------------------


@dataclass
class _FileRecords:
    path: Path
    records: list[Record]


def _files(paths: Sequence[Path]) -> list[tuple[Path, bool]]:
    """Expand paths into unique files, each with whether it was named explicitly."""
    seen: set[Path] = set()
    out: list[tuple[Path, bool]] = []
    for raw in paths:
        # Same walk (suffixes, hidden entries) and errors as the loader itself.
        found = _expand([raw])
        if raw.expanduser().is_dir() and not found:
            raise InvalidRecordError(
                f"{raw}: no {', '.join(sorted(SUFFIXES))} files in this directory")
        for f in found:
            key = f.resolve()
            if key not in seen:  # a file named twice would repeat its ids in one batch
                seen.add(key)
                out.append((f, not raw.expanduser().is_dir()))
    return out


def _load(paths: Sequence[Path], *, chunk_size: int | None, overlap: int, namespace: str,
          max_text_chars: int) -> tuple[list[_FileRecords], list[Path]]:
    """Read and validate every record before anything is written.

    Args:
        paths: Files and directories, as given on the command line.
        chunk_size: Chunk length in characters, or None for whole documents.
        overlap: Characters shared by consecutive chunks.
        namespace: Namespace of records that do not name their own.
        max_text_chars: Longest record text the store accepts.

    Returns:
        The files with their records, and the empty files skipped in directories.

    Raises:
        InvalidRecordError: For a missing path, an unsupported or empty file, a bad record
            or an id produced twice.
    """
    loaded: list[_FileRecords] = []
    skipped: list[Path] = []
    origin: dict[str, Path] = {}
    for path, explicit in _files(paths):
        records = load_documents([path], chunk_size=chunk_size, overlap=overlap,
                                 namespace=namespace)
        if not records:
            if explicit:
                raise InvalidRecordError(f"{path}: file is empty, nothing to ingest")
            skipped.append(path)  # an empty placeholder in a tree should not stop the rest
            continue
        try:
            coerce_records(records, max_text_chars=max_text_chars)
        except InvalidRecordError as exc:
            raise InvalidRecordError(f"{path}: {exc.message}") from None
        for r in records:
            first = origin.setdefault(r.id, path)
            if first is not path:
                raise InvalidRecordError(
                    f"record id {r.id!r} comes from both {first} and {path}: ids must be "
                    "unique within one ingest")
        loaded.append(_FileRecords(path, records))
    if not loaded:
        raise InvalidRecordError(f"nothing to ingest: every file is empty ({skipped[0]}...)")
    return loaded, skipped


def _batches(files: list[_FileRecords], size: int
             ) -> Iterator[tuple[list[Record], int]]:
    """Pack whole consecutive files into batches of about ``size`` records.

    A file is never split: each batch replaces its files' records in one commit, so a
    re-ingested file is never half old, half new. Packing small files together keeps the
    number of LanceDB commits (table versions) low; a file larger than ``size`` is a batch
    of its own.

    Yields:
        The batch, and the index in ``files`` of its last file.
    """
    batch: list[Record] = []
    for i, f in enumerate(files):
        if batch and len(batch) + len(f.records) > size:
            yield batch, i - 1
            batch = []
        batch.extend(f.records)
    if batch:
        yield batch, len(files) - 1


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _short(path: Path, width: int = 48) -> str:
    text = str(path)
    return text if len(text) <= width else "..." + text[-(width - 3):]


@memory_app.command("ingest")
@edge
def ingest(
    paths: Annotated[list[Path], typer.Argument(
        help=".txt, .md or .jsonl files, or directories to walk for them.",
        show_default=False)],
    data_dir: DataDirOpt = None,
    namespace: Annotated[str, typer.Option(
        "--namespace", help="Memory namespace of records that do not name their own.")
    ] = DEFAULT_NAMESPACE,
    chunk_size: Annotated[int, typer.Option(
        "--chunk-size", min=0,
        help="Split texts into chunks of about this many characters; 0 keeps one record "
             "per document (or .jsonl line).")] = 1000,
    overlap: Annotated[int, typer.Option(
        "--overlap", min=0, help="Characters shared by consecutive chunks.")] = 200,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1,
        help="Records per write; each write is all or nothing.")] = 256,
    address: AddressOpt = None,
    ray_namespace: RayNamespaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest files into memory (re-ingesting a file replaces its records).

    All files are read and checked first: a bad path, file or .jsonl line writes nothing.
    """
    if chunk_size and overlap >= chunk_size:
        fail(f"--overlap ({overlap}) must be smaller than --chunk-size ({chunk_size})",
              code=2)
    t0 = time.perf_counter()
    max_chars = MemoryConfig().max_text_chars
    # Checked before the store opens: a typo should not cost a model load.
    files, skipped = _load(paths, chunk_size=chunk_size or None, overlap=overlap,
                           namespace=namespace, max_text_chars=max_chars)
    total = sum(len(f.records) for f in files)
    for path in skipped:
        err_console.print(Text(f"skipping empty file {path}", style="yellow"), soft_wrap=True)
    with _open(data_dir, address, ray_namespace, create=True) as target:
        before = target.api.count()
        written = removed = 0
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                      MofNCompleteColumn(), TextColumn("records"), TimeElapsedColumn(),
                      console=err_console, transient=True,
                      # Off the terminal (pipes, CI logs) a bar is noise: the summary stays.
                      disable=not err_console.is_terminal) as progress:
            task = progress.add_task("embedding", total=total)
            for batch, index in _batches(files, batch_size):
                progress.update(task, description=f"file {index + 1}/{len(files)} "
                                                  f"{_short(files[index].path)}")
                sources = sorted({str(r.metadata.get("source", "")) for r in batch})
                try:
                    ids, gone = target.api.replace_sources(sources, batch)
                    written += len(ids)
                    removed += gone
                except RaygentError as exc:
                    if not written:
                        raise
                    # Earlier batches are in the store: say so, and that a re-run is safe.
                    raise RaygentError(
                        f"{exc} (the first {written} records were written, this batch of "
                        f"{len(batch)} was not; ingesting again replaces them)") from None
                progress.advance(task, len(batch))
        after = target.api.count()
    elapsed = time.perf_counter() - t0
    namespaces = Counter(r.namespace for f in files for r in f.records)
    new = max(0, after - before + removed)
    if as_json:
        print_json({"written": written, "new": new, "replaced": written - new,
                     "removed": removed,
                     "files": {str(f.path): len(f.records) for f in files},
                     "skipped": [str(p) for p in skipped], "namespaces": dict(namespaces),
                     "store": target.where, "seconds": round(elapsed, 3)})
        return
    per_ns = ", ".join(f"{ns} {n}" for ns, n in sorted(namespaces.items()))
    console.print(Text.assemble(
        "wrote ", (_plural(written, "record"), "bold green"),
        f" from {_plural(len(files), 'file')} ({new} new, {written - new} replaced"
        f"{f', {removed} old chunks removed' if removed else ''}) in "
        f"{elapsed:.1f}s; namespaces: {per_ns}; store: {target.where}"), soft_wrap=True)


# -- search ----------------------------------------------------------------------------------


@memory_app.command("search")
@edge
def search(
    query: Annotated[str, typer.Argument(help="What to look for, in natural language.",
                                         show_default=False)],
    mode: Annotated[SearchMode, typer.Option(
        "--mode", "-m", case_sensitive=False,
        help="hybrid fuses vector and keyword search.")] = SearchMode.hybrid,
    k: Annotated[int, typer.Option("-k", "--top", min=1, help="Number of hits.")] = 5,
    namespace: Annotated[str | None, typer.Option(
        "--namespace", show_default="all", help="Search one memory namespace only.")
    ] = None,
    data_dir: DataDirOpt = None,
    address: AddressOpt = None,
    ray_namespace: RayNamespaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search memory and show why each hit ranked where it did."""
    if not query.strip():
        fail("the query is empty: give some words to search for", code=2)
    with _open(data_dir, address, ray_namespace, create=False) as target:
        t0 = time.perf_counter()
        hits: list[Hit] = target.api.search(query, k=k, mode=mode.value, namespace=namespace)
        elapsed_ms = (time.perf_counter() - t0) * 1000
    if as_json:
        print_json({"query": query, "mode": mode.value, "k": k, "namespace": namespace,
                     "store": target.where, "ms": round(elapsed_ms, 3),
                     "hits": [hit_json(i, h) for i, h in enumerate(hits, start=1)]})
        return
    scope = f", namespace {namespace!r}" if namespace else ""
    title = Text.assemble(
        (_plural(len(hits), "hit"), "bold"),
        f" for {query!r} ({mode.value}, k={k}{scope}, {elapsed_ms:.0f} ms)")
    # A line of its own rather than the table's title, which would wrap at the table's width.
    console.print(title, soft_wrap=True)
    if hits:
        console.print(hits_table(hits, mode=mode.value))


# -- stats -----------------------------------------------------------------------------------


@memory_app.command("stats")
@edge
def stats(data_dir: DataDirOpt = None, address: AddressOpt = None,
          ray_namespace: RayNamespaceOpt = None, as_json: JsonOpt = False) -> None:
    """Show how many records memory holds, per namespace, and how it is set up."""
    with _open(data_dir, address, ray_namespace, create=False) as target:
        data = target.api.stats()
    if as_json:
        print_json(data)
    else:
        console.print(Text.assemble(("memory store: ", "bold"), target.where), soft_wrap=True)
        console.print(stats_table(data, where=target.where))
