# Merit: `make run` serves a seeded demo site with a real Celery worker on SQLite and a
# file-system broker (no services needed); `make test` runs the test suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install lock browsers run worker test lint typecheck bench bench-api bench-import bench-refit check-deploy clean

install: $(VENV)/.installed

# Installs exactly what requirements.lock pins, every file checked against its hash. The lock is made from
# requirements.txt (the app) and requirements-dev.txt (tests, lint, bench): after changing either, `make lock`.
$(VENV)/.installed: requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	touch $@

lock:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet pip-tools==7.6.2
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
	    -o requirements.lock requirements-dev.txt

run: install
	DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DEBUG=1 $(BIN)/python manage.py seed_demo --if-empty
	DEBUG=1 $(BIN)/python manage.py recompute_reputation
	@echo "Starting the Celery worker (with beat) and the site on http://$(HOST):$(PORT)/"
	@trap 'kill 0' EXIT INT TERM; \
	DEBUG=1 $(BIN)/celery -A config worker --beat --loglevel=info --concurrency=2 \
	    --schedule=var/celerybeat-schedule & \
	DEBUG=1 $(BIN)/python manage.py runserver $(HOST):$(PORT)

# The browser tests drive Debian's chromium and firefox-esr (Playwright cannot download browsers here).
# A lock another install holds is waited for, up to 15 minutes, instead of failing: apt-get install waits by
# DPkg::Lock::Timeout; apt-get update does not honour it for the lists lock (tried: it failed at once), so it is retried.
browsers:
	@missing=""; [ -x /usr/bin/chromium ] || missing="chromium"; [ -x /usr/bin/firefox-esr ] || missing="$$missing firefox-esr"; \
	if [ -n "$$missing" ]; then \
	    echo "Installing $$missing for the browser tests (apt-get)"; \
	    updated=""; for try in $$(seq 90); do \
	        apt-get update -qq >/dev/null 2>&1 && { updated=1; break; }; \
	        echo "apt-get update failed (another install may hold apt's lock); trying again in 10 s"; sleep 10; \
	    done; \
	    [ -n "$$updated" ] && (DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq $$missing) >/dev/null \
	    || { echo "Could not install $$missing: install them (Debian packages) and run make test again" >&2; exit 1; }; \
	fi

test: install browsers
	@if command -v node >/dev/null; then node --test extension/tests/; \
	else echo "NOTE: node not found, the extension's JS unit tests were not run (the browser e2e tests still run)"; fi
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .

# mypy with django-stubs and djangorestframework-stubs on votes/, reputation/, api/ (mypy.ini). The Django
# plugin imports the settings, which need DEBUG=1 (a development SECRET_KEY) or a SECRET_KEY.
typecheck: install
	DEBUG=1 $(BIN)/mypy

bench: install
	$(BIN)/python bench/run_engine_bench.py

# The API benchmark's load generator is Debian's wrk.
bench-api: install
	@command -v wrk >/dev/null || { echo "Installing wrk for the API benchmark (apt-get)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) >/dev/null \
	    || { echo "Could not install wrk: install the Debian package wrk and run make bench-api again" >&2; exit 1; }; }
	$(BIN)/python bench/run_api_bench.py

bench-import: install
	$(BIN)/python bench/import_bench.py

bench-refit: install
	$(BIN)/python bench/refit_scale.py $(ARGS)

check-deploy: install
	SECRET_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(64))') \
	ALLOWED_HOSTS=merit.example DEBUG=0 $(BIN)/python manage.py check --deploy --fail-level WARNING

clean:
	rm -rf var/broker var/*.sqlite3 var/celerybeat-schedule*
