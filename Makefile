# The two commands of the README. Both run the same idempotent bootstrap first.
SHELL := /bin/bash
VENV := .venv
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
PYTEST_ARGS ?=

.PHONY: bootstrap demo demo-down test lint unit integration slow

bootstrap:
	@scripts/bootstrap.sh

## make demo: the whole platform on this machine (inventories/local)
demo: bootstrap
	@scripts/demo.sh

## make demo-down: everything the demo made (its hosts, and the stacks it started on this engine)
# (ODOOOPS_DEMO_PREFIX as for make demo: its stack is the prefix without the trailing '-')
demo-down:
	@p=$${ODOOOPS_DEMO_PREFIX:-odooops-}; s=$${p%-}; \
	  $(VENV)/bin/python -m testbed stack down --stack "$$s" --stack "$$s-rehearsal" && \
	  $(VENV)/bin/python -m testbed hosts down --prefix "$$p" --network "$${p}lan"

lint:
	@echo "== ruff"; $(VENV)/bin/ruff check plugins testbed tests bench
	@echo "== ansible-lint (production profile)"; $(VENV)/bin/ansible-lint --profile production --offline -q
	@echo "== ansible-test sanity (every default test)"; scripts/sanity.sh

## make test: lint, then the whole suite (unit + integration on real engines)
# (the suite starts the Docker engine itself when none answers, and stops the one it started: not bootstrap)
test: export ODOOOPS_BOOTSTRAP_ENGINE := 0
test: bootstrap lint
	@scripts/run-tests.sh $(PYTEST_ARGS)

unit: bootstrap
	@$(VENV)/bin/pytest -m "not integration" $(PYTEST_ARGS)
