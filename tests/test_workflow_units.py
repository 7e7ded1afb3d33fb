"""The workflow's parts without Ray: conditions, templates, signatures, the gate, flow
files, secrets, errors. Property tests (hypothesis) for the parsers."""

from __future__ import annotations

import asyncio
import pickle
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import ConfigError
from scenarios.workflow import (
    ConditionError,
    CRMError,
    EmailError,
    EventLogError,
    SecretError,
    SecretRef,
    SignatureError,
    TemplateError,
    compile_condition,
    parse_flow,
    sign,
    verify,
)
from scenarios.workflow._expr import (
    KEYWORDS,
    And,
    Compare,
    In,
    ListOf,
    Lit,
    Node,
    Not,
    Or,
    evaluate,
    parse,
    to_text,
)
from scenarios.workflow._expr import (
    Path as FieldPath,
)
from scenarios.workflow._gate import Rejected, check, parse_event, read_body
from scenarios.workflow._template import compile_template, render, render_text
from tests.workflow_support import BUNDLED

EVENT = {"id": "e1", "type": "order.created", "data": {
    "amount": 150, "ratio": 0.5, "tags": ["vip", "eu"], "customer": {"tier": "gold"},
    "items": [{"sku": "X-1"}], "odd-key": True, "none": None}}


# -- conditions -----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("data.amount >= 100 and data.customer.tier in ['gold', 'platinum']", True),
    ("data.amount > 150", False),
    ("not (type == 'refund' or data.items[0].sku == \"X-1\")", False),
    ("data['odd-key'] == true", True),
    ("$.id == 'e1'", True),
    ("'vip' in data.tags and 'us' not in data.tags", True),
    ("data.missing == null and data.none == null", True),
    ("data.missing.deeper > 1", False),  # a missing path is null; null orders with nothing
    ("1 == 1.0 and true != 1 and '1' != 1", True),
    ("'ord' in type", True),
    ("'tier' in data.customer", True),
    ("data.ratio < 1 and -2 < 0 and 1e2 == 100", True),
    ("'a' < 'b' and 'b' < 1", False),
    ("[1, 'a', null] == [1, 'a', null]", True),
    ("data.tags", True),
    ("not data.none", True),
])
def test_conditions_evaluate_over_the_event(text: str, expected: bool) -> None:
    assert compile_condition(text)(EVENT) is expected


@pytest.mark.parametrize(("text", "column"), [
    ("data.amount >", 13), ("a b", 3), ("a < b < c", 7), ("(((", None), ("'open", 1),
    ("1 +", 3), ("__import__('os')", None), ("a.b()", 4), ("", None), ("x in", None),
])
def test_malformed_conditions_raise_condition_error_with_a_column(text: str,
                                                                  column: int | None) -> None:
    with pytest.raises(ConditionError) as info:
        compile_condition(text)
    if column is not None:
        assert info.value.column == column
    assert "docs/workflow.md" in str(info.value)


def test_out_of_range_and_bad_escapes_are_errors_not_crashes() -> None:
    for text in ("1e999 == 1", "'\\q' == 'q'", "9" * 5000):
        with pytest.raises(ConditionError):
            parse(text)


# Trees the parser can produce: a property test prints them, parses the text back and
# compares trees and values (no Python eval anywhere in the loop).
names = st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=6).filter(
    lambda n: n not in KEYWORDS)
keys = st.one_of(names, st.text(max_size=6), st.integers(min_value=0, max_value=3))
literals = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**6, max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32), st.text(max_size=8))
leaves: st.SearchStrategy[Node] = st.one_of(
    literals.map(Lit),
    st.lists(keys, max_size=3).map(lambda p: FieldPath(tuple(p))))


def _extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.one_of(
        st.lists(children, max_size=3).map(lambda i: ListOf(tuple(i))),
        children.map(Not),
        st.lists(children, min_size=2, max_size=3).map(lambda o: And(tuple(o))),
        st.lists(children, min_size=2, max_size=3).map(lambda o: Or(tuple(o))),
        st.tuples(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), children, children
                  ).map(lambda t: Compare(*t)),
        st.tuples(children, children, st.booleans()).map(lambda t: In(*t)),
    )


