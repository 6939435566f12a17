# The two commands of the README. Each one sets the environment up first (idempotent).
PY := .venv/bin/python
export OMP_NUM_THREADS ?= 2

.PHONY: setup demo test

setup:
	bash tools/setup_env.sh

demo: setup
	$(PY) tools/toyworld.py

test: setup
	$(PY) -m pytest -q tests
