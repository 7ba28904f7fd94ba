"""The bad-input catalogue: every way a user can hand r1cli something wrong, one table.

Each row is (id, command line, exit code, message fragment). Every case must give exactly one
line on stderr starting with "error: " that contains the fragment, the exit code (2: bad input,
1: a runtime failure), nothing on stdout, no traceback, and leave the working folder exactly as
it was: no output, no `.partial`, no temporary file. docs/errors.md lists the same catalogue
with the messages users see; keep the two in step.

Placeholders: {model} is the tiny chat model, {base} the same without a chat template, {other}
a tiny model with a different tokenizer, {truncated}, {bad_config} and {no_tokenizer} broken
copies of {model}. Every other path is relative to the working folder that `workdir` fills with
the files below.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest

from conftest import write_jsonl

PROMPT = {"id": "a", "task": "arithmetic", "question": "What is 1 + 1?", "prompt": "1+1=", "answer": "2"}
SAMPLE = {**PROMPT, "sample_index": 0, "completion": "<answer>2</answer>", "finish_reason": "stop",
          "prompt_tokens": 3, "completion_tokens": 5}
SCORED = {**SAMPLE, "rewards": {"accuracy": 1.0}, "reward": 1.0}
CHAT = {**PROMPT, "prompt": [{"role": "user", "content": "What is 1 + 1?"}]}
SFT = {"id": "a", "prompt": "1+1=", "completion": "2"}


def _files(root: Path) -> None:
    """The working folder every case starts from."""
    write_jsonl(root / "p.jsonl", [PROMPT, {**PROMPT, "id": "b"}])
    write_jsonl(root / "chat.jsonl", [CHAT])
    write_jsonl(root / "s.jsonl", [SAMPLE, {**SAMPLE, "sample_index": 1}])
    write_jsonl(root / "scored.jsonl", [SCORED])
    write_jsonl(root / "sft.jsonl", [SFT])
    write_jsonl(root / "sft_chat.jsonl", [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}])
    (root / "bad.jsonl").write_text('{"id": "a", "task": "t", "prompt": "x"}\n{"id": "b",\n')
    (root / "torn.jsonl").write_text(json.dumps(SAMPLE) + "\n" + json.dumps({**SAMPLE, "sample_index": 1})[:40])
    (root / "latin1.jsonl").write_bytes('{"id": "a", "task": "t", "prompt": "caf\u00e9"}\n'.encode("latin-1"))
    (root / "array.jsonl").write_text("[1, 2, 3]\n")
    (root / "empty.jsonl").write_text("")
    (root / "huge.jsonl").write_text(json.dumps({**PROMPT, "prompt": "x" * (HUGE + 10)}) + "\n")
    write_jsonl(root / "intid.jsonl", [{**PROMPT, "id": 7}])
    write_jsonl(root / "dup.jsonl", [PROMPT, PROMPT])
    write_jsonl(root / "noprompt.jsonl", [{"id": "a", "task": "arithmetic"}])
    write_jsonl(root / "numcomp.jsonl", [{**SAMPLE, "completion": 42}])
    write_jsonl(root / "badfinish.jsonl", [{**SAMPLE, "finish_reason": "eos"}])
    write_jsonl(root / "mixed.jsonl", [SAMPLE, {**SAMPLE, "id": "c", "task": "countdown"}])
    write_jsonl(root / "noanswer.jsonl", [{k: v for k, v in SAMPLE.items() if k != "answer"}])
    write_jsonl(root / "emptycomp.jsonl", [{**SFT, "completion": "  "}])
    write_jsonl(root / "userlast.jsonl", [{"messages": [{"role": "assistant", "content": "hi"}, {"role": "user", "content": "x"}]}])
    (root / "typo.yaml").write_text("temprature: 0.5\n")
    (root / "type.yaml").write_text("k: four\n")
    (root / "list.yaml").write_text("- k\n- 4\n")
    (root / "broken.yaml").write_text("k: [1,\n")
    (root / "rewards.yaml").write_text("rewards: {accuracy: {weight: 1.0, strictness: 3}}\n")
    (root / "rewards_int.yaml").write_text("rewards: 3\n")
    (root / "distill.yaml").write_text("reject: {keep: correct, bogus: 1}\n")
    write_jsonl(root / "noanswer_data.jsonl", [{"question": "What is 2 + 2?"}])
    import pandas as pd

    pd.DataFrame({"question": ["What is 1 + 1?", "What is 2 + 2?"], "answer": ["#### 2", float("nan")]}).to_parquet(root / "nan_gold.parquet")
    write_jsonl(root / "int_problem.jsonl", [{"problem": 12, "answer": "3"}])
    # What Python's json reads but no record may hold (json.dumps writes NaN; the rest by hand).
    (root / "nan.jsonl").write_text(json.dumps({**PROMPT, "answer": float("nan")}) + "\n")
    (root / "inf.jsonl").write_text(json.dumps(PROMPT)[:-1] + ', "difficulty": 1e999}\n')
    (root / "surrogate.jsonl").write_text(json.dumps({**SAMPLE, "completion": "ok \ud800"}) + "\n")  # ASCII-escaped
    (root / "bigint.jsonl").write_text(json.dumps(SCORED)[:-1] + ', "answer": ' + "7" * 5000 + "}\n")
    (root / "deep.jsonl").write_text(json.dumps(SAMPLE)[:-1] + ', "meta": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    (root / "deep150.jsonl").write_text(json.dumps(SAMPLE)[:-1] + ', "meta": ' + "[" * 150 + "]" * 150 + "}\n")
    write_jsonl(root / "wizard.jsonl", [{**CHAT, "prompt": [{"role": "wizard", "content": "What is 1 + 1?"}]}])
    write_jsonl(root / "wizard_sft.jsonl", [{"messages": [{"role": "wizard", "content": "hi"}, {"role": "assistant", "content": "hello"}]}])
    # The tiny models' context is 2,048 tokens; each "1 " is two tokens.
    write_jsonl(root / "long.jsonl", [PROMPT, {**PROMPT, "id": "b", "prompt": "1 " * 2500}])
    write_jsonl(root / "mid.jsonl", [PROMPT, {**PROMPT, "id": "b", "prompt": "1 " * 600}])
    write_jsonl(root / "huge_prompt.jsonl", [{**PROMPT, "prompt": "x" * 200_000}])  # refused by its length alone
    (root / "unfinished").mkdir()
    (root / "unfinished" / "r1cli_run.json").write_text("{}\n")
    (root / "foreign").mkdir()
    (root / "foreign" / "notes.txt").write_text("mine\n")
    (root / "a_file").write_text("not a folder\n")
    (root / "cut.gguf").write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 20)  # a header cut short
    (root / "twogguf").mkdir()
    for name in ("a.gguf", "b.gguf"):
        (root / "twogguf" / name).write_bytes(b"GGUF")
    _gguf_of_architecture(root / "alien.gguf", "mamba9")
    # A model folder whose weights exist only as a pickle (never loaded: refused before).
    (root / "pickled").mkdir()
    (root / "pickled" / "config.json").write_text('{"model_type": "qwen2"}\n')
    (root / "pickled" / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")


def _gguf_of_architecture(path: Path, architecture: str) -> None:
    """A well-formed GGUF file (no tensors) of an architecture transformers does not know."""
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), architecture)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def crash(completions, **kwargs):
    """A user's reward function with a bug (`-r test_bad_inputs:crash`): its completions score null."""
    return [1 / 0 for _ in completions]


