# Developer entry points. `make test` is what CI runs (through .ci/run).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Local packages in dependency order: base <- calculator <- engine <- connectors <- event-broker.
# portfolio-analytics depends on no local package; rebalance-backtest on the engine and analytics.
PACKAGES := $(wildcard packages/broker-connector-base packages/portfolio-analytics \
	packages/rebalance-calculator packages/rebalance-engine packages/rebalance-backtest \
	packages/ib-gateway-sim \
	packages/alpaca-api-sim packages/fake-ably-server packages/ibkr-connector \
	packages/alpaca-connector)
EDITABLES := $(foreach p,$(PACKAGES),-e $(p)[test])

.PHONY: help install test lint typecheck pytest browser-deps demo demo-backtest bench container-test clean

help:
	@echo "make test            install everything into .venv, then ruff, mypy --strict, pytest"
	@echo "make demo            run the rebalancer end to end on the built-in simulator"
	@echo "make demo-backtest   backtest a demo strategy on real ETF closes (no broker, no daemon)"
	@echo "make bench           run the benchmark scripts under bench/"
	@echo "make container-test  build and run the container image with podman"
	@echo "make browser-deps    install Debian's chromium + chromium-driver for the dashboard's browser tests"

$(STAMP): constraints.txt requirements-dev.txt event-broker/requirements.txt $(wildcard packages/*/pyproject.toml)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required, found " + sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt \
		-r requirements-dev.txt -r event-broker/requirements.txt $(EDITABLES)
	@touch $@

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	@set -e; for p in $(PACKAGES); do \
		echo "mypy --strict $$p"; \
		$(VENV)/bin/mypy --strict $$p/src $$p/tests; \
	done
	$(VENV)/bin/mypy --strict event-broker/app event-broker/tests bench

# The dashboard's browser tests drive Debian's chromium through its chromedriver (nothing can
# be downloaded from elsewhere). Installed here where we may (root, apt); otherwise the tests
# are skipped with a message naming what is missing.
browser-deps:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then \
		true; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium and chromium-driver (apt) for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null \
			|| echo "could not install chromium/chromium-driver: the browser tests will be skipped"; \
	else \
		echo "chromium/chromium-driver missing and not root with apt: the browser tests will be skipped"; \
	fi

pytest: $(STAMP) browser-deps
	$(VENV)/bin/pytest

test: lint typecheck pytest

demo: $(STAMP)
	$(PY) tools/demo.py

demo-backtest: $(STAMP)
	$(PY) tools/demo_backtest.py

bench: $(STAMP)
	@set -e; for b in bench/[!_]*.py; do echo "== $$b"; $(PY) $$b; done

container-test: $(STAMP)
	bash tools/container-test.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