trees = st.recursive(leaves, _extend, max_leaves=12)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-100, 100), st.text(max_size=4)),
    lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=4), c,
                                                                  max_size=3)),
    max_leaves=10)


@settings(max_examples=300, deadline=None)
@given(tree=trees, event=json_values)
def test_printed_trees_parse_back_to_the_same_tree_and_value(tree: Node, event: Any) -> None:
    text = to_text(tree)
    again = parse(text)
    assert again == tree, text
    assert evaluate(again, event) == evaluate(tree, event)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_any_text_parses_or_raises_condition_error(text: str) -> None:
    try:
        node = parse(text)
    except ConditionError:
        return
    evaluate(node, EVENT)  # whatever parsed evaluates without raising


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet="ab.[]'\"()=!<>0123456789 andortruefalsenul$", max_size=40),
       event=json_values)
def test_near_miss_syntax_never_escapes_the_error_type(text: str, event: Any) -> None:
    try:
        condition = compile_condition(text)
    except ConditionError:
        return
    assert condition(event) in (True, False)


# -- templates ------------------------------------------------------------------------

def test_templates_keep_types_fill_text_and_refuse_missing_fields() -> None:
    t = compile_template({"amount": "{{ data.amount }}", "text": "A {{ data.amount }} {{ id }}",
                          "list": ["{{ data.tags }}", 3], "none": "{{ data.none }}!"})
    assert render(t, EVENT) == {"amount": 150, "text": "A 150 e1",
                                "list": [["vip", "eu"], 3], "none": "!"}
    with pytest.raises(TemplateError, match=r"no field data\.gone"):
        render(compile_template("x {{ data.gone }}"), EVENT)
    with pytest.raises(TemplateError):
        compile_template("{{ data. }}")
    with pytest.raises(TemplateError, match="unbalanced"):
        compile_template("{{ data.amount }} }}")


def test_path_templates_escape_values_so_an_event_cannot_reach_another_resource() -> None:
    from urllib.parse import quote

    t = compile_template("/contacts/{{ data.customer.tier }}")
    evil = {"data": {"customer": {"tier": "../admin?x=1#"}}}
    assert render_text(t, evil, escape=lambda v: quote(v, safe="")) == \
        "/contacts/..%2Fadmin%3Fx%3D1%23"


# -- signatures and the gate -----------------------------------------------------------

def test_signature_round_trip_rotation_stale_and_tamper() -> None:
    body = b'{"id":"e1"}'
    header = sign(["old", "new"], body, timestamp=1_000)
    assert header.count("v1=") == 2
    assert verify(header, body, ["new"], tolerance_s=300, now=1_100) == 1_000
    assert verify(header, body, ["x", "old"], tolerance_s=300, now=1_100) == 1_000
    with pytest.raises(SignatureError, match="no signature matches"):
        verify(header, body + b" ", ["new"], tolerance_s=300, now=1_100)
    with pytest.raises(SignatureError, match="no signature matches"):
        verify(header, body, ["third"], tolerance_s=300, now=1_100)
    with pytest.raises(SignatureError, match="more than 300s"):
        verify(header, body, ["new"], tolerance_s=300, now=1_301)
    with pytest.raises(SignatureError, match="more than 300s"):
        verify(header, body, ["new"], tolerance_s=300, now=699)
    for bad in (None, "", "v1=abc", "t=abc,v1=" + "0" * 64, "t=1,t=2,v1=" + "0" * 64,
                "t=1000", "x" * 5000):
        with pytest.raises(SignatureError):
            verify(bad, body, ["new"], tolerance_s=300, now=1_000)


async def _chunks(parts: list[bytes], seen: list[int]) -> Any:
    for part in parts:
        seen.append(len(part))
        yield part


