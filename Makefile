# The whole set-up on a fresh machine is `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.detectkit-installed
# every optional feature is installed for the demo and the suite (the browser comes from apt)
EXTRAS := dev,onnx,video,openvino,serve,ray

# Ultralytics offline: no downloads, a project-local config dir that already holds a font,
# and no auto-install of missing packages.
export YOLO_OFFLINE := 1
export YOLO_AUTOINSTALL := false
export YOLO_VERBOSE := false
export YOLO_CONFIG_DIR := $(CURDIR)/.cache/ultralytics
export MPLBACKEND := Agg

.PHONY: demo test lint typecheck unit bench install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	$(PY) -m detectkit._setup_fonts "$(YOLO_CONFIG_DIR)"
	bash .ci/system-deps
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

lint: $(STAMP)
	$(VENV)/bin/ruff check detectkit tests benchmarks examples datasets
	$(VENV)/bin/ruff format --check detectkit tests benchmarks examples datasets

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadgroup -q

test: lint typecheck unit

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) .cache out .pytest_cache .mypy_cache .ruff_cache
