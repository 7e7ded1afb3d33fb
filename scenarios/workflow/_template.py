"""Action parameters templated from event fields: ``"Order {{ data.order_id }}"``.

Each ``{{ ... }}`` holds an expression of the condition language (usually a field path),
parsed when the flow is loaded. A string that is exactly one ``{{ ... }}`` keeps the
value's JSON type (``amount: "{{ data.amount }}"`` gives the number), so JSON bodies stay
typed; inside longer text a value is written as text (``null`` as an empty string, lists
and objects as JSON). Templates are strict: a field the event lacks is a
:class:`TemplateError`, not an empty string sent to a customer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scenarios.workflow._errors import ConditionError, TemplateError
from scenarios.workflow._expr import Missing, Node, evaluate, parse, to_text

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Text:
    """A string template: literal pieces and expressions, in order."""

    source: str
    pieces: tuple[str | Node, ...]

    @property
    def whole(self) -> Node | None:
        """The expression when the template is nothing but one ``{{ ... }}``."""
        if len(self.pieces) == 1 and not isinstance(self.pieces[0], str):
            return self.pieces[0]
        return None


Compiled = Text | dict[str, "Compiled"] | list["Compiled"] | int | float | bool | None


def compile_template(value: Any, *, where: str = "") -> Compiled:
    """Parse every ``{{ ... }}`` in a parameter value (strings, lists, mappings).

    Raises:
        TemplateError: If an expression does not parse, naming ``where``.
    """
    if isinstance(value, str):
        pieces: list[str | Node] = []
        pos = 0
        for m in _PLACEHOLDER.finditer(value):
            if m.start() > pos:
                pieces.append(value[pos:m.start()])
            try:
                pieces.append(parse(m.group(1).strip()))
            except ConditionError as exc:
                raise TemplateError(value, f"{where}: {exc.reason}") from None
            pos = m.end()
        if pos < len(value):
            pieces.append(value[pos:])
        if any("{{" in p or "}}" in p for p in pieces if isinstance(p, str)):
            raise TemplateError(value, f"{where}: unbalanced '{{{{' or '}}}}'")
        return Text(source=value, pieces=tuple(pieces))
    if isinstance(value, Mapping):
        return {str(k): compile_template(v, where=f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [compile_template(v, where=f"{where}[{i}]") for i, v in enumerate(value)]
    if value is None or isinstance(value, bool | int | float):
        return value
    raise TemplateError(repr(value), f"{where}: must be text, a number, true/false, null, "
                                     "a list or a mapping")


def as_text(value: Any) -> str:
    """How a value reads inside text."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _value(node: Node, event: Any, source: str) -> Any:
    try:
        return evaluate(node, event, strict=True)
    except Missing as exc:
        raise TemplateError(source, f"the event has no field {to_text(exc.path)}") from None


def render(template: Compiled, event: Any) -> Any:
    """Fill a compiled template from one event.

    Raises:
        TemplateError: If a field it names is missing from the event.
    """
    if isinstance(template, Text):
        whole = template.whole
        if whole is not None:
            return _value(whole, event, template.source)
        return "".join(p if isinstance(p, str) else as_text(_value(p, event, template.source))
                       for p in template.pieces)
    if isinstance(template, dict):
        return {k: render(v, event) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, event) for v in template]
    return template


def render_text(template: Compiled, event: Any,
                escape: Callable[[str], str] | None = None) -> str:
    """Render and return text (subjects, addresses, URL paths).

    Args:
        template: A compiled string template.
        event: The event.
        escape: Applied to each value written into the text (not to the literal parts):
            a URL path percent-encodes them, so an event cannot reach another resource.
    """
    if escape is None or not isinstance(template, Text):
        return as_text(render(template, event))
    return "".join(p if isinstance(p, str) else escape(as_text(_value(p, event,
                                                                      template.source)))
                   for p in template.pieces)


__all__ = ["Compiled", "Text", "as_text", "compile_template", "render", "render_text"]