def test_the_size_limit_stops_reading_before_any_hmac() -> None:
    seen: list[int] = []
    # Declared too large: the body is never read.
    with pytest.raises(Rejected) as info:
        asyncio.run(read_body({"content-length": "1000"}, _chunks([b"x" * 1000], seen),
                              limit=100))
    assert info.value.status == 413 and seen == []
    # Streamed without a length: reading stops at the first chunk past the limit.
    with pytest.raises(Rejected) as info:
        asyncio.run(read_body({}, _chunks([b"x" * 60] * 10, seen), limit=100))
    assert info.value.status == 413 and seen == [60, 60]
    with pytest.raises(Rejected) as info:
        asyncio.run(read_body({"content-length": "-1"}, _chunks([], seen), limit=100))
    assert info.value.status == 400
    assert asyncio.run(read_body({"content-length": "3"}, _chunks([b"abc"], []), limit=3)) \
        == b"abc"


def test_bodies_must_be_json_objects_with_a_valid_event_id() -> None:
    path = FieldPath(("id",))
    assert parse_event(b'{"id": "e-1", "x": 1}', path) == ("e-1", {"id": "e-1", "x": 1})
    for body in (b"\xff\xfe", b"{", b"[1]", b'"s"', b'{"x": 1}', b'{"id": 5}',
                 b'{"id": ""}', b'{"id": "a b"}', b'{"id": "' + b"a" * 201 + b'"}',
                 b'{"id": "e", "v": NaN}', b"[" * 100_000):
        with pytest.raises(Rejected) as info:
            parse_event(body, path)
        assert info.value.status == 400, body[:20]
    body = b'{"id": "e"}'
    with pytest.raises(Rejected) as info:
        check({"raygent-signature": sign(["s"], body)}, body, secrets=["t"], tolerance_s=300,
              event_id_path=path)
    assert info.value.status == 401


# -- flow files -----------------------------------------------------------------------

def _bundled() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(BUNDLED.read_text(encoding="utf-8"))
    return data


def test_the_bundled_flow_is_valid() -> None:
    flow = parse_flow(_bundled(), source="bundled")
    assert flow.start == "big_order" and flow.roles() == (
        "webhook", "condition", "email", "event_log", "crm")
    assert flow.steps["big_order"].then == ("notify_sales",)
    assert flow.key("e1", "update_crm") == "wf:workflow:e1:update_crm"


def _broken(change: Any) -> str:
    data = _bundled()
    change(data)
    with pytest.raises(ConfigError) as info:
        parse_flow(data, source="f.yaml")
    return str(info.value)


@pytest.mark.parametrize(("change", "where"), [
    (lambda d: d.pop("flow"), "f.yaml: flow"),
    (lambda d: d.update(flow="Bad Name"), "f.yaml: flow"),
    (lambda d: d.update(extra=1), "f.yaml: extra"),
    (lambda d: d["trigger"]["webhook"].update(secrets=[]), "trigger.webhook.secrets"),
    (lambda d: d["trigger"]["webhook"].update(secrets=[{"value": "x"}]),
     "trigger.webhook.secrets[0]"),
    (lambda d: d["trigger"]["webhook"].update(port="x"), "trigger.webhook.port"),
    (lambda d: d["trigger"]["webhook"].update(event_id="a =="), "trigger.webhook.event_id"),
    (lambda d: d["steps"]["big_order"].update({"if": "amount >"}), "steps.big_order.if"),
    (lambda d: d["steps"]["big_order"].update(then="nowhere"), "steps.big_order"),
    (lambda d: d["steps"]["update_crm"].update(next="big_order"), "cycle"),
    (lambda d: d["steps"].update(lonely={"crm": {"path": "/x"}}), "steps.lonely"),
    (lambda d: d["steps"]["notify_sales"]["email"].pop("to"), "steps.notify_sales.email.to"),
    (lambda d: d["steps"]["notify_sales"]["email"].update(subject="{{ x. }}"),
     "steps.notify_sales.email.subject"),
    (lambda d: d["steps"]["log_event"]["event_log"].update(table="x; drop"),
     "steps.log_event.event_log.table"),
    (lambda d: d["steps"]["update_crm"]["crm"].update(method="DELETE"),
     "steps.update_crm.crm.method"),
    (lambda d: d["steps"]["update_crm"]["crm"].update(path="no-slash"),
     "steps.update_crm.crm.path"),
    (lambda d: d["connections"]["smtp"].update(security="tls"), "connections.smtp.security"),
    (lambda d: d["connections"]["smtp"].update(username="u"), "connections.smtp.username"),
    (lambda d: d["connections"]["crm"].update(base_url="ftp://x"),
     "connections.crm.base_url"),
    (lambda d: d["connections"]["crm"].update(token="plain"), "connections.crm.token"),
    (lambda d: d["connections"].update(ldap={}), "connections.ldap"),
])
def test_flow_errors_name_the_file_and_field(change: Any, where: str) -> None:
    assert where in _broken(change)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edges=st.dictionaries(st.sampled_from("abcdef"),
                             st.lists(st.sampled_from("abcdefg"), max_size=3), min_size=1))
