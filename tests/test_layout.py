"""The layout's rules, read from the code's own imports (no Ray, no models).

Dependencies point down: ``scenarios`` → ``memory`` and ``actors.llm`` → the runtime core
(``actors``). The core imports neither ``memory``, ``actors.llm`` nor ``scenarios``;
``memory``'s store code never imports Ray; no two modules import each other in a circle.
Lazy imports inside functions count (they are dependencies all the same); imports under
``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
import importlib
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("actors", "memory", "scenarios")
# Modules kept only so old imports keep working; each warns and points at the new place.
ALIASES = {"actors.llm_messages"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(path: Path, module: str) -> set[str]:
    """Every module ``module`` imports at run time (absolute names)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                out.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[:len(anchor) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                out.add(base)
                # ``from pkg import mod`` imports the submodule when there is one.
                out.update(f"{base}.{alias.name}" for alias in child.names)
            visit(child)

    visit(tree)
    return out


MODULES = _modules()
GRAPH = {name: {i for i in _imports(path, name) if i in MODULES and i != name}
         for name, path in MODULES.items()}
EXTERNAL = {name: _imports(path, name) for name, path in MODULES.items()}


def _core(name: str) -> bool:
    return (name.split(".")[0] == "actors" and not name.startswith("actors.llm")
            and name not in ALIASES)


def _imports_package(name: str, package: str) -> list[str]:
    return sorted(i for i in EXTERNAL[name] if i == package or i.startswith(package + "."))


def test_the_walk_sees_the_packages() -> None:
    assert {"actors._supervisor", "actors.llm._agent", "memory._agent",
            "scenarios.cli"} <= set(MODULES)
    assert "actors._errors" in GRAPH["actors._supervisor"]


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _core(n)))
def test_the_runtime_core_imports_neither_memory_nor_llm_nor_scenarios(name: str) -> None:
    bad = (_imports_package(name, "memory") + _imports_package(name, "scenarios")
           + _imports_package(name, "actors.llm"))
    assert not bad, f"{name} imports {bad}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith(("memory",
                                                                            "actors.llm"))))
def test_memory_and_llm_import_no_scenarios_nor_each_other(name: str) -> None:
    other = "actors.llm" if name.startswith("memory") else "memory"
    bad = _imports_package(name, "scenarios") + _imports_package(name, other)
    assert not bad, f"{name} imports {bad}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("memory")
                                        and n not in ("memory", "memory._agent")))
def test_memory_store_code_never_imports_ray(name: str) -> None:
    assert not _imports_package(name, "ray"), f"{name} imports Ray"


MAX_LINES = 450  # the layout's limit; ~400 is the aim


def test_no_module_is_over_the_size_limit() -> None:
    long = {str(p.relative_to(ROOT)): n for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"split these by job (over {MAX_LINES} lines): {long}"


def test_no_import_circles() -> None:
    # Tarjan's strongly connected components over the module graph.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = 0

    def strong(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            # A package's __init__ re-exports its children: the edge child -> parent
            # package is how every submodule import starts, not a dependency.
            if v.startswith(w + "."):
                continue
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            strong(v)
    assert not circles, f"import circles: {circles}"


# Every name users imported from a package before the layout moves, and where it lives now.
PUBLIC: dict[str, list[str]] = {
    "actors": [
        "Agent", "AgentError", "AgentExistsError", "AgentFailedError", "AgentHost",
        "AgentNotFoundError", "AgentSpec", "AgentStatus", "AgentUnavailableError",
        "AskTimeoutError", "ConfigError", "DeadLetter", "DeliveryError", "Envelope",
        "HandlerError", "MailboxConfig", "MailboxFullError", "MemoryClient",
        "MessageContext", "MessageError", "MessageTooLargeError", "NotSerializableError",
        "PayloadTypeError", "RaygentError", "Resources", "RestartPolicy", "RetryPolicy",
        "Runtime", "RuntimeConfig", "RuntimeNotStartedError", "SupervisorCore",
        "SystemStatus", "UnknownKindError", "UnknownRecipientError", "code_runtime_env",
        "handles", "message", "new_id", "register_message"],
    "actors.messages": ["AgentEvent", "Echo", "EchoReply", "Ping", "Pong", "EVENTS_TOPIC"],
    "memory": [
        "DEFAULT_MODEL", "RRF", "BM25Config", "BM25Index", "Embed", "Embedder",
        "FusionStrategy", "Hit", "HybridStore", "MemoryAgent", "MemoryConfig",
        "MemoryService", "MemoryStore", "Recall", "Record", "Remember", "Tokenizer",
        "TokenizerConfig", "WeightedFusion", "chunk_text", "default_data_dir",
        "default_fusion", "light_stem", "load_documents", "memory_config_from",
        "shared_embedder"],
    "scenarios": [
        "AgentEntry", "EchoAgent", "PingAgent", "PongAgent", "Rally", "RallyReport",
        "Scenario", "ScenarioFn", "ScenarioResult", "ScenarioSpec", "builtin_scenarios",
        "load_spec", "open_runtime", "parse_spec", "start_or_join"],
    "scenarios.cli": ["app", "main"],
    "scenarios.builtin": ["DEFAULT_SCENARIO", "builtin_scenarios"],
}
# Names that moved: the old place still works and warns where they went.
MOVED: dict[str, tuple[str, list[str]]] = {
    "actors": ("actors.llm", [
        "ChatMessage", "Citation", "Complete", "Completion", "ExtractiveBackend",
        "ExtractiveConfig", "LLMAgent", "LLMBackend", "LLMConnectionError", "LLMError",
        "LLMHTTPError", "LLMRequestError", "LLMResponseError", "LLMTimeoutError",
        "OpenAIBackend", "OpenAIConfig", "Usage", "backend_from_config", "rag_messages"]),
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_public_names_still_import_from_the_same_place(package: str) -> None:
    module = importlib.import_module(package)
    missing = [n for n in PUBLIC[package] if not hasattr(module, n)]
    assert not missing, f"{package} lost {missing}"
    exported = set(getattr(module, "__all__", PUBLIC[package]))
    assert set(PUBLIC[package]) <= exported | set(MOVED.get(package, ("", []))[1])


@pytest.mark.parametrize("package", sorted(MOVED))
def test_moved_names_warn_and_point_at_their_new_home(package: str) -> None:
    new_home, names = MOVED[package]
    module = importlib.import_module(package)
    target = importlib.import_module(new_home)
    for name in names:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = getattr(module, name)
        assert value is getattr(target, name), name
        assert any(issubclass(w.category, DeprecationWarning) and new_home in str(w.message)
                   for w in caught), f"{package}.{name} did not warn"


def test_the_old_llm_messages_module_warns() -> None:
    import sys

    sys.modules.pop("actors.llm_messages", None)
    with pytest.warns(DeprecationWarning, match="actors.llm"):
        importlib.import_module("actors.llm_messages")
