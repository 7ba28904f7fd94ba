# r1cli: set-up, the default main job and the tests. Each target does its own set-up.
#
#   make demo          create .venv, install, run the main job on a tiny model built offline
#   make test          create .venv, install, run the whole test suite
#   make lock-upgrade  try the newest releases of every dependency in a scratch venv, run the
#                      whole suite there, and only if it passes move constraints.txt (and
#                      pyproject.toml's upper bounds) to them
#
# Installs are pinned: pip installs with -c constraints.txt, the versions the suite last passed
# with, so a library released since cannot change what runs. constraints.txt leaves torch out:
# where there is no NVIDIA GPU the CPU build is installed (torch==2.13.0), so pip never pulls
# gigabytes of CUDA wheels; with nvidia-smi present, PyPI's CUDA build.
# Override either way:  make setup TORCH='torch==2.11.0'  [TORCH_INDEX=https://download.pytorch.org/whl/cpu]
#
# The deepspeed extra is installed too: CI runs ZeRO-2/3 launches on 2 CPU processes
# (tests/test_multiprocess.py). It is pure Python on install and never reinstalls torch; on first
# use its CPU accelerator JIT-builds one C++ op (shared-memory all-reduce) with g++, cached in
# ~/.cache/torch_extensions.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= $(if $(shell command -v nvidia-smi 2>/dev/null),torch>=2.11,torch==2.13.0)
TORCH_INDEX ?=
CONSTRAINTS ?= constraints.txt
PYTEST_ARGS ?=
DEMO ?= runs/mini-r1
LOCK_VENV ?= .venv-lock

.PHONY: setup demo test lock-upgrade clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e ".[dev,deepspeed]"
	touch $@

# pytest exits 5 when it collects no tests: that means the suite went missing, so it fails.
test: setup
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests, which counts as a failure" >&2; exit 1; fi; \
	exit $$rc

# The main job: the R1 report's story in miniature (recipes/mini-r1), offline, on a CPU.
demo: setup
	$(MAKE) -C recipes/mini-r1 R1CLI=$(abspath $(BIN)/r1cli) OUT=$(abspath $(DEMO))

# Newest releases (within pyproject's lower bounds), the whole suite, then the new lock.
lock-upgrade:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install -q packaging $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(LOCK_VENV)/bin/python tools/lock.py requirements > $(LOCK_VENV)/requirements.txt
	$(LOCK_VENV)/bin/python -m pip install -q --upgrade -r $(LOCK_VENV)/requirements.txt
	$(LOCK_VENV)/bin/python -m pip install -q --no-deps -e .
	$(LOCK_VENV)/bin/python -m pytest $(PYTEST_ARGS)
	$(LOCK_VENV)/bin/python tools/lock.py write $(LOCK_VENV)
	rm -rf $(LOCK_VENV)
	@echo "lock-upgrade: the suite passed; review and commit constraints.txt and pyproject.toml (make setup reinstalls .venv from them)"

clean:
	rm -rf $(VENV) $(LOCK_VENV) runs .pytest_cache
