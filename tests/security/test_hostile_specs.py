"""Hostile scenario specs: each refused with a message naming the file and what is wrong,
nothing imported from outside the allowed modules, nothing else affected."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from actors import ConfigError, UntrustedModuleError
from scenarios import Scenario, load_spec, parse_spec

GOOD = {"name": "ok", "agents": [{"name": "echo", "class": "scenarios.echo:EchoAgent"}],
        "driver": "scenarios.echo:drive"}


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("field", "ref"), [
    ("class", "os:system"),
    ("class", "subprocess:Popen"),
    ("class", "tests.security.evil_module:drive"),
    ("driver", "tests.security.evil_module:drive"),
    ("driver", "builtins:eval"),
    ("class", "scenarios_evil.x:Agent"),  # a look-alike prefix is not the prefix
])
def test_code_outside_the_allowed_modules_is_refused_and_never_imported(field, ref):
    os.environ.pop("RAYGENT_EVIL_IMPORTED", None)
    data = {**GOOD}
    if field == "driver":
        data["driver"] = ref
    else:
        data["agents"] = [{"name": "echo", "class": ref}]
    with pytest.raises(UntrustedModuleError, match="--trust") as err:
        parse_spec(data, source="evil.yaml")
    assert "evil.yaml" in str(err.value) and ref in str(err.value)
    assert "RAYGENT_EVIL_IMPORTED" not in os.environ


def test_a_module_the_user_trusts_is_allowed(monkeypatch):
    data = {**GOOD, "driver": "tests.security.evil_module:drive"}
    assert parse_spec(data, trusted=("tests.security",)).driver_name.endswith(":drive")
    monkeypatch.setenv("RAYGENT_TRUSTED_MODULES", "tests.security, other")
    assert parse_spec(data).driver_name.endswith(":drive")
    os.environ.pop("RAYGENT_EVIL_IMPORTED", None)


@pytest.mark.parametrize(("text", "problem"), [
    ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c]\n",
     "aliases"),
    ("name: [" * 5000 + "]" * 5000, "nested too deeply|not valid YAML"),
    ("name: 3\nagents: {echo: 1}\ndriver: scenarios.echo:drive\n", "name"),
    ("name: x\nagents: [{name: 7, class: scenarios.echo:EchoAgent}]\n"
     "driver: scenarios.echo:drive\n", r"agents\[0\]\.name"),
    ("name: x\nagents: [{name: e, class: scenarios.echo:EchoAgent, resources: "
     "{num_cpus: -1}}]\ndriver: scenarios.echo:drive\n", r"agents\[0\]\.resources\.num_cpus"),
    ("name: x\nagents: [{name: e, class: scenarios.nope:Nope}]\ndriver: scenarios.echo:drive\n",
     "cannot import"),
    ("- just\n- a list\n", "mapping"),
    ("name: x\nagents: []\ndriver: [1, 2]\n", "agents"),
    ("{{{{", "not valid YAML"),
])
def test_malformed_specs_are_refused_with_the_file_and_field(tmp_path, text, problem):
    path = _write(tmp_path, "bad.yaml", text)
    with pytest.raises(ConfigError, match=problem) as err:
        load_spec(path)
    assert "bad.yaml" in str(err.value)


def test_an_oversized_or_binary_spec_is_refused_before_parsing(tmp_path):
    big = _write(tmp_path, "big.yaml", "# " + "x" * (1 << 20) + "\n")
    with pytest.raises(ConfigError, match="too large"):
        load_spec(big)
    binary = _write(tmp_path, "bin.yaml", b"\xff\xfe\x00name: x\x80\x81")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_spec(binary)
    with pytest.raises(ConfigError, match=r"\.yaml, \.yml or \.toml"):
        load_spec(_write(tmp_path, "spec.py", "import os"))


def test_a_refused_spec_leaves_the_good_ones_working(tmp_path):
    with pytest.raises(UntrustedModuleError):
        load_spec(_write(tmp_path, "evil.yaml",
                         "name: e\nagents: [{name: a, class: 'os:system'}]\n"
                         "driver: scenarios.echo:drive\n"))
    good = _write(tmp_path, "good.yaml",
                  "name: g\nagents: [{name: a, class: scenarios.echo:EchoAgent}]\n"
                  "driver: scenarios.echo:drive\n")
    assert Scenario.from_file(good).agents == ("a",)
