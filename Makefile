# mailer: `make run` (everything on this machine) and `make test` (the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
DEV    := MAILER_ENV=development

.PHONY: install run test test-busy lint format audit bench browser imap-server clean \
	translations translations-extract translations-update translations-compile translations-init

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Byte-compiled up front: where PYTHONDONTWRITEBYTECODE is set (CI sets it), every `mailer`
# command, worker and test subprocess would otherwise compile the package anew (~0.3 s each).
install: $(VENV)/.installed
	@$(BIN)/python -m compileall -q mailer worker.py wsgi.py >/dev/null

run: install
	$(DEV) $(BIN)/mailer db upgrade
	$(DEV) $(BIN)/mailer demo
	$(DEV) $(BIN)/mailer dev

browser:
	@sh scripts/ensure-chromium.sh

imap-server:
	@sh scripts/ensure-dovecot.sh

test: install browser imap-server
	$(BIN)/pytest $(PYTEST_ARGS)

# The suite on a fresh clone, three times in a row, beside two CPU-bound processes.
test-busy:
	@sh scripts/test-busy.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy mailer

# Known vulnerabilities in the installed packages (asks PyPI's advisory data over the
# network, so it is not part of `make test` or CI); mailer itself is skipped.
audit: install
	$(BIN)/pip-audit --skip-editable

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Benchmarks, not part of `make test`: sign-up timings, a sign-up burst against gunicorn
# (bench/signup_load.py), then the delivery engine (issue 4;
# BENCH_N, BENCH_CONCURRENCY, BENCH_DATABASE_URL, ...: see bench/delivery.py).
bench: install
	-@sh scripts/ensure-smtp-sink.sh
	$(BIN)/python -m bench.database
	$(BIN)/python -m bench.signup_timing
	$(BIN)/python -m bench.signup_load
	$(BIN)/python -m bench.delivery
	BENCH_VERIFY=1 $(BIN)/python -m bench.delivery

# Catalogues (issue 12): translations/<lang>/LC_MESSAGES/messages.po, English the source.
# The compiled .mo files are committed, so a fresh clone's `make run` and `make test` have
# them; tests/test_translations.py fails when one is older than its .po.
BABEL := $(BIN)/pybabel
BABEL_EXTRACT := $(BABEL) extract --add-comments=Translators: --sort-by-file \
	--keywords=_l --keywords=lazy_gettext --project=mailer --copyright-holder=mailer --msgid-bugs-address=-

translations: translations-extract translations-update translations-compile

translations-extract: install
	$(BABEL_EXTRACT) -F babel.cfg -o translations/messages.pot .
	$(BABEL_EXTRACT) -F babel-admin.cfg -o translations/admin.pot .

translations-update: install
	$(BABEL) update -i translations/messages.pot -d translations --width=100

translations-compile: install
	$(BABEL) compile -d translations --statistics

# A new language: make translations-init CODE=de, translate its messages.po, then compile.
translations-init: install
	@test -n "$(CODE)" || { echo "usage: make translations-init CODE=de" >&2; exit 1; }
	$(BABEL) init -i translations/messages.pot -d translations -l $(CODE) --width=100

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