def oom(completions, **kwargs):
    """A reward function that runs out of memory: the machine's fault, not a completion's."""
    raise MemoryError("simulated")


def short(completions, **kwargs):
    """A reward function that returns too few scores (a bug no completion causes)."""
    return [1.0]


def narrow(completions, answer):
    """A reward function that cannot take the records' other fields."""
    return [1.0 for _ in completions]


def run_r1cli(*args, cwd: Path, env: dict[str, str] | None = None):
    """The real command in a subprocess, with this folder importable (for `test_bad_inputs:crash`)."""
    import subprocess
    import sys

    from conftest import CliResult

    full_env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "r1cli", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=full_env, timeout=300)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


HUGE = 1 << 20  # the line limit for the test (64 MiB in real use): 1 MiB keeps the file small


def _hold_lock(root: Path) -> None:
    """Another run is writing o.jsonl: it holds the lock on o.jsonl.partial."""
    handle = (root / "o.jsonl.partial").open("a+")
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    _held.append(handle)


def _other_settings_partial(root: Path) -> None:
    """A killed `sample` run with other settings left o.jsonl.partial."""
    write_jsonl(root / "o.jsonl.partial", [{"__r1cli_partial__": {"stage": "sample", "k": 2}}, {**SAMPLE}])


def _foreign_partial(root: Path) -> None:
    write_jsonl(root / "o.jsonl.partial", [{"mine": True}])


def _fifo(root: Path) -> None:
    """A named pipe that no program writes to (the wait for one is 0.5 s in these tests)."""
    os.mkfifo(root / "pipe.jsonl")


_held: list = []
SETUPS = {"lock": _hold_lock, "partial": _other_settings_partial, "foreign-partial": _foreign_partial, "fifo": _fifo}

