"""Flows as data: a YAML file names the trigger, the conditions and the actions.

::

    flow: orders                      # name: /hooks/orders, agents orders.webhook, ...
    description: big orders mail sales, the rest are logged; the CRM hears of all
    trigger:
      webhook: {port: 8780, secrets: [{env: ORDERS_SECRET}], tolerance_s: 300,
                max_body_bytes: 65536, event_id: id}
    start: big_order                  # default: the first step
    steps:
      big_order:
        if: "data.amount >= 100 and data.customer.tier in ['gold', 'platinum']"
        then: notify                  # a step id, a list of them, or nothing
        else: log
      notify:
        email: {to: "{{ data.customer.email }}", subject: "Order {{ data.order_id }}",
                body: "..."}
        next: crm
      log:
        event_log: {table: order_events, fields: {amount: "{{ data.amount }}"}}
        next: crm
      crm:
        crm: {method: PATCH, path: "/contacts/{{ data.customer.id }}",
              json: {last_order: "{{ data.order_id }}"}}
    connections:                      # all optional; see _connections.py
      smtp: {host: 127.0.0.1, port: 8025, security: none, from: "shop <shop@example.com>"}
      crm: {base_url: "http://127.0.0.1:8781", token: {env: CRM_TOKEN}, max_attempts: 5}
      event_log: {url: "postgresql+psycopg://..."}
      history: {url: null}

Steps form a graph without cycles in which every step is reachable from ``start``. A
step reached along two paths runs once per event (the first path to arrive runs it).
Errors name the file and the field, e.g. ``orders.yaml: steps.notify.email.to``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from actors import ConfigError
from scenarios.workflow._connections import (
    Connections,
    CrmConfig,
    DatabaseConfig,
    SmtpConfig,
    WebhookConfig,
    build,
)
from scenarios.workflow._errors import ConditionError, TemplateError
from scenarios.workflow._expr import Condition, compile_condition, parse
from scenarios.workflow._expr import Path as FieldPath
from scenarios.workflow._secrets import SecretRef
from scenarios.workflow._template import Compiled, compile_template

BUNDLED_DIR = Path(__file__).parent / "data"
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}\Z")
STEP_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}\Z")
TABLE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}\Z")

#: Step kinds and the agent role that runs each.
KINDS: dict[str, str] = {"if": "condition", "email": "email", "event_log": "event_log",
                         "crm": "crm"}
ROLES: tuple[str, ...] = ("webhook", "condition", "email", "event_log", "crm")
_PARAMS: dict[str, tuple[set[str], set[str]]] = {  # (required, optional) keys per action
    "email": ({"to", "subject", "body"}, {"cc", "reply_to"}),
    "event_log": (set(), {"table", "fields"}),
    "crm": ({"path"}, {"method", "json"}),
}
_TOP = {"flow", "description", "trigger", "start", "steps", "connections"}


def step_key(flow: str, event_id: str, step: str) -> str:
    """The idempotency key of one step of one event: its messages, its effect record and
    the CRM's ``Idempotency-Key`` all use it."""
    return f"wf:{flow}:{event_id}:{step}"


@dataclass(frozen=True, kw_only=True)
class Step:
    """One step: a condition (``kind == "if"``) or an action.

    Attributes:
        then: Steps after a true condition; ``otherwise``: after a false one.
        next: Steps after an action.
        params: The action's parameters, templates compiled.
    """

    id: str
    kind: str
    condition: Condition | None = None
    then: tuple[str, ...] = ()
    otherwise: tuple[str, ...] = ()
    next: tuple[str, ...] = ()
    params: dict[str, Compiled] = field(default_factory=dict)

    @property
    def role(self) -> str:
        return KINDS[self.kind]

    def successors(self) -> tuple[str, ...]:
        return self.then + self.otherwise + self.next


@dataclass(frozen=True, kw_only=True)
class Flow:
    """A validated flow. ``data`` is the plain mapping it came from (what agents get)."""

    name: str
    description: str
    webhook: WebhookConfig
    start: str
    steps: dict[str, Step]
    connections: Connections
    event_id: FieldPath
    data: dict[str, Any]
    source: str = "<memory>"

    def agent(self, role: str) -> str:
        """The name of the agent that plays ``role`` for this flow."""
        return f"{self.name}.{role}"

    def roles(self) -> tuple[str, ...]:
        """The agents this flow needs: the webhook and one per step kind used."""
        used = {s.role for s in self.steps.values()}
        return tuple(r for r in ROLES if r == "webhook" or r in used)

    def key(self, event_id: str, step: str) -> str:
        """The idempotency key of one step of one event (messages, effects, the CRM)."""
        return step_key(self.name, event_id, step)


def _err(source: str, where: str, message: str) -> ConfigError:
    return ConfigError(message, field=f"{source}: {where}" if where else source)


