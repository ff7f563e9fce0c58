# mtcontrast: `make run` (install if needed, then `dvc repro`) and `make test` (install if needed, then tests).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FIND_LINKS := $(shell pip config get global.find-links 2>/dev/null)

# Offline / telemetry env defaults are set by `import mtcontrast` (src/mtcontrast/__init__.py); DVC's own analytics
# are off in .dvc/config. The venv's bin first, so that `dvc repro` runs the stages with the venv's python.
export PATH := $(abspath $(VENV))/bin:$(PATH)
# Python writes bytecode caches (.pyc, git-ignored) for what it imports, even where PYTHONDONTWRITEBYTECODE is set
# (this machine, CI): otherwise every stage process recompiles torch, timm and MLflow from source (~4 s each), and
# compiling the whole venv at install instead costs ~65 s (measured with uv --compile-bytecode on 2 cores).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install run study test test-slow lint bench prefect-server clean-venv

install: $(STAMP)

# Re-install only when the dependency declaration changes. uv (from the registry, ~15 s for the whole stack)
# with the machine's find-links when it exists; plain pip otherwise. torch is pinned by constraint.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	@set -e; \
	if [ -n "$(FIND_LINKS)" ] && $(VENV)/bin/pip install -q uv >/dev/null 2>&1; then \
	  echo "installing with uv (find-links: $(FIND_LINKS))"; \
	  $(VENV)/bin/uv pip install -q --python $(PY) --find-links "$(FIND_LINKS)" -c constraints.txt -e '.[dev,pipeline]'; \
	else \
	  echo "installing with pip"; \
	  $(VENV)/bin/pip install -q -c constraints.txt -e '.[dev,pipeline]'; \
	fi
	@$(VENV)/bin/dvc config --global core.analytics false >/dev/null 2>&1 || true
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/dvc repro

# The study across data regimes (docs/study.md): the prepared data of params.yaml, then the Prefect flow.
# STUDY_ARGS go to the flow, e.g. STUDY_ARGS="--regime full" or STUDY_ARGS="-S study.name=study_scenes3".
STUDY_ARGS ?=
study: $(STAMP)
	$(VENV)/bin/dvc repro prepare
	$(PY) -m pipelines.study $(STUDY_ARGS)

test: $(STAMP)
	$(PY) -m pytest -m "not slow" -q

test-slow: $(STAMP)
	$(PY) -m pytest -m slow -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

# The Prefect server for cron schedules: on 127.0.0.1, analytics off, its database in this project's .prefect/
# (not the ~/.prefect every clone on the machine shares).
prefect-server: $(STAMP)
	PREFECT_HOME=$(abspath .prefect) PREFECT_SERVER_ANALYTICS_ENABLED=false $(VENV)/bin/prefect server start --host 127.0.0.1

clean-venv:
	rm -rf $(VENV)