# id, command line, exit code, fragment of the one error line[, extra setup]
CATALOGUE = [
    # -- reading JSONL (the same reader in every stage) ------------------------------------------
    ("missing-input", "sample nope.jsonl -m {model} -o o.jsonl", 2, "nope.jsonl: no such file"),
    ("input-is-folder", "reward foreign -o o.jsonl", 2, "foreign: is a folder, expected a JSONL file"),
    ("malformed-json", "sample bad.jsonl -m {model} -o o.jsonl", 2, "bad.jsonl:2: malformed JSON"),
    ("torn-last-line", "reward torn.jsonl -o o.jsonl", 2, "torn.jsonl:2: malformed JSON: Unterminated string starting at column 35 (the file looks cut off while writing)"),
    ("non-utf8", "sample latin1.jsonl -m {model} -o o.jsonl", 2, "latin1.jsonl:1: not valid UTF-8 (byte 0xe9 at column 40); re-encode the file as UTF-8"),
    ("not-an-object", "reject array.jsonl -o o.jsonl", 2, "array.jsonl:1: expected a JSON object, got list"),
    ("empty-input", "reward empty.jsonl -o o.jsonl", 2, "empty.jsonl: no records (empty input)"),
    ("empty-stdin", "sample - -m {model} -o o.jsonl", 2, "<stdin>: no records (empty input)"),
    ("huge-line", "sample huge.jsonl -m {model} -o o.jsonl", 2, "huge.jsonl:1: line longer than 1 MiB; not a JSONL record"),
    ("nan", "sample nan.jsonl -m {model} -o o.jsonl", 2, "nan.jsonl:1: field 'answer': not a finite number (NaN); a record holds finite numbers only"),
    ("infinite-number", "grpo inf.jsonl -m {model} -o run", 2, "inf.jsonl:1: field 'difficulty': not a finite number (1e999)"),
    ("lone-surrogate", "reward surrogate.jsonl -o o.jsonl", 2, "surrogate.jsonl:1: field 'completion': holds a lone UTF-16 surrogate escape"),
    ("integer-too-long", "reject bigint.jsonl -o o.jsonl", 2, "bigint.jsonl:1: field 'answer': an integer of more than 4300 digits; write it as a string"),
    ("nested-too-deep", "eval deep.jsonl -o o.json", 2, "deep.jsonl:1: nested more than 100 levels deep; not a record"),
    ("nested-deep", "reward deep150.jsonl -o o.jsonl", 2, "deep150.jsonl:1: nested more than 100 levels deep; not a record"),
    ("fifo-without-writer", "reward pipe.jsonl -o o.jsonl", 2, "pipe.jsonl: a named pipe that no program wrote to within 0.5 s", "fifo"),
    # -- record schema ---------------------------------------------------------------------------
    ("wrong-type-id", "sample intid.jsonl -m {model} -o o.jsonl", 2, "intid.jsonl:1: field 'id': must be a non-empty string, got int 7"),
    ("missing-prompt", "grpo noprompt.jsonl -m {model} -o run", 2, "noprompt.jsonl:1: field 'prompt': missing"),
    ("duplicate-id", "sample dup.jsonl -m {model} -o o.jsonl", 2, "dup.jsonl:2: field 'id': duplicate id 'a' (first at line 1)"),
    ("prompts-to-reward", "reward p.jsonl -o o.jsonl", 2, "p.jsonl:1: field 'sample_index': missing; this input must be the output of `r1cli sample`"),
    ("samples-to-reject", "reject s.jsonl -o o.jsonl", 2, "s.jsonl:1: field 'rewards': missing; this input must be the output of `r1cli reward`"),
    ("completion-not-text", "reward numcomp.jsonl -o o.jsonl", 2, "numcomp.jsonl:1: field 'completion': must be a string, got int 42"),
    ("bad-finish-reason", "eval badfinish.jsonl -o o.json", 2, "badfinish.jsonl:1: field 'finish_reason': must be 'stop' or 'length', got str 'eos'"),
    ("empty-completion", "sft emptycomp.jsonl -m {model} -o run", 2, "emptycomp.jsonl:1: field 'completion': must be a non-empty string"),
    ("chat-not-assistant-last", "sft userlast.jsonl -m {model} -o run", 2, "userlast.jsonl:1: field 'messages': the last message must be the assistant's"),
    ("mixed-text-and-chat", "sft sft.jsonl sft_chat.jsonl -m {model} -o run", 2, "sft_chat.jsonl:1: field 'prompt': mixes text prompts and chat messages"),
    ("chat-role-unknown", "sample wizard.jsonl -m {model} -o o.jsonl", 2, "wizard.jsonl:1: field 'prompt': message 1 has role 'wizard'; chat templates know the roles system, user, assistant, tool"),
    ("chat-role-unknown-grpo", "grpo wizard.jsonl -m {model} -o run", 2, "wizard.jsonl:1: field 'prompt': message 1 has role 'wizard'"),
    ("chat-role-unknown-sft", "sft wizard_sft.jsonl -m {model} -o run", 2, "wizard_sft.jsonl:1: field 'messages': message 1 has role 'wizard'"),
    ("prompt-too-long", "sample long.jsonl -m {model} -o o.jsonl", 2, "long.jsonl:2: field 'prompt': 5,000 tokens, over the model's context of 2,048 tokens; shorten it, or pass --long-prompts truncate"),
    ("prompt-too-long-grpo", "grpo p.jsonl -m {model} --max-prompt-tokens 3 -o run", 2, "p.jsonl:1: field 'prompt': 4 tokens, over the limit of 3 (--max-prompt-tokens)"),
    ("prompt-hopelessly-long", "sample huge_prompt.jsonl -m {model} -o o.jsonl", 2, "huge_prompt.jsonl:1: field 'prompt': 200,000 characters, at least 3,846 tokens, over the model's context"),
    # -- rewards ---------------------------------------------------------------------------------
    ("unknown-reward", "reward s.jsonl -r acuracy -o o.jsonl", 2, "unknown reward 'acuracy'; known rewards: accuracy,"),
    ("reward-weight-not-number", "reward s.jsonl -r accuracy=high -o o.jsonl", 2, "--reward 'accuracy=high': weight 'high' is not a number"),
    ("reward-module-missing", "reward s.jsonl -r nosuchpkg.rewards:brevity -o o.jsonl", 2, "reward 'nosuchpkg.rewards:brevity': cannot import module 'nosuchpkg.rewards'"),
    ("reward-unknown-parameter", "reward s.jsonl -c rewards.yaml -o o.jsonl", 2, "reward 'accuracy': unknown parameter(s) strictness; valid parameters: none"),
    ("reward-parameter-infinite", "reward s.jsonl -r overlong=1,max_length=.inf -o o.jsonl", 2,
     "reward 'overlong': parameter max_length must be a finite number, got inf"),
    ("reward-column-missing", "reward noanswer.jsonl -r numeric -o o.jsonl", 2, "noanswer.jsonl:1: field 'answer' missing; reward 'numeric' needs it"),
    ("mixed-tasks-no-reward", "reward mixed.jsonl -o o.jsonl", 2, "the input mixes tasks (arithmetic, countdown); choose rewards with --reward"),
    ("reward-no-output", "reward s.jsonl", 2, "missing --output/-o"),
    ("correct-reward-not-scored", "reject scored.jsonl --correct-reward format -o o.jsonl", 2, "scored.jsonl:1: field 'rewards': no score 'format' for --correct-reward"),
    ("eval-best-of-unknown", "eval s.jsonl --best-of brevity -o o.json", 2, "--best-of brevity: not a field of the records nor a reward"),
    ("reward-column-missing-grpo", "grpo p.jsonl -m {model} -r countdown -o run", 2, "p.jsonl:1: field 'numbers' missing; reward 'countdown' needs it"),
    ("reward-wrong-count", "reward s.jsonl -r test_bad_inputs:short -o o.jsonl", 2, "reward 'test_bad_inputs:short' returned 1 scores for 2 completions"),
    ("reward-signature", "reward s.jsonl -r test_bad_inputs:narrow -o o.jsonl", 2, "reward 'test_bad_inputs:narrow' cannot take the arguments every reward is given"),
    ("rewards-config-not-mapping", "reward s.jsonl -c rewards_int.yaml -o o.jsonl", 2, "rewards_int.yaml: key 'rewards' must be a list or a mapping (or null), got 3"),
    ("best-of-reward-when-sampling", "eval p.jsonl -m {model} --best-of reward -o o.json", 2, "--best-of reward: samples drawn here have no such field; name a reward to compute"),
    # -- config files ----------------------------------------------------------------------------
    ("config-missing", "sample p.jsonl -m {model} -c nope.yaml -o o.jsonl", 2, "nope.yaml: config file not found"),
    ("config-unknown-key", "sample p.jsonl -c typo.yaml -o o.jsonl", 2, "typo.yaml: unknown key 'temprature' (did you mean 'temperature'?); valid keys: model,"),
    ("config-wrong-type", "sample p.jsonl -m {model} -c type.yaml -o o.jsonl", 2, "type.yaml: key 'k' must be an integer, got 'four'"),
    ("config-not-mapping", "reject scored.jsonl -c list.yaml -o o.jsonl", 2, "list.yaml: expected a mapping of config keys, got list"),
    ("config-invalid-yaml", "prepare arithmetic -c broken.yaml -o o.jsonl", 2, "broken.yaml:2: invalid YAML"),
    ("config-nested-unknown-key", "distill p.jsonl --teacher {model} --student {model} -c distill.yaml -o run", 2, "reject.bogus: unknown key; valid keys: keep,"),
    ("tracker-not-installed", "sft sft.jsonl -m {model} --trl report_to=tensorboard -o run", 2, "trl.report_to: tensorboard is not installed; install it with pip install 'r1cli[tensorboard]'"),
    ("trl-unknown-option", "grpo p.jsonl -m {model} --trl gradient_checkpointin=true -o run", 2, "trl.gradient_checkpointin: not an option of TRL's GRPOConfig; did you mean gradient_checkpointing"),
    ("trl-own-field", "grpo p.jsonl -m {model} --trl learning_rate=0.1 -o run", 2, "trl.learning_rate: r1cli sets it from --learning-rate; set it there instead"),
    ("trl-not-key-value", "sft sft.jsonl -m {model} --trl packing -o run", 2, "--trl 'packing': expected KEY=VALUE"),
    # -- flags and sampling parameters -----------------------------------------------------------
    ("flag-not-a-number", "sample p.jsonl -m {model} -k many -o o.jsonl", 2, "Invalid value for '-k'"),
    ("flag-unknown", "sample p.jsonl -m {model} --temp 0.5 -o o.jsonl", 2, "No such option: --temp"),
    ("command-unknown", "smaple p.jsonl", 2, "No such command 'smaple'"),
    ("output-flag-missing", "sample p.jsonl -m {model}", 2, "Missing option '--output' / '-o'"),
    ("model-missing", "sample p.jsonl -o o.jsonl", 2, "--model (config key 'model') is required"),
    ("top-p-zero", "sample p.jsonl -m {model} --top-p 0 -o o.jsonl", 2, "--top-p (config key 'top_p') must be in (0, 1], got 0.0"),
    ("temperature-negative", "sample p.jsonl -m {model} --temperature -1 -o o.jsonl", 2, "--temperature (config key 'temperature') must be >= 0"),
    ("greedy-with-k", "sample p.jsonl -m {model} --temperature 0 -k 4 -o o.jsonl", 2, "-k (config key 'k') must be 1 with --temperature 0"),
    ("k-zero", "eval s.jsonl -k 0 -o o.json", 2, "-k (config key 'k') must be at least 1, got 0"),
    ("max-new-tokens-zero", "sample p.jsonl -m {model} --max-new-tokens 0 -o o.jsonl", 2, "--max-new-tokens (config key 'max_new_tokens') must be at least 1"),
    ("max-new-tokens-beyond-context", "sample p.jsonl -m {model} --max-new-tokens 1000000000 -o o.jsonl", 2, "--max-new-tokens (config key 'max_new_tokens') must be below the model's context of 2,048 tokens"),
    ("completion-beside-prompt", "grpo mid.jsonl -m {model} --max-completion-length 1500 -o run", 2, "--max-completion-length (config key 'max_completion_length') must be at most 848 here: the model's context is 2,048 tokens and the longest prompt (mid.jsonl:2) has 1,200"),
    ("long-prompts-unknown", "sample p.jsonl -m {model} --long-prompts cut -o o.jsonl", 2, "--long-prompts (config key 'long_prompts') must be one of refuse, truncate, got 'cut'"),
    ("flag-infinite", "sample p.jsonl -m {model} --temperature inf -o o.jsonl", 2, "--temperature (config key 'temperature') must be a finite number, got inf"),
    ("trl-nan", "grpo p.jsonl -m {model} --trl max_grad_norm=.nan -o run", 2, "--trl (config key 'trl') must be a finite number at max_grad_norm, got nan"),
    ("weight-infinite", "sft sft.jsonl --weight inf -m {model} -o run", 2, "--weight inf: must be a finite number > 0"),
    ("device-unknown", "sample p.jsonl -m {model} --device tpu -o o.jsonl", 2, "--device 'tpu': not a device; use auto, cpu, cuda, cuda:N or mps"),
    ("dtype-unknown", "sft sft.jsonl -m {model} --dtype int4 -o run", 2, "--dtype (config key 'dtype') must be one of auto, float32, bfloat16, float16, got 'int4'"),
    ("keep-unknown", "reject scored.jsonl --keep all -o o.jsonl", 2, "--keep (config key 'keep') must be one of correct, best, got 'all'"),
    ("merge-with-full", "grpo p.jsonl -m {model} --full --merge -o run", 2, "--merge (config key 'merge') applies to LoRA training only"),
    ("max-length-too-small", "sft sft.jsonl -m {model} --max-length 2 -o run", 2, "--max-length (config key 'max_length') must be at least 8 tokens, got 2"),
    ("backend-unknown", "sample p.jsonl -m {model} --backend turbo -o o.jsonl", 2, "--backend 'turbo': choose one of"),
    ("group-size-one", "grpo p.jsonl -m {model} -G 1 -o run", 2, "--num-generations (config key 'num_generations') must be at least 2"),
    ("batch-not-whole-groups", "grpo p.jsonl -m {model} -G 3 --batch-size 8 -o run", 2, "= 8 completions per generation batch, not divisible by --num-generations 3"),
    ("loss-type-unknown", "grpo p.jsonl -m {model} --loss-type ppo -o run", 2, "--loss-type (config key 'loss_type') must be one of grpo,"),
    ("prompts-twice", "grpo p.jsonl --task arithmetic -m {model} -o run", 2, "give prompts either as INPUT or with --task"),
    ("weights-count", "sft sft.jsonl --weight 1 --weight 2 -m {model} -o run", 2, "2 --weight values for 1 inputs"),
    ("weight-zero", "sft sft.jsonl --weight 0 -m {model} -o run", 2, "inputs: weight of sft.jsonl must be a number > 0, got 0.0"),
    ("pass-rate-band", "reject scored.jsonl --pass-rate 0.9:0.1 -o o.jsonl", 2, "--pass-rate (config key 'pass_rate')"),
    ("n-without-best", "reject scored.jsonl --best-n 2 -o o.jsonl", 2, "--best-n (config key 'best_n') counts the best samples to keep; use it with --keep best"),
    ("language-unknown", "reject scored.jsonl --language klingon -o o.jsonl", 2, "--language (config key 'language') must be auto or a language code"),
    ("on-policy-sequence", "distill p.jsonl --teacher {model} --student {model} --on-policy -o run", 2, "--on-policy (config key 'on_policy') applies to --mode token only"),
    ("teacher-missing", "distill p.jsonl --student {model} -o run", 2, "--teacher (config key 'teacher') is required"),
    ("merge-dtype", "merge foreign --dtype int8 -o merged", 2, "--dtype 'int8': choose float32, bfloat16 or float16"),
    # -- prepare's task data ---------------------------------------------------------------------
    ("task-unknown", "prepare sudoku -o o.jsonl", 2, "unknown task 'sudoku'; built-in tasks: countdown"),
    ("data-missing", "prepare math --data nope.jsonl -o o.jsonl", 2, "nope.jsonl: no such file or folder"),
    ("template-unknown", "prepare arithmetic --template nope -o o.jsonl", 2, "--template 'nope': not a built-in template"),
    ("field-not-key-value", "prepare arithmetic --field question -o o.jsonl", 2, "--field 'question': expected KEY=VALUE"),
    ("generator-option-unknown", "prepare arithmetic --option colour=3 -o o.jsonl", 2, "--option colour: task 'arithmetic' has no such option; its options: digits, ops"),
    ("data-column-missing", "prepare gsm8k --data noanswer_data.jsonl -o o.jsonl", 2, "noanswer_data.jsonl:1: field 'answer': missing; map the gold answer column with --field answer=COLUMN"),
    ("data-gold-nan", "prepare gsm8k --data nan_gold.parquet -o o.jsonl", 2,
     "nan_gold.parquet#2: field 'answer': no gold answer (empty, NaN, or no final answer in the solution); fix or drop the row"),
    ("data-wrong-type", "prepare math --data int_problem.jsonl -o o.jsonl", 2, "int_problem.jsonl:1: field 'problem': must be a non-empty string"),
    ("data-folder-without-data", "prepare math --data foreign -o o.jsonl", 2, "foreign: no data files (expected .jsonl, .json, .parquet, .csv files or a `datasets` folder)"),
    ("n-zero", "prepare arithmetic -n 0 -o o.jsonl", 2, "-n (config key 'n') must be at least 1, got 0"),
    # -- decontaminate's held-out files -----------------------------------------------------------
    ("decontaminate-no-against", "decontaminate p.jsonl -o o.jsonl", 2, "--against (config key 'against') is required"),
    ("decontaminate-against-missing", "decontaminate p.jsonl --against nope.jsonl -o o.jsonl", 2, "nope.jsonl: no such file"),
    ("decontaminate-against-malformed", "decontaminate p.jsonl --against bad.jsonl -o o.jsonl", 2, "bad.jsonl:2: malformed JSON"),
    ("decontaminate-no-text", "decontaminate noprompt.jsonl --against p.jsonl -o o.jsonl", 2, "noprompt.jsonl:1: field 'question': missing; the text to compare is a record's 'question', else 'problem', else 'prompt'"),
    # -- models ----------------------------------------------------------------------------------
    ("model-no-folder", "sample p.jsonl -m ./no-model -o o.jsonl", 2, "--model ./no-model: no such folder"),
    ("model-path-under-folder", "sample p.jsonl -m foreign/no-model -o o.jsonl", 2, "--model foreign/no-model: no such folder (a local path by its form, so not looked up on the hub)"),
    ("model-without-tokenizer", "sample p.jsonl -m {no_tokenizer} -o o.jsonl", 2, "no-tokenizer: no tokenizer files (tokenizer.json, tokenizer_config.json, tokenizer.model, ...); copy them from the model it was made from"),
    ("model-not-model-folder", "sample p.jsonl -m foreign -o o.jsonl", 2, "--model foreign: not a model folder (no config.json, adapter_config.json or .gguf file)"),
    ("model-is-file", "sft sft.jsonl -m a_file -o run", 2, "--model a_file: is a file; pass the model folder"),
    ("model-not-on-hub", "sample p.jsonl -m nobody/no-model -o o.jsonl", 2, "--model 'nobody/no-model': not a local folder, and it could not be loaded from the Hugging Face hub"),
    ("model-gguf-cut-short", "sample p.jsonl -m cut.gguf -o o.jsonl", 2, "cut.gguf: not a readable GGUF file"),
    ("model-gguf-architecture", "grpo p.jsonl -m alien.gguf -r format -o run", 2, "alien.gguf: transformers"),
    ("model-gguf-two-files", "sample p.jsonl -m twogguf -o o.jsonl", 2, "--model twogguf: holds 2 .gguf files (a.gguf, b.gguf); pass the one to use"),
    ("fetch-model-unknown", "fetch-model nope", 2, "fetch-model: unknown model 'nope'; known: smollm2-135m-instruct"),
    ("model-pickle-only", "sample p.jsonl -m pickled -o o.jsonl", 2, "--model pickled: has only pickle weights (pytorch_model.bin), which can run code when loaded"),
    ("eval-model-missing", "eval p.jsonl -m ./no-model -o o.json", 2, "--model ./no-model: no such folder"),
    ("eval-prompts-without-model", "eval p.jsonl -o o.json", 2, "p.jsonl: prompt records need a model to sample from (-m MODEL)"),
    ("model-weights-truncated", "sample p.jsonl -m {truncated} -o o.jsonl", 2, "truncated: cannot be loaded: Error while deserializing header"),
    ("model-config-wrong-type", "sft sft.jsonl -m {bad_config} -o run", 2, "bad-config: cannot be loaded: Validation error for field 'hidden_size': TypeError: Field 'hidden_size' expected int, got str (value: 'big')"),
    ("adapter-not-lora", "sample p.jsonl -m {model} --adapter foreign -o o.jsonl", 2, "--adapter foreign: not a LoRA adapter folder (no adapter_config.json)"),
    ("merge-not-adapter", "merge foreign -o merged", 2, "foreign: not a LoRA adapter folder (no adapter_config.json) nor a GGUF model"),
    ("no-chat-template", "sample chat.jsonl -m {base} -o o.jsonl", 2, "has no chat template, but the prompts are chat messages"),
    ("no-chat-template-sft", "sft sft_chat.jsonl -m {base} -o run", 2, "has no chat template, but the SFT data are chat messages"),
    ("no-chat-template-eval", "eval chat.jsonl -m {base} -o o.json", 2, "has no chat template, but the prompts are chat messages"),
    ("tokenizers-differ", "distill p.jsonl --teacher {model} --student {other} --mode token -o run", 2, "have different tokenizers"),
    # -- outputs ---------------------------------------------------------------------------------
    ("output-exists", "sample p.jsonl -m {model} -o p.jsonl", 2, "p.jsonl: output already exists; pass --force"),
    ("output-is-folder", "reward s.jsonl -o foreign --force", 2, "foreign: output is a folder, expected a file path"),
    ("output-parent-is-file", "prepare arithmetic -o a_file/o.jsonl", 2, "a_file/o.jsonl: a_file is a file, not a folder; choose another output"),
    ("run-folder-parent-is-file", "sft sft.jsonl -m {model} -o a_file/run", 2, "a_file/run: a_file is a file, not a folder; choose another output"),
    ("eval-data-missing", "sft sft.jsonl --eval-data nope.jsonl -m {model} -o run", 2, "nope.jsonl: no such file"),
    ("merge-output-not-empty", "merge unfinished -o foreign", 2, "foreign: not an r1cli output folder (no manifest.json or r1cli_run.json); r1cli never replaces it"),
    ("partial-other-settings", "sample p.jsonl -m {model} -k 3 -o o.jsonl", 2, "o.jsonl.partial: an unfinished run with different settings (", "partial"),
    ("partial-not-ours", "sample p.jsonl -m {model} -k 2 -o o.jsonl", 2, "o.jsonl.partial: not an r1cli partial output; delete it or pass --force", "foreign-partial"),
    ("run-folder-unfinished", "grpo p.jsonl -m {model} -o unfinished", 2, "unfinished: holds an unfinished run; pass --resume to continue it"),
    ("force-foreign-folder", "sft sft.jsonl -m {model} -o foreign --force", 2, "foreign: not an r1cli output folder (no manifest.json or r1cli_run.json); r1cli never replaces it"),
    ("run-folder-is-file", "grpo p.jsonl -m {model} -o a_file", 2, "a_file: exists and is not a folder"),
    ("tiny-model-init-std-infinite", "tiny-model t --init-std inf", 2, "--init-std must be a finite number > 0, got inf"),
    ("tiny-model-not-empty", "tiny-model foreign", 2, "foreign: not an r1cli output folder (no manifest.json or r1cli_run.json); r1cli never replaces it"),
    ("distill-foreign-folder", "distill p.jsonl --teacher {model} --student {model} -o foreign", 2, "foreign: not an r1cli output folder (no manifest.json or r1cli_run.json); r1cli never replaces it"),
    # -- run folders read back (report) -----------------------------------------------------------
    ("report-no-folder", "report nope", 2, "nope: no such folder"),
    ("report-no-artifacts", "report foreign", 2, "foreign: no r1cli artifacts here"),
    # -- runtime failures (exit 1) ---------------------------------------------------------------
    ("output-locked", "prepare arithmetic -n 2 -o o.jsonl", 1, "o.jsonl: another r1cli run is writing this output right now (lock on o.jsonl.partial)", "lock"),
    ("reward-out-of-memory", "reward s.jsonl -r test_bad_inputs:oom -o o.jsonl", 1, "MemoryError: simulated (rerun with --debug for the traceback)"),
]