def _ids(value: Any, source: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise _err(source, where, "must be a step id or a list of step ids")
    return tuple(items)


def _step(sid: str, data: Any, source: str) -> Step:
    where = f"steps.{sid}"
    if not STEP_RE.match(sid):
        raise _err(source, where, "a step id is letters, digits, '_' or '-' (max 64)")
    if not isinstance(data, Mapping):
        raise _err(source, where, "must be a mapping with one of: if, email, event_log, crm")
    kinds = [k for k in KINDS if k in data]
    if len(kinds) != 1:
        raise _err(source, where, "needs exactly one of: if, email, event_log, crm")
    kind = kinds[0]
    allowed = {kind, "then", "else"} if kind == "if" else {kind, "next"}
    extra = sorted(set(data) - allowed)
    if extra:
        raise _err(source, f"{where}.{extra[0]}",
                   f"unknown key; allowed here: {', '.join(sorted(allowed))}")
    if kind == "if":
        text = data["if"]
        if not isinstance(text, str):
            raise _err(source, f"{where}.if", "must be an expression string")
        try:
            condition = compile_condition(text)
        except ConditionError as exc:
            raise _err(source, f"{where}.if", str(exc)) from None
        return Step(id=sid, kind=kind, condition=condition,
                    then=_ids(data.get("then"), source, f"{where}.then"),
                    otherwise=_ids(data.get("else"), source, f"{where}.else"))
    params = data[kind] if data[kind] is not None else {}
    if not isinstance(params, Mapping):
        raise _err(source, f"{where}.{kind}", "must be a mapping of parameters")
    required, optional = _PARAMS[kind]
    missing = sorted(required - set(params))
    if missing:
        raise _err(source, f"{where}.{kind}.{missing[0]}", "is required")
    extra = sorted(set(params) - required - optional)
    if extra:
        raise _err(source, f"{where}.{kind}.{extra[0]}",
                   f"unknown key; allowed here: {', '.join(sorted(required | optional))}")
    compiled: dict[str, Compiled] = {}
    for key, value in params.items():
        try:
            compiled[str(key)] = compile_template(value, where=f"{where}.{kind}.{key}")
        except TemplateError as exc:
            raise _err(source, f"{where}.{kind}.{key}", str(exc)) from None
    _check_params(kind, params, source, f"{where}.{kind}")
    return Step(id=sid, kind=kind, params=compiled,
                next=_ids(data.get("next"), source, f"{where}.next"))


def _check_params(kind: str, params: Mapping[str, Any], source: str, where: str) -> None:
    if kind == "event_log":
        table = params.get("table", "workflow_events")
        if not isinstance(table, str) or not TABLE_RE.match(table):
            raise _err(source, f"{where}.table", "must be a plain SQL identifier")
        if not isinstance(params.get("fields", {}) or {}, Mapping):
            raise _err(source, f"{where}.fields", "must be a mapping of name: template")
    if kind == "crm":
        method = params.get("method", "POST")
        if method not in ("POST", "PUT", "PATCH"):
            raise _err(source, f"{where}.method", "must be POST, PUT or PATCH")
        path = params["path"]
        if not isinstance(path, str) or not path.startswith("/"):
            raise _err(source, f"{where}.path", "must be a string starting with '/'")
        if "json" in params and not isinstance(params["json"], Mapping | list):
            raise _err(source, f"{where}.json", "must be a mapping or a list")
    if kind == "email":
        for key in ("to", "subject", "body"):
            value = params[key]
            if not isinstance(value, str) and not (key == "to" and isinstance(value, list)):
                raise _err(source, f"{where}.{key}", "must be text")


def _check_graph(start: str, steps: dict[str, Step], source: str) -> None:
    for step in steps.values():
        for target in step.successors():
            if target not in steps:
                raise _err(source, f"steps.{step.id}",
                           f"names unknown step {target!r}; steps: {', '.join(steps)}")
    # Depth-first walk from start: grey = on the current path (a cycle), black = done.
    colour: dict[str, int] = {}

    def walk(sid: str, trail: list[str]) -> None:
        colour[sid] = 1
        for nxt in steps[sid].successors():
            if colour.get(nxt) == 1:
                loop = " -> ".join([*trail[trail.index(nxt):], nxt])
                raise _err(source, f"steps.{sid}", f"the steps form a cycle: {loop}")
            if nxt not in colour:
                walk(nxt, [*trail, nxt])
        colour[sid] = 2

    walk(start, [start])
    unreached = [s for s in steps if s not in colour]
    if unreached:
        raise _err(source, f"steps.{unreached[0]}", f"is never reached from start {start!r}")


def parse_flow(data: Any, *, source: str = "<memory>") -> Flow:
    """Validate a flow given as plain data (what YAML loads to).

    Raises:
        ConfigError: Naming the file and the field.
    """
    if not isinstance(data, Mapping):
        raise _err(source, "", "a flow file is a mapping with flow, trigger and steps")
    extra = sorted(set(data) - _TOP)
    if extra:
        raise _err(source, extra[0], f"unknown key; allowed here: {', '.join(sorted(_TOP))}")
    name = data.get("flow")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise _err(source, "flow", "is required: lower-case letters, digits, '_' or '-' "
                                   "(max 40), e.g. orders")
    trigger = data.get("trigger")
    if not isinstance(trigger, Mapping) or set(trigger) != {"webhook"}:
        raise _err(source, "trigger", "must be {webhook: {...}} (the one trigger there is)")
    hook = trigger["webhook"] or {}
    if not isinstance(hook, Mapping):
        raise _err(source, "trigger.webhook", "must be a mapping")
    raw_secrets = hook.get("secrets")
    if not isinstance(raw_secrets, list) or not raw_secrets:
        raise _err(source, "trigger.webhook.secrets",
                   "is required: a list of {env: NAME} or {file: PATH} references")
    refs = tuple(SecretRef.parse(s, field=f"{source}: trigger.webhook.secrets[{i}]")
                 for i, s in enumerate(raw_secrets))
    try:
        webhook = build(WebhookConfig, {k: v for k, v in hook.items() if k != "secrets"},
                        path="trigger.webhook", secrets=refs)
        event_path = parse(webhook.event_id)
    except ConfigError as exc:
        raise _err(source, exc.field or "trigger.webhook", exc._raw) from None
    except ConditionError as exc:
        raise _err(source, "trigger.webhook.event_id", str(exc)) from None
    if not isinstance(event_path, FieldPath):
        raise _err(source, "trigger.webhook.event_id", "must be a field path, e.g. id")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, Mapping) or not raw_steps:
        raise _err(source, "steps", "is required: a mapping of step id to step")
    steps = {str(k): _step(str(k), v, source) for k, v in raw_steps.items()}
    start = data.get("start", next(iter(steps)))
    if start not in steps:
        raise _err(source, "start", f"names unknown step {start!r}")
    _check_graph(start, steps, source)
    conns = data.get("connections") or {}
    if not isinstance(conns, Mapping):
        raise _err(source, "connections", "must be a mapping")
    unknown = sorted(set(conns) - {"smtp", "crm", "event_log", "history"})
    if unknown:
        raise _err(source, f"connections.{unknown[0]}",
                   "unknown key; allowed here: crm, event_log, history, smtp")
    try:
        connections = Connections(
            smtp=build(SmtpConfig, conns.get("smtp"), path="connections.smtp",
                       secret_fields=("password",), renames={"from": "sender"}),
            crm=build(CrmConfig, conns.get("crm"), path="connections.crm",
                      secret_fields=("token",)),
            event_log=build(DatabaseConfig, conns.get("event_log"),
                            path="connections.event_log"),
            history=build(DatabaseConfig, conns.get("history"), path="connections.history",
                          default_file="history.sqlite3"),
        )
    except ConfigError as exc:
        raise _err(source, exc.field or "connections", exc._raw) from None
    description = data.get("description") or ""
    return Flow(name=name, description=str(description), webhook=webhook, start=start,
                steps=steps, connections=connections, event_id=event_path,
                data=_plain(data), source=source)