def test_any_step_graph_is_accepted_exactly_when_it_is_a_reachable_dag(
        edges: dict[str, list[str]]) -> None:
    data = _bundled()
    data["steps"] = {s: {"crm": {"path": "/x"}, "next": nxt} for s, nxt in edges.items()}
    start = next(iter(edges))
    data["start"] = start
    dangling = any(n not in edges for nxt in edges.values() for n in nxt)
    reach, todo = {start}, [start]
    while todo and not dangling:
        for n in edges[todo.pop()]:
            if n not in reach:
                reach.add(n)
                todo.append(n)
    # A cycle exists among reachable steps iff repeatedly removing steps with no reachable
    # successors left does not empty the set (Kahn's algorithm, in reverse).
    left = set(reach)
    while not dangling:
        sinks = {s for s in left if not any(n in left for n in edges[s])}
        if not sinks:
            break
        left -= sinks
    valid = not dangling and reach == set(edges) and not left
    try:
        parse_flow(data)
    except ConfigError:
        assert not valid
    else:
        assert valid


# -- secrets and errors ----------------------------------------------------------------

def test_secrets_come_from_env_or_files_and_never_show(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WF_TEST_SECRET", "  s3cret \n")
    assert SecretRef(env="WF_TEST_SECRET").resolve() == "s3cret"
    # Once read, the value is scrubbed by the runtime's redaction everywhere in-process.
    from actors._secrets import redact

    assert redact("token s3cret here") == "token *** here"
    monkeypatch.setenv("RAYGENT_SECRET_WF_NAMED", "named-value")
    assert SecretRef(secret="WF_NAMED").resolve() == "named-value"
    with pytest.raises(SecretError, match="raygent secret WF_MISSING"):
        SecretRef(secret="WF_MISSING").resolve()
    with pytest.raises(SecretError, match="WF_TEST_UNSET") as info:
        SecretRef(env="WF_TEST_UNSET").resolve()
    assert "s3cret" not in str(info.value)
    made = tmp_path / "sub" / "gen.secret"
    first = SecretRef(file=str(made), generate=True).resolve()
    assert first.startswith("whsec_") and made.stat().st_mode & 0o777 == 0o600
    assert SecretRef(file=str(made), generate=True).resolve() == first
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(SecretError, match="is empty"):
        SecretRef(file=str(tmp_path / "empty")).resolve()
    with pytest.raises(SecretError):
        SecretRef(file=str(tmp_path / "none")).resolve()
    monkeypatch.setenv("RAYGENT_HOME", str(tmp_path))
    (tmp_path / "workflow").mkdir()
    (tmp_path / "workflow" / "rel.secret").write_text("rel")
    assert SecretRef(file="rel.secret").resolve() == "rel"
    # A flow holds references only: the parsed flow and its data carry no value.
    flow = parse_flow(_bundled())
    assert "whsec_" not in repr(flow)


@pytest.mark.parametrize("error", [
    ConditionError("a ==", "ends", column=3), TemplateError("{{x}}", "missing"),
    SecretError("env X", "unset"), EmailError("h:25", "down", retryable=False),
    EventLogError("sqlite://", "locked"), CRMError("http://c", "503", attempts=4, status=503),
    SignatureError("bad"),
])
def test_errors_survive_pickle_and_keep_their_retry_verdict(error: Exception) -> None:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and str(again) == str(error)
    assert getattr(again, "retryable", None) == getattr(error, "retryable", None)
    assert vars(again) == vars(error)
