# Servicekonto: `make run` starts a test system, `make test` runs the whole suite.
# Every target installs what it needs first; the installs re-run only when pyproject.toml changes.

PYTHON3 ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
PY      := $(BIN)/python
PIP     := $(PY) -m pip --disable-pip-version-check
CHROMIUM := /usr/bin/chromium

# Stamps inside .venv: deleting .venv starts over.
INSTALLED     := $(VENV)/.installed
INSTALLED_DEV := $(VENV)/.installed-dev
# axe-core for the accessibility tests, only once the project has a package-lock.json.
NODE_DEPS := $(if $(wildcard package-lock.json),node_modules/.installed)

LOCALE_DIR := src/servicekonto/locale
POT        := $(LOCALE_DIR)/messages.pot

HOST ?= 127.0.0.1
PORT ?= 8000
URL  := http://$(HOST):$(PORT)

.PHONY: help run test lint bench messages chromium clean distclean

help:
	@echo "make run        start a test system with demo data at $(URL)/"
	@echo "make test       run the whole test suite (PYTEST_ARGS=... to narrow it; needs PostgreSQL and Redis)"
	@echo "make lint       ruff, mypy, import-linter"
	@echo "make bench      benchmarks in bench/, side by side with a peer"
	@echo "make messages   extract translatable strings and update the German catalogue"
	@echo "make clean      remove caches and build output (make distclean: also .venv, node_modules, var)"

$(PY):
	$(PYTHON3) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(PY)
	$(PIP) install -e .
	touch $@

$(INSTALLED_DEV): pyproject.toml | $(PY)
	$(PIP) install -e '.[dev]'
	touch $@ $(INSTALLED)

node_modules/.installed: package-lock.json package.json
	npm ci --no-audit --no-fund
	touch $@

# The demo portal "Musterstadt" runs beside the server and stops with it (the trap on the same recipe line).
run: PORTAL_PORT ?= 8001
run: export SERVICEKONTO_BASE_URL ?= $(URL)
run: export DEMO_PORTAL_URL = http://$(HOST):$(PORTAL_PORT)
run: $(INSTALLED)
	$(BIN)/servicekonto migrate
	$(BIN)/servicekonto demo
	@echo
	@echo "  Servicekonto (test system) is starting. Open:"
	@echo "    start page   $(URL)/"
	@echo "    register     $(URL)/registrieren"
	@echo "    mail outbox  $(URL)/entwicklung/postausgang   (the test system's mails: confirmation links)"
	@echo "    demo portal  $(DEMO_PORTAL_URL)/   (Musterstadt: log in with Servicekonto, apply for a parking permit)"
	@echo "    health       $(URL)/healthz"
	@echo "  Stop with Ctrl+C."
	@echo
	DEMO_PORTAL_CREDENTIALS=$${SERVICEKONTO_DATA_DIR:-var}/demo-portal.json \
		$(PY) -m servicekonto.demo_portal --host $(HOST) --port $(PORTAL_PORT) & portal=$$!; \
	trap 'kill $$portal 2>/dev/null' EXIT INT TERM; \
	SERVICEKONTO_LOG_FORMAT=$${SERVICEKONTO_LOG_FORMAT:-console} $(BIN)/servicekonto serve --host $(HOST) --port $(PORT)

# Debian's Chromium drives the browser tests; never a browser download of Playwright's own.
chromium:
	@if [ -x $(CHROMIUM) ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium </dev/null \
			&& test -x $(CHROMIUM); \
	else \
		echo "$(CHROMIUM) is missing: the browser tests need Debian's chromium."; \
		echo "Install it with: sudo apt-get install chromium"; \
		exit 1; \
	fi

test: $(INSTALLED_DEV) $(NODE_DEPS) chromium
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(INSTALLED_DEV)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# wrk is the load generator of choice; without it the benchmarks fall back to a Python one.
bench: $(INSTALLED)
	@if ! command -v wrk >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk </dev/null; \
	fi
	@for script in bench/[!_]*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# English msgids in the code and the templates; `_`, `gettext` and `ngettext` are Babel's default keywords.
messages: $(INSTALLED)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext \
		--project=Servicekonto --copyright-holder="Servicekonto contributors" \
		--sort-by-file -o $(POT) src
	@if [ -f $(LOCALE_DIR)/de/LC_MESSAGES/messages.po ]; then \
		$(BIN)/pybabel update -i $(POT) -d $(LOCALE_DIR) -l de; \
	else \
		$(BIN)/pybabel init -i $(POT) -d $(LOCALE_DIR) -l de; \
	fi

clean:
	find . -path ./$(VENV) -prune -o -path ./node_modules -prune -o -name __pycache__ -type d -exec rm -rf {} +
	rm -rf .pytest_cache .mypy_cache .ruff_cache .import_linter_cache build dist test-results src/*.egg-info

# Also the installs and the local test system's data (database, generated secret key, mail outbox).
distclean: clean
	rm -rf $(VENV) node_modules var
