# What every recipe's Makefile shares: `include ../common.mk` once OUT is set.
#
# Every output is a file target written atomically by r1cli, and a training stage is complete
# when its folder's manifest.json exists, so make's timestamps drive incremental reruns.

SHELL := /bin/bash
.DELETE_ON_ERROR:
.SUFFIXES:
# The rules below must not become the default goal: `make` alone runs the recipe's `all`.
.DEFAULT_GOAL := all

R1CLI ?= r1cli
# Training stages run under LAUNCH: e.g. 'accelerate launch --config_file ../accelerate/zero3.yaml -m r1cli'.
LAUNCH ?= $(R1CLI)
PYTHON ?= python3

# An output that exists is out of date when make reruns its rule: replace it.
FORCE = $(if $(wildcard $@),--force)
# A training folder: replace a finished run, continue an unfinished one.
RESUME = $(if $(wildcard $(@D)/manifest.json),--force,--resume)
# A file task reads DATA; a generated one (the smoke runs' arithmetic) takes a split.
source = $(if $(1),--data $(1),--split $(2))

$(OUT):
	mkdir -p $@

# -- smoke runs: the recipe's pipeline on tiny models built offline, on CPU -----------------------
TINY ?= $(OUT)/tiny

$(TINY)/config.json: | $(OUT)
	$(R1CLI) tiny-model $(@D) $(if $(wildcard $(@D)),--force)

# A random tiny model is never right, so a smoke *teacher* is the tiny model fine-tuned on the
# smoke prompts with two answers each, the right one and one off by one: it memorises both and
# samples a mix, which is what rejection sampling needs to have something to keep and drop.
TRACES_PY = import json, sys; [print(json.dumps({**r, "completion": "<think> " + r["question"] + " </think> <answer> " + str(int(r["answer"]) + wrong) + " </answer>"})) for r in map(json.loads, sys.stdin) for wrong in (0, 1)]

$(OUT)/smoke-traces.jsonl: $(OUT)/prompts.jsonl
	$(PYTHON) -c '$(TRACES_PY)' < $< > $@.partial && mv $@.partial $@

$(OUT)/smoke-teacher/manifest.json: $(OUT)/smoke-traces.jsonl $(TINY)/config.json
	$(R1CLI) sft $< -m $(TINY) --full --learning-rate 3e-3 --epochs 30 --batch-size 8 --no-gradient-checkpointing -o $(@D) $(RESUME)

# Tiny models run fastest on one CPU thread (more threads only contend, worse on a shared host).
.PHONY: smoke clean clean-smoke
smoke: $(TINY)/config.json
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(MAKE) all OUT=$(OUT) $(SMOKE)

clean:
	rm -rf $(OUT)

clean-smoke:
	rm -rf runs/$(notdir $(CURDIR))-smoke
