"""Scenario specs as data: validation that points at the field, and runs end to end."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path
from typing import Any

import pytest

from actors import ConfigError, MessageTooLargeError
from actors._errors import InvalidQueryError
from scenarios import Scenario, builtin_scenarios, load_spec, parse_spec
from scenarios._launch import with_overrides
from scenarios.rag_qa import Question, doc_of

GOOD = {
    "name": "mine",
    "agents": [{"name": "echo", "class": "scenarios.echo:EchoAgent"}],
    "driver": "scenarios.echo:drive",
    "input": {"agent": "echo"},
}


def _bad(change: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_spec({**GOOD, **change}, source="my.yaml")
    assert info.value.field is not None and field in info.value.field, str(info.value)
    assert "my.yaml" in str(info.value)


@pytest.mark.parametrize(("change", "field"), [
    ({"name": ""}, "name"),
    ({"agents": []}, "agents"),
    ({"agents": [{"name": "x"}]}, "agents[0].class"),
    ({"agents": [{"name": "x", "class": "scenarios.no_such_module:Agent"}]},
     "agents[0].class"),
    ({"agents": [{"name": "x", "class": "scenarios.rag_qa:Question"}]}, "agents[0].class"),
    ({"agents": [{"name": "x", "class": "scenarios.echo:EchoAgent", "colour": 1}]},
     "agents[0].colour"),
    ({"agents": [{"name": "x", "class": "scenarios.echo:EchoAgent",
                  "resources": {"num_cpus": -1}}]}, "agents[0].resources.num_cpus"),
    ({"agents": [{"name": "x", "class": "scenarios.echo:EchoAgent",
                  "mailbox": {"policy": "drop"}}]}, "agents[0].mailbox.policy"),
    ({"agents": [{"name": "a", "class": "scenarios.echo:EchoAgent"},
                 {"name": "a", "class": "scenarios.echo:EchoAgent"}]}, "agents"),
    ({"wiring": [{"from": "driver", "to": "ghost"}]}, "wiring[0].to"),
    ({"runtime": {"strategy": "one_for_some"}}, "runtime.strategy"),
    ({"runtime": {"colour": "red"}}, "runtime.colour"),
    ({"driver": "scenarios.echo:nothing_here"}, "driver"),
    ({"count": 0}, "count"),
    ({"surprise": True}, "surprise"),
])
def test_spec_errors_point_at_the_field(change, field):
    _bad(change, field)


def test_files_yaml_and_toml(tmp_path: Path):
    (tmp_path / "s.yaml").write_text(textwrap.dedent("""
        name: from-yaml
        agents: [{name: echo, class: scenarios.echo:EchoAgent}]
        driver: scenarios.echo:drive
    """))
    (tmp_path / "s.toml").write_text(textwrap.dedent("""
        name = "from-toml"
        driver = "scenarios.echo:drive"
        [[agents]]
        name = "echo"
        class = "scenarios.echo:EchoAgent"
    """))
    assert load_spec(tmp_path / "s.yaml").name == "from-yaml"
    assert Scenario.from_file(tmp_path / "s.toml").agents == ("echo",)
    (tmp_path / "broken.yaml").write_text("name: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_spec(tmp_path / "broken.yaml")
    with pytest.raises(ConfigError, match="no scenario file"):
        load_spec(tmp_path / "missing.yaml")


def test_every_builtin_spec_is_valid():
    found = builtin_scenarios()
    assert [n for n in found if n in ("rag-qa", "ping-pong", "echo")] == [
        "rag-qa", "ping-pong", "echo"]
    assert next(iter(found)) == "rag-qa"
    for scenario in found.values():
        assert scenario.description and scenario.spec is not None


def test_a_users_own_spec_runs_through_runtime_launch(runtime, tmp_path: Path):
    (tmp_path / "mine.yaml").write_text(textwrap.dedent("""
        name: mine
        agents: [{name: my-echo, class: scenarios.echo:EchoAgent,
                  mailbox: {capacity: 50}}]
        wiring: [{from: driver, to: my-echo}]
        driver: scenarios.echo:drive
        input: {agent: my-echo}
        count: 7
    """))
    result = runtime.launch(Scenario.from_file(tmp_path / "mine.yaml"))
    assert result.ok, result.summary
    assert result.details["count"] == 7
    assert runtime.status().agent("my-echo").mailbox_capacity == 50


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def rag(make_runtime, tmp_path):
    spec = builtin_scenarios()["rag-qa"].spec
    assert spec is not None
    return make_runtime(), with_overrides(spec, data_dir=str(tmp_path / "store"))


def test_rag_qa_end_to_end_cites_the_one_right_document(rag):
    runtime, spec = rag
    result = runtime.launch(Scenario.from_spec(spec))
    assert result.ok, result.summary
    assert result.details["correct"] == result.details["judged"] == 13
    answer = runtime.ask("retriever", Question(text="How many hearts does an octopus have?"))
    assert doc_of(answer.cited[0]) == "d32" and "[1]" in answer.text
    assert answer.sources and answer.sources[0].vector_score is not None
    # Bad input: a clear typed error each, and the system goes on answering.
    with pytest.raises(InvalidQueryError, match="empty"):
        runtime.ask("retriever", Question(text="   "))
    with pytest.raises(MessageTooLargeError):
        runtime.ask("retriever", Question(text="x" * (1 << 20)))
    st = runtime.status().agent("retriever")
    assert st.retried == 0  # a bad question is not retried
    assert doc_of(runtime.ask("retriever", Question(text="How long is a marathon?"))
                  .cited[0]) == "d44"


def test_rag_qa_with_the_llm_server_down_answers_with_the_error_and_keeps_memory(rag):
    runtime, spec = rag
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    down = with_overrides(spec, llm={"kind": "openai", "base_url": url, "model": "m",
                                     "max_retries": 1, "timeout_s": 2})
    result = runtime.launch(Scenario.from_spec(down), count=2)
    assert not result.ok
    assert all("llm" in e.lower() for e in result.details["errors"]), result.details
    assert result.details["questions"] == 2  # the run went on to the next question
    before = runtime.memory.count()
    answer = runtime.ask("retriever", Question(text="How long is a marathon?"))
    assert answer.error and answer.sources  # retrieval survived; the model did not
    assert runtime.memory.count() == before > 0


def test_docs_override_needs_existing_paths(tmp_path: Path):
    spec = builtin_scenarios()["rag-qa"].spec
    assert spec is not None
    with pytest.raises(ConfigError, match="no such file"):
        with_overrides(spec, docs=[str(tmp_path / "nope")])
    (tmp_path / "a.md").write_text("# Notes\nThe launch code is TANGO-7.")
    changed = with_overrides(spec, docs=[str(tmp_path / "a.md")])
    assert changed.memory is not None and "questions" not in changed.input


def test_chat_answers_one_question_after_another_against_a_running_system(rag):
    import ray
    from typer.testing import CliRunner

    from scenarios.cli import app

    runtime, spec = rag
    runtime.launch(Scenario.from_spec(spec), count=1)
    address = ray.get_runtime_context().gcs_address
    result = CliRunner().invoke(
        app, ["chat", "--address", address, "--namespace", runtime.config.namespace],
        input="How many hearts does an octopus have?\n   \n")
    assert result.exit_code == 0, result.output
    assert "three hearts" in result.output and "d32" in result.output
    result = CliRunner().invoke(
        app, ["chat", "--address", address, "--namespace", runtime.config.namespace],
        input="x" * 3000 + "\nHow long is a marathon?\nexit\n")
    assert result.exit_code == 0, result.output
    assert "over the limit" in result.output and "42.195" in result.output
    assert runtime.status().agent("retriever").state == "running"


def test_a_running_memory_agent_is_reused_when_its_config_matches_and_never_stopped(
        runtime, tmp_path: Path):
    from rich.console import Console

    from actors import ConfigError
    from scenarios._launch import start_memory

    def spec_with(data_dir: Path) -> Any:
        return parse_spec({"name": "m", "memory": {"config": {"data_dir": str(data_dir)}},
                           "agents": [{"name": "e", "class": "scenarios.echo:EchoAgent"}],
                           "driver": "scenarios.echo:drive"})

    quiet = Console(quiet=True)
    start_memory(runtime, spec_with(tmp_path / "a"), console=quiet)
    pid = runtime.status().agent("memory").pid
    runtime.memory.add([{"id": "kept", "text": "another scenario's note"}])
    start_memory(runtime, spec_with(tmp_path / "a"), console=quiet)  # same config: reused
    assert runtime.status().agent("memory").pid == pid
    with pytest.raises(ConfigError, match="another config"):
        start_memory(runtime, spec_with(tmp_path / "b"), console=quiet)
    assert runtime.status().agent("memory").pid == pid  # left alone, still serving
    assert runtime.memory.get(["kept"])[0].text == "another scenario's note"
