# The commands of the README. Each one sets the environment up first (idempotent).
PY := .venv/bin/python
export OMP_NUM_THREADS ?= 2

.PHONY: setup demo demo-all lint test web

setup:
	bash tools/setup_env.sh

demo: setup
	$(PY) tools/toyworld.py

# The demo plus the GLIP-style grounding head (a fourth detector beside the other three).
demo-all: setup
	$(PY) tools/toyworld.py --methods all

# Lint first (ruff.toml: pyflakes + pycodestyle; setup.cfg: isort as mmdet sorts imports), as
# .pre-commit-config.yaml does on commit.
lint: setup
	$(PY) -m ruff check .
	$(PY) -m isort --check-only --diff .

# The web page over the toy world's ViLD-ensemble model (after `make demo`), on
# http://127.0.0.1:7860/ (this machine only). Other options: make web WEB_ARGS="--port 8000".
WEB_ARGS ?=
web: setup
	$(PY) tools/webdemo.py $(WEB_ARGS)

# Two pytest workers, one thread each (tests are mostly one-thread processes: on 2 cores this
# halves the wall time); test files are kept whole on one worker (--dist loadfile), so a
# module's fixtures are built once, and handed out in collection order (the longest files
# first: tests/conftest.py), not xdist's most-tests-first.
TEST_WORKERS ?= 2
test: lint
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder tests