@pytest.fixture(scope="module")
def other_model(tmp_path_factory) -> Path:
    """A tiny model with a tokenizer of its own (another vocabulary)."""
    from r1cli.tiny import TinySpec, build

    out = tmp_path_factory.mktemp("models") / "tiny-other"
    build(out, TinySpec(seed=1, vocab_size=384))
    return out


@pytest.fixture(scope="module")
def broken_models(tmp_path_factory, tiny_model) -> dict[str, Path]:
    """Copies of the tiny model with truncated weights and with a config value of the wrong type."""
    import shutil

    root = tmp_path_factory.mktemp("broken")
    truncated, bad_config, no_tokenizer = root / "truncated", root / "bad-config", root / "no-tokenizer"
    for folder in (truncated, bad_config, no_tokenizer):
        shutil.copytree(tiny_model, folder)
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    config = json.loads((bad_config / "config.json").read_text())
    (bad_config / "config.json").write_text(json.dumps({**config, "hidden_size": "big"}))
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        (no_tokenizer / name).unlink(missing_ok=True)
    return {"truncated": truncated, "bad_config": bad_config, "no_tokenizer": no_tokenizer}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("r1cli.artifacts.MAX_LINE_BYTES", HUGE)
    monkeypatch.setenv("R1CLI_FIFO_WAIT", "0.5")
    _files(tmp_path)
    yield tmp_path
    while _held:
        _held.pop().close()


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under `root` (hidden ones included) with its size and modification time."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_size if p.is_file() else 0, st.st_mtime_ns if p.is_file() else 0)
    return out


