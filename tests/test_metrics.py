"""The recording logic of runtime metrics, without Ray: a recorder that keeps what it is told
(our own ``Metrics`` protocol), a real supervisor with local agents, a real SQLite commit;
and the Grafana dashboard, checked against the metric names the code defines."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any

from actors import AgentSpec, RetryPolicy, RuntimeConfig, SupervisorCore
from actors import _metrics as mx
from actors._errors import JournalError
from actors._group_commit import GroupCommit
from actors._sampler import SUPERVISOR, Sample, record, sample_forever, time_commits
from actors._transport import make_envelope, reply_value
from actors.testing import LocalBackend
from tests.agents import BadRequest, LogAgent, Record
from tests.conftest import until

DASHBOARD = Path(__file__).resolve().parent.parent / "docs" / "grafana" / "raygent.json"


class Recorded:
    """A ``Metrics`` that keeps every call, keyed by (name, agent[, kind])."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], float] = defaultdict(float)
        self.gauges: dict[tuple[str, str], float] = {}
        self.observed: dict[tuple[str, str, str], list[float]] = defaultdict(list)

    def count(self, name: str, value: float, agent: str) -> None:
        self.counts[name, agent] += value

    def gauge(self, name: str, value: float, agent: str) -> None:
        self.gauges[name, agent] = value

    def observe(self, name: str, value: float, agent: str, kind: str = "") -> None:
        self.observed[name, agent, kind].append(value)


def _env(payload: Any) -> Any:
    return make_envelope(sender="driver", recipient="log", payload=payload,
                         max_bytes=1 << 20, expects_reply=True)


def test_the_supervisor_records_counts_and_handler_latency_per_kind() -> None:
    rec = Recorded()
    config = RuntimeConfig(health_interval_s=0.05, health_timeout_s=2.0,
                           retry=RetryPolicy(max_attempts=1, backoff_s=0.0, max_backoff_s=0.0))

    async def go() -> None:
        backend = LocalBackend()
        core = SupervisorCore(config, backend, metrics=rec)
        backend.reconnect(core)
        await core.start()
        try:
            await core.spawn(AgentSpec(name="log", cls=LogAgent,
                                       accepted=LogAgent.accepted_kinds(),
                                       has_snapshot=LogAgent.has_snapshot()))
            for n in range(3):
                assert reply_value(await core.ask(_env(Record(n=n, sleep_s=0.01)), 10)) == n
            bad = await core.ask(_env(BadRequest()), 10)
            assert isinstance(bad, Exception) or bad is not None
        finally:
            await core.shutdown(2.0)

    asyncio.run(go())
    kind = _env(Record(n=0)).kind
    times = rec.observed[mx.HANDLER_LATENCY, "log", kind]
    assert len(times) == 3 and all(t >= 0.01 for t in times)  # each slept 10 ms
    assert rec.observed[mx.HANDLER_LATENCY, "log", _env(BadRequest()).kind]  # failures too
    assert rec.counts[mx.ROUTED, "log"] == 4
    assert rec.counts[mx.HANDLED, "log"] == 3
    assert rec.counts[mx.FAILED, "log"] >= 1
    assert rec.observed[mx.BATCH_LATENCY, "log", ""]
    assert (mx.MAILBOX_DEPTH, "log") in rec.gauges


def test_a_sample_sets_every_gauge() -> None:
    rec = Recorded()
    record(rec, Sample(depths={"a": 3, "b": 0}, dead=2, pending_writes=5))
    assert rec.gauges == {(mx.MAILBOX_DEPTH, "a"): 3, (mx.MAILBOX_DEPTH, "b"): 0,
                          (mx.DLQ_SIZE, SUPERVISOR): 2, (mx.JOURNAL_PENDING, SUPERVISOR): 5}


def test_the_sampler_keeps_going_after_a_bad_reading() -> None:
    rec = Recorded()
    readings = iter([JournalError("j", "closed"), Sample(dead=1)])

    def read() -> Sample:
        got = next(readings, Sample(dead=1))
        if isinstance(got, Exception):
            raise got
        return got

    async def go() -> None:
        task = asyncio.create_task(sample_forever(read, rec, interval_s=0.01))
        await until(lambda: (mx.DLQ_SIZE, SUPERVISOR) in rec.gauges)
        task.cancel()

    asyncio.run(go())
    assert rec.gauges[mx.DLQ_SIZE, SUPERVISOR] == 1


def test_group_commits_are_timed_and_the_backlog_counts_uncommitted_writes(
        tmp_path: Path) -> None:
    rec = Recorded()
    db = sqlite3.connect(tmp_path / "j.sqlite3", check_same_thread=False)
    db.execute("CREATE TABLE t (x INTEGER)")
    gc = GroupCommit(db, lambda e: JournalError("j", str(e)))
    time_commits(gc, rec)
    gc.queue("INSERT INTO t VALUES (?)", [(1,), (2,)])
    gc.queue("INSERT INTO t VALUES (?)", [(3,)])
    assert gc.backlog == 2
    asyncio.run(gc.flush())
    assert gc.backlog == 0
    assert db.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 3
    assert len(rec.observed[mx.JOURNAL_COMMIT_LATENCY, SUPERVISOR, ""]) == 1
    gc.commit()  # nothing queued: no commit, nothing timed
    assert len(rec.observed[mx.JOURNAL_COMMIT_LATENCY, SUPERVISOR, ""]) == 1


def test_the_dashboard_is_valid_json_and_shows_every_metric_and_no_other() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert any(v["type"] == "datasource" and v["query"] == "prometheus"
               for v in board["templating"]["list"])
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    used = {m for e in exprs for m in re.findall(r"\bray_raygent_[a-z_]+", e)}
    known = {e for n in mx.ALL for e in mx.exported(n)}
    assert used <= known, sorted(used - known)
    for name in mx.ALL:
        assert used & set(mx.exported(name)), f"no panel shows {name}"
    for p in board["panels"]:
        for t in p.get("targets", []):
            assert p["datasource"]["uid"] == "${datasource}"
            assert t["expr"].count("(") == t["expr"].count(")")
