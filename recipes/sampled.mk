# Rules shared by the recipes that prepare prompts from TASK/DATA/N (and TEST_TASK/TEST_DATA/
# TEST_N), decontaminate them and sample a teacher on them: `include ../sampled.mk` after ../common.mk.

$(OUT)/prompts.jsonl: prepare.yaml $(wildcard $(DATA)) | $(OUT)
	$(R1CLI) prepare $(TASK) $(call source,$(DATA),train) $(if $(N),-n $(N)) -c prepare.yaml $(PREPARE_FLAGS) -o $@ $(FORCE)

$(OUT)/test_prompts.jsonl: prepare-test.yaml $(wildcard $(TEST_DATA)) | $(OUT)
	$(R1CLI) prepare $(TEST_TASK) $(call source,$(TEST_DATA),test) $(if $(TEST_N),-n $(TEST_N)) -c prepare-test.yaml $(PREPARE_FLAGS) -o $@ $(FORCE)

# Training prompts sharing an 8-gram with a held-out prompt are dropped (listed, with their match,
# in prompts.clean.jsonl.report.jsonl): the test prompts stay unseen.
$(OUT)/prompts.clean.jsonl: $(OUT)/prompts.jsonl $(OUT)/test_prompts.jsonl
	$(R1CLI) decontaminate $< --against $(word 2,$^) $(DECONTAMINATE_FLAGS) -o $@ $(FORCE)

# The teacher's attempts, K per prompt (resumable: rerun after a kill), and their scores.
$(OUT)/samples.jsonl: $(OUT)/prompts.clean.jsonl sample.yaml $(TEACHER_DEP)
	$(R1CLI) sample $< -m $(TEACHER) -c sample.yaml $(SAMPLE_FLAGS) -o $@ $(FORCE)

$(OUT)/scored.jsonl: $(OUT)/samples.jsonl reward.yaml
	$(R1CLI) reward $< -c reward.yaml -o $@ $(FORCE)