def expand(args: str, paths: dict[str, Path]) -> list[str]:
    return [a.format(**paths) for a in args.split()]


def test_catalogue_is_large_distinct_and_covers_every_command():
    from typer.main import get_command

    from r1cli.cli import app

    ids = [case[0] for case in CATALOGUE]
    assert len(ids) == len(set(ids)) and len(ids) >= 30
    assert len({case[1] for case in CATALOGUE}) == len(CATALOGUE), "every case is a distinct command line"
    commands = set(get_command(app).commands)
    covered = {case[1].split()[0] for case in CATALOGUE}
    assert not commands - covered, f"commands without a bad-input case: {commands - covered}"
    assert {case[2] for case in CATALOGUE} == {1, 2}


def test_catalogue_is_documented():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "errors.md").read_text(encoding="utf-8")
    missing = [case[0] for case in CATALOGUE if f"`{case[0]}`" not in doc]
    assert not missing, f"docs/errors.md lacks: {missing}"


@pytest.mark.parametrize("case_id, args, code, fragment, setup", [(*c, None)[:5] for c in CATALOGUE], ids=[c[0] for c in CATALOGUE])
def test_bad_input(workdir, cli, tiny_model, tiny_base_model, other_model, broken_models, case_id, args, code, fragment, setup):
    if setup:
        SETUPS[setup](workdir)
    before = snapshot(workdir)
    r = cli(*expand(args, {"model": tiny_model, "base": tiny_base_model, "other": other_model, **broken_models}), input="")
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert fragment in lines[0], lines[0]
    assert r.code == code, r
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert snapshot(workdir) == before, "a failed command must leave the working folder as it was"


