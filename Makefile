# The two commands of the README: `make demo` and `make test`. Each sets up everything it
# needs: the virtualenv, the install, and RabbitMQ, Redis and PostgreSQL (with its role and
# database `provisioning`) when they are not running. The demo migrates its database itself.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint services browser bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

services:
	@bash .ci/services

# Debian's chromium for the dashboard's browser test (installed when missing; see .ci/browser).
browser:
	@bash .ci/browser

demo: $(STAMP) services
	$(VENV)/bin/provision demo $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy contracts broker_config producers workers

test: $(STAMP) services browser lint
	$(PY) -m pytest $(ARGS)

bench: $(STAMP) services
	$(PY) -m bench $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
