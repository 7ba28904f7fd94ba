"""`reward_model`: a sequence-classification model's score, through `r1cli reward`, on a tiny
reward model built offline from the tiny test model's config."""

from __future__ import annotations

import pytest

from conftest import read_jsonl, write_jsonl

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def tiny_rm(tmp_path_factory, tiny_model):
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    out = tmp_path_factory.mktemp("rm") / "rm"
    config = AutoConfig.from_pretrained(tiny_model, num_labels=1)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model.config.pad_token_id = tokenizer.pad_token_id or tokenizer.eos_token_id
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def _sample(i: int, completion: str, task: str = "general") -> dict:
    return {"id": f"p{i}", "task": task, "prompt": [{"role": "user", "content": "Say something kind."}], "answer": None,
            "sample_index": 0, "completion": completion, "finish_reason": "stop", "prompt_tokens": 5, "completion_tokens": 5}


def test_reward_model_scores_the_summary_or_the_whole_response(tmp_path, cli, tiny_rm):
    rows = [_sample(0, "<think>first thought</think> Have a good day."), _sample(1, "<think>other musings</think> Have a good day."),
            _sample(2, "Go away."), _sample(3, "<answer>7</answer>", task="arithmetic")]
    samples = write_jsonl(tmp_path / "s.jsonl", rows)
    r = cli("reward", samples, "-r", f"helpfulness=1,reward=reward_model,model={tiny_rm},on=summary,only_task=general",
            "-r", f"harmlessness=1,reward=reward_model,model={tiny_rm}", "-o", tmp_path / "scored.jsonl")
    assert r.code == 0, r
    scored = read_jsonl(tmp_path / "scored.jsonl")
    help_, harm = [s["rewards"]["helpfulness"] for s in scored], [s["rewards"]["harmlessness"] for s in scored]
    # The same summary after different thoughts: the same helpfulness, different harmlessness.
    assert help_[0] == pytest.approx(help_[1]) and harm[0] != pytest.approx(harm[1])
    assert help_[2] != pytest.approx(help_[0])
    assert help_[3] is None and harm[3] is not None  # only_task leaves the reasoning prompt to the rule rewards
    # Batching does not change a score.
    again = cli("reward", samples, "-r", f"reward_model=1,model={tiny_rm},batch_size=1", "-o", "-").records()
    assert [s["rewards"]["reward_model"] for s in again] == pytest.approx(harm, abs=1e-4)


def test_reward_model_settings_are_checked_before_scoring(tmp_path, cli):
    samples = write_jsonl(tmp_path / "s.jsonl", [_sample(0, "hi")])
    for spec, message in (("reward_model=1", "name the model"), ("reward_model=1,model=./nowhere", "--model ./nowhere: no such folder"),
                          ("reward_model=1,model=x/y,on=middle", "on must be one of full, summary")):
        r = cli("reward", samples, "-r", spec, "-o", tmp_path / "o.jsonl")
        assert r.code == 2 and message in r.stderr, (spec, r)