def _plain(data: Any) -> Any:
    """A deep copy made of dicts, lists and scalars (what agents' configs may carry)."""
    if isinstance(data, Mapping):
        return {str(k): _plain(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_plain(v) for v in data]
    return data


def load_flow(path: str | os.PathLike[str]) -> Flow:
    """Read and validate a flow file (``.yaml``/``.yml``).

    Raises:
        ConfigError: If the file is missing, not YAML, or invalid.
    """
    p = Path(os.path.expanduser(str(path)))
    if not p.is_file():
        raise ConfigError(f"no flow file at {str(p)!r}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    return parse_flow(data, source=str(p))


def flow_from_config(value: Any) -> Flow:
    """The flow an agent's config names: a mapping (the flow itself) or a file path.

    A relative path names a flow bundled with raygent (``scenarios/workflow/data``).
    """
    if isinstance(value, Mapping):
        return parse_flow(value, source=f"<flow {value.get('flow')!r}>")
    if isinstance(value, str) and value:
        p = Path(os.path.expanduser(value))
        return load_flow(p if p.is_absolute() else BUNDLED_DIR / p)
    raise ConfigError("must be a flow mapping or the path of a flow file", field="flow")


__all__ = ["BUNDLED_DIR", "KINDS", "ROLES", "Flow", "Step", "flow_from_config", "load_flow",
           "parse_flow", "step_key"]
