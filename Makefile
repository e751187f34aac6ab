# The two commands a new machine needs: `make test` and `make demo`. Both set up their own
# virtual environment first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install lint typecheck check test demo e2e e2e-cluster images bench docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Everything but the multi-node suite: lint, types, unit and integration tests, and the
# end-to-end tests on a real Docker engine when one can be started (CI requires it; see
# tests/e2e/README.md). The quick loop while developing.
check: lint typecheck
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The whole suite: `make check`, then the multi-node Swarm suite (root only; skipped with a
# reason elsewhere, required in CI; see tests/cluster/README.md).
test: check
	$(MAKE) --no-print-directory e2e-cluster

# The end-to-end suite alone, with each scenario's time in the summary.
e2e: $(STAMP)
	$(BIN)/python -m pytest -m e2e tests/e2e --durations=0 $(PYTEST_ARGS)

# The multi-node suite alone: three engines in network namespaces form a Swarm (root only; see
# tests/cluster/README.md).
e2e-cluster: $(STAMP)
	$(BIN)/python -m pytest -m cluster tests/cluster --durations=0 $(PYTEST_ARGS)

# The container images alone (the base image is cached by its recipe's hash).
images:
	docker/build-images.sh

demo: $(STAMP)
	$(BIN)/python examples/demo.py

# The documentation site, strictly (any warning fails), into docs/_build/html.
docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -n -E -q -b html docs docs/_build/html
	@echo "docs: open docs/_build/html/index.html"

bench: $(STAMP)
	@for script in tests/benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache dist build docs/_build
