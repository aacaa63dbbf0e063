# Two commands: `make run` to try the product, `make test` before you push. See README.md.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := run
MAKEFLAGS += --no-print-directory

# The distribution's own Python when it is 3.11 or newer (Debian's and Ubuntu's are built with profile-guided
# and link-time optimisation, like the production image's), else the first python3 on PATH. PYTHON=... to choose.
PYTHON ?= $(shell /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo /usr/bin/python3 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py

# WeasyPrint's libraries (Pango, HarfBuzz subsetting) and fonts for every name a school will have (Greek,
# Cyrillic, Arabic, Urdu, Devanagari, Bengali from fonts-noto-core; Chinese, Japanese, Korean from
# fonts-wqy-microhei); NSS tools (certutil) for the signing-certificate test; Chromium for the browser tests.
DEBIAN_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 fonts-dejavu-core fonts-noto-core fonts-wqy-microhei poppler-utils libnss3-tools chromium

.PHONY: run test install system-packages migrate seed lint format clean bench bench-load

# run: install, migrate, seed the demo organisation, then serve on 127.0.0.1:$PORT (8000) with a worker and beat
run: install migrate
	bin/run

# test: ruff, migrations check, static files, then the whole pytest suite (browser tests included): the
# tests marked serial alone, the rest in parallel across the CPUs, and the 25 slowest printed at the end
test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MANAGE) makemigrations --check --dry-run
	$(MANAGE) collectstatic --noinput --verbosity 0
	bin/test $(PYTEST_ARGS)

# bench: a synthetic trust (12,000 staff, 100 settings) in its own PostgreSQL database `bench`, then the time
# of every page each role uses and of every beat job; not part of `make test`. BENCH_ARGS: see bin/bench --help,
# e.g. make bench BENCH_ARGS="--staff 1200 --settings 10". bench-load adds 50 people browsing (locust).
bench: install
	bin/bench $(BENCH_ARGS)

bench-load: install
	bin/bench --load $(BENCH_ARGS)

# install: the virtual environment, Python and npm packages, and missing Debian packages; does nothing when up to date
install: $(VENV)/.requirements.stamp node_modules/.package-lock.stamp system-packages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.requirements.stamp: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check --quiet -r requirements.txt
	touch $@

# npm ci empties node_modules first, stamp included; the stamp is written after it.
node_modules/.package-lock.stamp: package.json $(wildcard package-lock.json)
	if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
	touch $@

system-packages:
	bin/system-packages $(DEBIAN_PACKAGES)

# var/ holds the SQLite database and other local state; a fresh clone has none.
migrate: install
	mkdir -p var
	$(MANAGE) migrate --noinput

# seed: create the demo organisation once and print its sign-ins
seed: migrate
	$(MANAGE) seed_demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# clean: remove the local database, collected static files, Celery's folders and caches (keeps .venv and node_modules)
clean:
	rm -rf var/db.sqlite3 var/db.sqlite3-wal var/db.sqlite3-shm var/static var/celery var/log var/private
	rm -rf .pytest_cache .ruff_cache test-results
	find . -path ./.venv -prune -o -path ./node_modules -prune -o -name __pycache__ -type d -print0 | xargs -0 rm -rf
