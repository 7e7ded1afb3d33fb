"""Hostile webhook requests (hypothesis): every one gets a 4xx, none has an effect, and the
server keeps serving.

The requests are generated over bodies (bytes, JSON of every shape, other encodings,
oversize, streamed without a length), signature headers (missing, garbage, wrong secret,
stale, signed over another body, correctly signed but malformed bodies), other headers,
methods and paths, and sent over real HTTP to the flow's webhook on Ray.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenarios.workflow import sign
from tests.conftest import wait_for
from tests.workflow_support import (
    SECRET,
    Peers,
    deploy,
    flow_data,
    order,
    peers_fixture,  # noqa: F401  (the `peers` fixture)
)

LIMIT = 2048

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=20)),
    lambda c: st.one_of(st.lists(c, max_size=4),
                        st.dictionaries(st.text(max_size=8), c, max_size=4)),
    max_leaves=20)
# Bodies that are signed correctly and still must be refused: not JSON, not an object, no
# valid id, other encodings.
bad_ids = st.one_of(st.none(), st.integers(), st.just(""), st.text(max_size=3).map(
    lambda t: t + " !"), st.just("x" * 201), st.lists(st.text(max_size=3), max_size=2))


@st.composite
def signed_but_malformed(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["binary", "not_object", "bad_id", "no_id", "utf16", "nan"]))
    if kind == "binary":
        raw = draw(st.binary(max_size=300))
        try:
            if isinstance(json.loads(raw), dict):
                raw = b"\xff" + raw  # what json.loads accepts here could be valid
        except (ValueError, UnicodeDecodeError):
            pass
        return raw
    if kind == "not_object":
        value = draw(json_values.filter(lambda v: not isinstance(v, dict)))
        return json.dumps(value).encode()
    if kind == "bad_id":
        return json.dumps({"id": draw(bad_ids), "type": "order.created"}).encode()
    if kind == "no_id":
        body = draw(st.dictionaries(st.text(max_size=8).filter(lambda k: k != "id"),
                                    json_values, max_size=4))
        return json.dumps(body).encode()
    if kind == "utf16":
        return json.dumps({"id": "h-utf16"}).encode(draw(st.sampled_from(["utf-16",
                                                                          "utf-32"])))
    return b'{"id": "h-nan", "amount": NaN}'


@st.composite
def hostile(draw: st.DrawFn) -> dict[str, Any]:
    """One request: method, path suffix, headers, body, whether to stream it."""
    case = draw(st.sampled_from([
        "unsigned", "garbage_header", "wrong_secret", "stale", "other_body", "malformed",
        "oversize", "oversize_streamed", "method", "path"]))
    now = int(time.time())
    body = draw(st.one_of(st.binary(max_size=400),
                          json_values.map(lambda v: json.dumps(v).encode())))
    headers: dict[str, str] = {}
    if draw(st.booleans()):
        headers["Content-Type"] = draw(st.sampled_from(
            ["application/json", "text/plain", "application/x-www-form-urlencoded",
             "application/json; charset=latin-1", "multipart/form-data; boundary=x"]))
    method, path, stream = "POST", "", False
    raw: bytes | None = None
    if case == "garbage_header":
        # Any bytes at all in the header (control characters, non-ASCII, line breaks):
        # httpx refuses to send such headers, so these go over a raw socket.
        raw = draw(st.one_of(
            st.binary(max_size=200),
            st.text(max_size=100).map(lambda t: t.encode("utf-8")),
            st.builds(lambda t, v: f"t={t},v1={v}".encode(), st.integers(), st.text(
                alphabet="0123456789abcdefABCDEF", min_size=60, max_size=70))))
    elif case == "wrong_secret":
        headers["Raygent-Signature"] = sign([draw(st.text(min_size=1, max_size=20))
                                             .replace(SECRET, "x") or "x"], body)
    elif case == "stale":
        skew = draw(st.one_of(st.integers(301, 10**6), st.integers(-(10**6), -301)))
        headers["Raygent-Signature"] = sign([SECRET], body, timestamp=now + skew)
    elif case == "other_body":
        headers["Raygent-Signature"] = sign([SECRET], body + b" ")
    elif case == "malformed":
        body = draw(signed_but_malformed())
        headers["Raygent-Signature"] = sign([SECRET], body)
    elif case in ("oversize", "oversize_streamed"):
        body = json.dumps({**order("h-big"), "pad": "x" * draw(
            st.integers(LIMIT, 3 * LIMIT))}).encode()
        headers["Raygent-Signature"] = sign([SECRET], body)
        stream = case == "oversize_streamed"
    elif case == "method":
        method = draw(st.sampled_from(["GET", "PUT", "DELETE", "PATCH"]))
        headers["Raygent-Signature"] = sign([SECRET], body)
    elif case == "path":
        path = draw(st.sampled_from(["x", "/extra", "%2e%2e", "-other"]))
        headers["Raygent-Signature"] = sign([SECRET], json.dumps(order("h-path")).encode())
        body = json.dumps(order("h-path")).encode()
    return {"case": case, "method": method, "path": path, "headers": headers, "body": body,
            "stream": stream, "raw_signature": raw}


def raw_post(url: str, signature: bytes, body: bytes) -> int:
    """POST with a signature header of arbitrary bytes; return the status (or 400 for a
    request so broken that the server only closed the connection, which h11 does)."""
    parts = urlsplit(url)
    head = b"\r\n".join([
        f"POST {parts.path} HTTP/1.1".encode(), f"Host: {parts.netloc}".encode(),
        b"Connection: close", b"Content-Type: application/json",
        f"Content-Length: {len(body)}".encode(), b"Raygent-Signature: " + signature,
    ]) + b"\r\n\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head + body)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    if not answer:
        return 400
    return int(answer.split(b" ", 2)[1])


@pytest.fixture
def target(make_runtime: Any, peers: Peers, tmp_path: Path) -> Iterator[Any]:
    data = flow_data(tmp_path, smtp_port=peers.smtp.port, crm_url=peers.crm.url)
    data["trigger"]["webhook"]["max_body_bytes"] = LIMIT
    yield deploy(make_runtime, peers, tmp_path, data=data)


def test_hostile_requests_get_a_4xx_no_effect_and_the_server_keeps_serving(
        target: Any, peers: Peers) -> None:
    statuses: dict[str, set[int]] = {}
    with httpx.Client(timeout=30) as client:

        @settings(max_examples=250, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture,
                                         HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(request=hostile())
        def attack(request: dict[str, Any]) -> None:
            body = request["body"]
            content: Any = iter([body[i:i + 512] for i in range(0, len(body), 512)]) \
                if request["stream"] else body
            if request["raw_signature"] is not None:
                code = raw_post(target.url, request["raw_signature"], body)
            else:
                r = client.request(request["method"], target.url + request["path"],
                                   headers=request["headers"], content=content)
                code = r.status_code
            statuses.setdefault(request["case"], set()).add(code)
            assert 400 <= code < 500, (request["case"], code)

        attack()
    # Each kind of attack met the status it should.
    expected = {"unsigned": {401}, "garbage_header": {400, 401}, "wrong_secret": {401},
                "stale": {401}, "other_body": {401}, "malformed": {400},
                "oversize": {413}, "oversize_streamed": {413}, "method": {405},
                "path": {404}}
    for case, seen in statuses.items():
        assert seen <= expected[case], (case, seen)
    assert len(statuses) >= 8
    # No effect: no event was claimed, handed on, mailed, logged or sent to the CRM.
    assert target.history.events(flow=target.flow.name) == []
    status = target.runtime.status()
    assert status.agent(target.flow.agent("condition")).handled == 0
    assert peers.smtp.received() == [] and peers.crm.stats()["requests"] == 0
    # Still serving: a good event goes through.
    assert target.post(order("h-good")).status_code == 202
    wait_for(lambda: target.settled("h-good"), message="the good event is done")
