# mailer: `make run` (everything on this machine) and `make test` (the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
DEV    := MAILER_ENV=development

.PHONY: install run test lint format bench browser imap-server clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(DEV) $(BIN)/flask --app wsgi db upgrade
	$(DEV) $(BIN)/flask --app wsgi demo
	$(DEV) $(BIN)/mailer dev

browser:
	@sh scripts/ensure-chromium.sh

imap-server:
	@sh scripts/ensure-dovecot.sh

test: install browser imap-server
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy mailer

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

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
