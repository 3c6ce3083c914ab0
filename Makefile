# The two commands of the README: `make demo` and `make test`. Both set up everything.
SHELL := /bin/bash
PYTHON ?= python3
export UV_PYTHON_DOWNLOADS := never
# The interpreter itself, not a pyenv shim: uv does not recognise the environment it
# made from a shim as satisfying the shim, and would rebuild .venv on every command.
export UV_PYTHON := $(shell $(PYTHON) -c 'import sys; print(sys.executable)')
# Every sync compiles bytecode: machines that set PYTHONDONTWRITEBYTECODE would
# otherwise recompile every imported module on every run (half a second of each
# CLI call). `uv run` does not sync again (--no-sync): `env` just did.
export UV_COMPILE_BYTECODE := 1
UV := $(PYTHON) -m uv

.PHONY: env demo test services docs bench clean

env:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	@$(UV) sync --frozen --all-groups --quiet
	@.venv/bin/python -m compileall -q airflow_provider_typecheck

# The CLI exits 1 when it finds invalid rows, as it should on the sample: only 2+ is a failure here.
demo: env
	@$(UV) run --frozen --no-sync typecheck validate examples/users.csv --schema examples/users.schema.json; \
	  status=$$?; if [ $$status -gt 1 ]; then exit $$status; fi

services:
	@bash scripts/ensure-services.sh

test: env services
	@bash scripts/ensure-browser.sh
	$(UV) run --frozen --no-sync pytest

# The documentation site, warnings as errors (tests/unit/test_docs.py builds it in `make test` too).
docs: env
	NO_MKDOCS_2_WARNING=1 $(UV) run --frozen --no-sync mkdocs build --strict

# The scale check reads peak RSS from GNU time (Debian package "time").
bench: env
	@test -x /usr/bin/time || apt-get install -y -q time
	$(UV) run --frozen --no-sync python benchmarks/run.py

clean:
	rm -rf .venv .pytest_cache site
