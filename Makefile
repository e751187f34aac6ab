# The two commands a new machine needs: `make test` and `make demo`. Both set up their own
# virtual environment first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install lint typecheck check test compat demo e2e e2e-cluster images bench docs clean

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

# The third-party libraries whose private API runsecrets uses (pydantic-settings, pydantic,
# watchfiles: each behind one adapter module) or whose newer API it needs (cryptography), at
# both ends of pyproject's bounds: the lowest releases the tests pass on, and the newest
# releases within the bounds (resolved when the venv is made, kept until pyproject or this file
# changes). Each end gets its own venv; pip's cache keeps the wheels between runs.
COMPAT_LOWEST := pydantic-settings==2.5.0 pydantic==2.7.0 watchfiles==0.20.0 cryptography==45.0.1
COMPAT_NEWEST := pydantic-settings pydantic watchfiles cryptography
# Each venv has the test tools and extras (the TLS tests drive real httpx, requests, grpc and
# aiohttp clients) with those packages pinned. The tests of those concerns; of the watcher's tests (found by name, wherever they live), the
# ones run with watchfiles.
COMPAT_TESTS := tests/pydantic tests/tls $(wildcard tests/test_errors_hold_no_value.py tests/*/test_errors_hold_no_value.py)
COMPAT_WATCH_TESTS = $(shell grep -rl --include='test_*.py' watchfiles tests | grep -v '^tests/\(e2e\|cluster\|docs\)/')

$(VENV)-compat-lowest/.installed: COMPAT_PACKAGES = $(COMPAT_LOWEST)
$(VENV)-compat-newest/.installed: COMPAT_PACKAGES = $(COMPAT_NEWEST)
$(VENV)-compat-%/.installed: pyproject.toml Makefile
	rm -rf $(VENV)-compat-$*
	$(PYTHON) -m venv $(VENV)-compat-$*
	$(VENV)-compat-$*/bin/python -m pip install --quiet -e '.[test]' $(COMPAT_PACKAGES)
	touch $@

compat: $(VENV)-compat-lowest/.installed $(VENV)-compat-newest/.installed
	@for end in lowest newest; do \
		python=$(VENV)-compat-$$end/bin/python; \
		echo "== compat, $$end: $$($$python -c 'from importlib.metadata import version; print(", ".join(f"{p} {version(p)}" for p in ("pydantic-settings", "pydantic", "watchfiles", "cryptography")))')"; \
		$$python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) $(COMPAT_TESTS) || exit 1; \
		$$python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) -k watchfiles $(COMPAT_WATCH_TESTS) || exit 1; \
	done

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
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) $(VENV)-compat-lowest $(VENV)-compat-newest .mypy_cache .ruff_cache .pytest_cache dist build docs/_build
