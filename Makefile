# gridmap: `make demo` serves the Beigan demo, `make test` runs the suite against real PostGIS.
# Both set everything up: the Python packages into .venv/ (pinned by requirements.lock) and,
# when missing, PostgreSQL's PostGIS from Debian (as root; otherwise they say what to run).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed

# Install Debian packages unattended as root; otherwise say what to run.
apt_install = { if [ "$$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(1); \
	else echo "run as root: sudo apt-get install -y $(1)"; exit 1; fi; }

.PHONY: setup demo serve test lint db-up db-down db-status db-reset lock clean bench-import \
	bench-locate

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "gridmap needs Python >= 3.11 as $(PYTHON)"; exit 1; }
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || $(call apt_install,python3-venv)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync -q --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	@touch $@

lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		-o requirements.lock

db-up: setup
	$(BIN)/gridmap db up

db-down: setup
	$(BIN)/gridmap db down

db-status: setup
	$(BIN)/gridmap db status

db-reset: setup
	$(BIN)/gridmap db reset

demo: db-up
	$(BIN)/gridmap demo load
	@echo ""
	@echo "gridmap is serving the Beigan demo at http://$(HOST):$(PORT)/"
	@echo "  http://$(HOST):$(PORT)/health            database and PostGIS versions"
	@echo "  http://$(HOST):$(PORT)/docs              the API, interactive"
	@echo "  http://$(HOST):$(PORT)/api/communities   40 communities (GeoJSON)"
	@echo "  http://$(HOST):$(PORT)/api/grids?community=330109002041"
	@echo "  http://$(HOST):$(PORT)/api/buildings?bbox=120.26,30.17,120.28,30.19"
	@echo "Stop with Ctrl-C; the database keeps running (make db-down stops it)."
	$(BIN)/gridmap serve --host $(HOST) --port $(PORT)

serve: db-up
	$(BIN)/gridmap serve --host $(HOST) --port $(PORT)

test: db-up
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench-import: db-up
	@command -v ogr2ogr >/dev/null || $(call apt_install,gdal-bin)
	$(BIN)/python -m bench.import_buildings

bench-locate: db-up
	@command -v wrk >/dev/null || $(call apt_install,wrk)
	$(BIN)/python -m bench.locate_bulk
	$(BIN)/python -m bench.locate_http

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	-$(BIN)/gridmap db down
	rm -rf $(VENV) var
