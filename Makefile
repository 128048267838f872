# The two commands (README): `make demo` runs the main job, `make test` the whole test suite.
# Both set up the environment first (scripts/setup_env.sh; a no-op when already done).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test lint bench clean

setup:
	@bash scripts/setup_env.sh

demo: setup
	$(VENV)/bin/reactface demo --out demo_output

test: setup
	$(PY) -m pytest -ra test

lint: setup
	$(PY) -m pytest -ra test/test_lint.py

bench: setup
	$(PY) benchmarks/run_all.py

clean:
	rm -rf build install log demo_output runs
