# r1cli: set-up, the default main job and the tests. Each target does its own set-up.
#
#   make demo     create .venv, install, run the main job on a tiny model built offline
#   make test     create .venv, install, run the whole test suite
#
# torch: where there is no NVIDIA GPU the CPU build is installed (torch==2.13.0), so pip
# never pulls gigabytes of CUDA wheels; with nvidia-smi present, PyPI's CUDA build.
# Override either way:  make setup TORCH='torch==2.11.0'  [TORCH_INDEX=https://download.pytorch.org/whl/cpu]

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= $(if $(shell command -v nvidia-smi 2>/dev/null),torch>=2.11,torch==2.13.0)
TORCH_INDEX ?=
PYTEST_ARGS ?=
DEMO ?= runs/mini-r1

.PHONY: setup demo test clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

# pytest exits 5 when it collects no tests: that means the suite went missing, so it fails.
test: setup
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests, which counts as a failure" >&2; exit 1; fi; \
	exit $$rc

# The main job: the R1 report's story in miniature (recipes/mini-r1), offline, on a CPU.
demo: setup
	$(MAKE) -C recipes/mini-r1 R1CLI=$(abspath $(BIN)/r1cli) OUT=$(abspath $(DEMO))

clean:
	rm -rf $(VENV) runs .pytest_cache
