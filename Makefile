# raygent: `make run` runs the default scenario, `make test` runs every test.
# Both create .venv and install the project first (torch is pinned to the CPU wheel).

PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
SCENARIO ?= rag-qa
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export RAY_DEDUP_LOGS := 0

.PHONY: install run test test-unit test-cluster lint bench bench-quick chaos clean

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=python3)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/raygent run $(SCENARIO)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Tests that share one local Ray run in one pytest process; tests that build their own
# multi-node cluster (ray.cluster_utils) run in a second process. pytest's exit code 5
# ("no tests collected") is not a failure for the second group.
test: install lint
	$(PY) -m pytest -q -m "not cluster" tests
	$(PY) -m pytest -q -m cluster tests || test $$? -eq 5

# A longer chaos run than the one in `make test`: more messages, more kills.
chaos: install
	CHAOS_MESSAGES=10000 CHAOS_KILLS=60 $(PY) -m pytest -q -s tests/chaos

bench: install
	$(PY) benchmarks/routing.py
	$(PY) benchmarks/memory.py
	$(PY) benchmarks/rag.py
	$(PY) benchmarks/scale.py
	$(PY) benchmarks/recruitment.py
	$(PY) benchmarks/stream.py
	$(PY) benchmarks/workflow.py
	$(PY) benchmarks/embedder.py

bench-quick: install
	$(PY) benchmarks/routing.py --quick
	$(PY) benchmarks/memory.py --quick
	$(PY) benchmarks/rag.py --quick
	$(PY) benchmarks/scale.py --quick
	$(PY) benchmarks/recruitment.py --quick
	$(PY) benchmarks/stream.py --quick
	$(PY) benchmarks/workflow.py --quick
	$(PY) benchmarks/embedder.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
