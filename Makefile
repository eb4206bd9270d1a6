# tokenledger — the two commands of the quick start are `make demo` and `make test`.
# Each does all of its own set-up: virtual environment, install, dbt manifest.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test-setup demo test bench lint clean dagster

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==0.13.9 || $(BIN)/python -m pip install -q uv
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

# Extra machine set-up, each script idempotent and quick when already done:
# scripts/setup.d/*.sh for running the pipeline (the PostgreSQL server), and
# scripts/test-setup.d/*.sh for the tests only (Chromium for the report test, Superset).
# Bytecode is compiled at install (uv does not by default), and for our own packages here:
# with PYTHONDONTWRITEBYTECODE set, as on these machines, every process would otherwise
# compile dlt, dbt and Dagster from source again (about 4 s each).
setup: $(STAMP)
	@$(BIN)/python -m compileall -q -j 0 tokenledger ingestion orchestration simulator > /dev/null
	@for f in scripts/setup.d/*.sh; do if [ -e "$$f" ]; then bash "$$f" || exit 1; fi; done
	$(BIN)/tokenledger prepare

test-setup: setup
	@for f in scripts/test-setup.d/*.sh; do if [ -e "$$f" ]; then bash "$$f" || exit 1; fi; done

demo: setup
	$(BIN)/tokenledger demo

# Two workers, one test module each at a time, the longest modules first (tests/conftest.py).
test: test-setup
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=15

bench: setup
	$(BIN)/python bench/run_pipeline_bench.py

lint: setup
	$(BIN)/ruff check .

dagster: setup
	$(BIN)/dagster dev -m orchestration.definitions

clean:
	rm -rf $(VENV) warehouse target logs dbt_packages .dlt_pipelines