def test_debug_adds_the_traceback_and_keeps_the_exit_code(tmp_path):
    """`--debug` (or R1CLI_DEBUG=1) shows where an error came from; the one line and the exit code stay."""
    (tmp_path / "bad.jsonl").write_text('{"id": "a"}\n{"id": \n')
    plain = run_r1cli("reward", "bad.jsonl", "-o", "o.jsonl", cwd=tmp_path)
    debug = run_r1cli("--debug", "reward", "bad.jsonl", "-o", "o.jsonl", cwd=tmp_path)
    assert plain.code == debug.code == 2
    assert "Traceback" not in plain.stderr
    assert "Traceback" in debug.stderr and "r1cli.errors.DataError" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == plain.stderr.strip() == "error: bad.jsonl:2: malformed JSON: Expecting value at column 8"
    env_debug = run_r1cli("reward", "nope.jsonl", "-o", "o.jsonl", cwd=tmp_path, env={"R1CLI_DEBUG": "1"})
    assert env_debug.code == 2 and "Traceback" in env_debug.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]


def test_runtime_failure_with_debug_shows_the_library_traceback(tmp_path, cli, monkeypatch):
    """An unexpected exception: one line naming it without --debug, the traceback with it."""
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "s.jsonl", [SAMPLE])
    r = cli("reward", "s.jsonl", "-r", "test_bad_inputs:oom", "-o", "o.jsonl")
    assert r.code == 1 and "rerun with --debug" in r.stderr
    r = run_r1cli("--debug", "reward", "s.jsonl", "-r", "test_bad_inputs:oom", "-o", "o.jsonl", cwd=tmp_path)
    assert r.code == 1 and "Traceback" in r.stderr and "MemoryError" in r.stderr
    assert r.stderr.strip().splitlines()[-1] == "error: MemoryError: simulated"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.jsonl"]
