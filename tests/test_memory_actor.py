"""The memory actor: supervised, shared by agents, durable across a kill."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
import ray

from actors import Agent, AgentNotFoundError, MessageContext, handles, message
from actors._errors import DuplicateIdError, InvalidQueryError
from memory import MemoryAgent
from memory.messages import Recall, Remember
from tests.conftest import wait_for


@message(kind="test.Lookup")
@dataclass(frozen=True, kw_only=True)
class Lookup:
    query: str


class Librarian(Agent):
    """Answers with the id of the best memory hit, via ``self.memory``."""

    @handles
    async def on_lookup(self, msg: Lookup, ctx: MessageContext) -> str:
        hits = await self.memory.search_async(msg.query, k=1)
        return hits[0].id if hits else ""


DOCS = [
    {"id": "ray", "text": "Ray actors are stateful workers that process method calls."},
    {"id": "lance", "text": "LanceDB keeps vector tables in columnar files on local disk."},
    {"id": "bm25", "text": "BM25 ranks documents by term frequency and inverse document "
                           "frequency; code XJ-9027 marks the reference implementation."},
]


@pytest.fixture
def memory_runtime(make_runtime, tmp_path):
    rt = make_runtime()
    rt.spawn(MemoryAgent, name="memory", config={"data_dir": str(tmp_path / "mem")})
    return rt


def test_agents_and_the_driver_share_one_memory(memory_runtime):
    rt = memory_runtime
    assert rt.memory.add(DOCS) == ["ray", "lance", "bm25"]
    rt.spawn(Librarian, name="librarian")
    assert rt.ask("librarian", Lookup(query="XJ-9027")) == "bm25"
    assert rt.ask("librarian", Lookup(query="where are vectors stored on disk?")) == "lance"
    # The mailbox path works too, ordered with other messages.
    assert rt.ask("memory", Remember(records=({"id": "new", "text": "A fresh note."},))) == [
        "new"]
    hits = rt.ask("memory", Recall(query="fresh note", k=1))
    assert hits[0].id == "new"
    assert rt.memory.count() == 4


def test_bad_input_is_a_typed_error_and_harms_nothing(memory_runtime):
    rt = memory_runtime
    rt.memory.add(DOCS)
    with pytest.raises(DuplicateIdError):
        rt.memory.add([{"id": "ray", "text": "again"}, {"id": "other", "text": "x"}])
    with pytest.raises(InvalidQueryError):
        rt.memory.search("anything", k=0)
    assert rt.memory.count() == 3
    assert rt.memory.get(["ray"])[0].text == DOCS[0]["text"]


def test_memory_survives_a_kill_and_is_health_checked(memory_runtime):
    rt = memory_runtime
    rt.memory.add(DOCS)
    before = [h.id for h in rt.memory.search("vector tables on disk", k=3)]
    ray.kill(rt.agent_handle("memory"), no_restart=True)
    wait_for(lambda: rt.status().agent("memory").restarts == 1
             and rt.status().agent("memory").state == "running", timeout_s=60)
    assert rt.memory.count() == 3
    assert [h.id for h in rt.memory.search("vector tables on disk", k=3)] == before


def test_concurrent_writers_and_readers_lose_nothing(memory_runtime):
    rt = memory_runtime
    rt.memory.add(DOCS)
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for i in range(5):
                rt.memory.add([{"id": f"w{w}-{i}", "text": f"note {i} from writer {w}"}])
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(10):
                assert rt.memory.search("Ray actors", k=1)[0].id == "ray"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert rt.memory.count() == 3 + 15


def test_no_memory_actor_is_a_clear_error(runtime):
    with pytest.raises(AgentNotFoundError):
        runtime.memory.search("x")
