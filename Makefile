# One-command habits. Python 3.11+ is the only prerequisite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench bench-scale install clean screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,docs]'
	touch $(STAMP)

install: $(STAMP)

## Run signoff on its embedded default: SQLite, built-in model, demo workflow and data.
demo: $(STAMP)
	$(BIN)/signoff demo

## Run the whole test suite (unit, integration on SQLite and PostgreSQL, browser, acceptance).
test: $(STAMP)
	$(BIN)/python -m pytest -q

## Refresh the README's screenshots in docs/screenshots (the test run itself writes to tmp only).
screenshots: $(STAMP)
	$(BIN)/python -m pytest -q tests/browser --update-screenshots

## Static checks: code, types, the container files and the documentation site.
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec compose.yaml
	$(BIN)/python -m signoff.docs_site --check
	site=$$(mktemp -d) && NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir "$$site"; status=$$?; rm -rf "$$site"; exit $$status

## Throughput benchmarks; results go to docs/benchmarks.md.
bench: $(STAMP)
	$(BIN)/python -m bench.run

## Read-path cost vs item count (10k, 100k, 1M) on PostgreSQL, over HTTP.
bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale 10000 100000 1000000

clean:
	rm -rf $(VENV) signoff.db signoff.db-wal signoff.db-shm signoff.db.demo-key
