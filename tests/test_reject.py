"""`r1cli reject` as a user runs it: drop counts in the manifest, every mode, pipes, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from conftest import REPO, CliResult, read_jsonl, write_jsonl
from r1cli import artifacts, records
from r1cli.cli import app as main_app
from r1cli.commands.reject import RejectConfig, run

SNIPPET = REPO / "docs" / "reject_cli_snippet.py"
WIRED = "reject" in typer.main.get_command(main_app).commands
needs_wiring = pytest.mark.skipif(not WIRED, reason="`reject` is not wired into r1cli.cli yet (docs/reject_cli_snippet.py)")


def _reject_app() -> typer.Typer:
    """The real app once `reject` is wired; until then, a copy holding the snippet's command."""
    if WIRED:
        return main_app
    from r1cli import cli

    app = typer.Typer(cls=cli._Group, name="r1cli", no_args_is_help=True, add_completion=False,
                      pretty_exceptions_enable=False, context_settings={"help_option_names": ["-h", "--help"]})
    app.callback()(cli._main)
    namespace = {**vars(cli), "app": app}
    exec(compile(SNIPPET.read_text(encoding="utf-8"), str(SNIPPET), "exec"), namespace)
    return app


@pytest.fixture(scope="module")
def reject_app() -> typer.Typer:
    return _reject_app()


@pytest.fixture
def r1(reject_app):
    runner = CliRunner()

    def invoke(*args, input: str | None = None, env: dict | None = None) -> CliResult:
        result = runner.invoke(reject_app, [str(a) for a in args], input=input, env=env, catch_exceptions=False)
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return invoke


# -- a hand-made scored file with every drop reason -------------------------------------------------------------------
PROMPTS = {
    "A": {"task": "arithmetic", "question": "What is 3 + 4?", "answer": "7"},
    "B": {"task": "arithmetic", "question": "3 加 4 等于多少？", "answer": "7", "language": "zh"},
    "C": {"task": "arithmetic", "question": "What is 2 + 2?", "answer": "4"},
    "D": {"task": "arithmetic", "question": "What is 9 - 5?", "answer": "4"},
    "E": {"task": "arithmetic", "question": "What is 1 + 1?", "answer": "2"},
}
LONG_EN = ("first we add three and four together, counting up from three: four, five, six, seven. "
           "then we check it the other way round, starting from four and counting three more steps, "
           "which lands on seven again, so both orders agree and the sum is seven ")


def row(pid: str, i: int, thought: str, answer: str, score: float | None, *, reward: float | None = None,
        tokens: int = 40, finish: str = "stop") -> dict:
    completion = f"<think>{thought}</think> <answer>{answer}</answer>" if finish == "stop" else f"<think>{thought}"
    total = reward if reward is not None else (None if score is None else 1.0 * score + 0.2)
    return {"id": pid, **PROMPTS[pid], "prompt": f"User: {PROMPTS[pid]['question']}. Assistant:", "sample_index": i,
            "completion": completion, "finish_reason": finish, "prompt_tokens": 12, "completion_tokens": tokens,
            "rewards": {"accuracy": score, "format": 1.0}, "reward": total}


ROWS = [
    row("A", 0, LONG_EN, "7", 1.0),  # kept
    row("A", 1, LONG_EN, "7", 1.0),  # duplicate of 0
    row("A", 2, "three plus four is eight", "8", 0.0),  # incorrect
    row("A", 3, "three plus four is seven", "7", None),  # unjudged
    row("A", 4, "three plus four is", "", 1.0, finish="length"),  # truncated
    row("A", 5, "三加四等于七，所以答案是七", "7", 1.0),  # mixed_language (the target is English)
    row("A", 6, "x" * 3001, "7", 1.0),  # long_paragraph
    row("A", 7, "check:\n```python\nprint(3 + 4)\n```\nso seven", "7", 1.0),  # code_block
    row("A", 8, "adding four to three gives seven, then double checking", "7", 1.0, tokens=2000),  # too_long
    row("A", 9, "seven", "7", 1.0, tokens=2),  # too_short
    row("A", 10, LONG_EN + "indeed", "7", 1.0),  # near_duplicate of 0
    row("A", 11, "three and four are seven altogether", "7", 1.0, reward=1.0),  # low_reward
    row("A", 12, "four more than three is seven", "7", 1.0),  # kept
    row("B", 0, "先算 3 加 4，得到 7", "7", 1.0),  # kept
    row("B", 1, "四加三也是七，所以答案是 7", "7", 1.0),  # kept
    row("B", 2, "三加四等于八", "8", 0.0),  # incorrect
    row("B", 3, "三加四等于六", "6", 0.0),  # incorrect
    row("C", 0, "two plus two is four", "4", 1.0),  # kept
    row("C", 1, "two and two make four", "4", 1.0),  # kept
    row("D", 0, "nine minus five is three", "3", 0.0),  # incorrect
    row("D", 1, "nine minus five is five", "5", 0.0),  # incorrect
    row("E", 0, "one plus one is two", "2", None),  # unjudged
    row("E", 1, "one and one make two", "2", None),  # unjudged
]
FILTERS = ("--min-tokens", "5", "--max-tokens", "1000", "--min-reward", "1.1")


@pytest.fixture
def scored(tmp_path) -> Path:
    return write_jsonl(tmp_path / "scored.jsonl", ROWS)


def manifest(path: Path) -> dict:
    return json.loads(Path(f"{path}.manifest.json").read_text(encoding="utf-8"))


def test_every_drop_reason_counted_once(tmp_path, scored, r1):
    out = tmp_path / "sft.jsonl"
    r = r1("reject", scored, *FILTERS, "-o", out)
    assert r.code == 0, r
    stats = manifest(out)["stats"]
    assert stats["dropped"] == {
        "unjudged": 3, "incorrect": 5, "low_reward": 1, "truncated": 1, "too_short": 1, "too_long": 1,
        "mixed_language": 1, "long_paragraph": 1, "code_block": 1, "duplicate": 1, "near_duplicate": 1,
    }
    assert stats["kept"] == 6 and stats["kept"] + sum(stats["dropped"].values()) == stats["records_in"] == len(ROWS)
    assert (stats["prompts_in"], stats["prompts_out"], stats["unit"], stats["mode"]) == (5, 3, "samples", "sft")
    assert stats["correct_reward"] == ["accuracy"]
    rates = stats["pass_rate"]
    assert rates["unjudged"] == 1 and rates["all_correct"] == 1 and rates["none_correct"] == 1
    assert rates["mean"] == pytest.approx((11 / 12 + 0.5 + 1 + 0) / 4)
    kept = read_jsonl(out)
    assert [(k["id"], k["sample_index"]) for k in kept] == [("A", 0), ("A", 12), ("B", 0), ("B", 1), ("C", 0), ("C", 1)]
    # Records only grow: each kept record is its input record plus `pass_rate`.
    by_key = {(x["id"], x["sample_index"]): x for x in ROWS}
    for k in kept:
        assert {f: v for f, v in k.items() if f != "pass_rate"} == by_key[k["id"], k["sample_index"]]
    assert kept[0]["pass_rate"] == pytest.approx(11 / 12) and kept[2]["pass_rate"] == 0.5
    m = manifest(out)
    assert m["stage"] == "reject" and m["output"]["rows"] == 6 and m["inputs"][0]["rows"] == len(ROWS)
    assert m["config"]["min_reward"] == 1.1
    # The same counts, as a table on stderr.
    for reason, n in stats["dropped"].items():
        assert reason in r.stderr
    assert "kept" in r.stderr and "near_duplicate" in r.stderr


@pytest.mark.parametrize("args, kept, dropped", [
    (["--keep", "best"], [("A", 0), ("B", 0), ("C", 0), ("D", 0)],  # ties broken by sample_index
     {"unjudged": 3, "truncated": 1, "mixed_language": 1, "long_paragraph": 1, "code_block": 1, "duplicate": 1,
      "near_duplicate": 1, "not_best": 10}),
    (["--keep", "best", "--best-n", "2", "--min-reward", "1.1"], [("A", 0), ("A", 8), ("B", 0), ("B", 1), ("C", 0), ("C", 1)],
     {"unjudged": 3, "low_reward": 6, "truncated": 1, "mixed_language": 1, "long_paragraph": 1, "code_block": 1,
      "duplicate": 1, "near_duplicate": 1, "not_best": 2}),
    (["--max-per-prompt", "1"], [("A", 0), ("B", 0), ("C", 0)],
     {"unjudged": 3, "incorrect": 5, "truncated": 1, "mixed_language": 1, "long_paragraph": 1, "code_block": 1,
      "duplicate": 1, "near_duplicate": 1, "over_cap": 6}),
    (["--pass-rate", "0.1:0.95", "--no-dedup", "--keep-truncated", "--code-blocks", "keep", "--max-paragraph-chars", "0",
      "--min-language-share", "0"], [("A", 0), ("A", 1), ("A", 4), ("A", 5), ("A", 6), ("A", 7), ("A", 8), ("A", 9), ("A", 10),
                                      ("A", 11), ("A", 12), ("B", 0), ("B", 1)],
     {"pass_rate_unknown": 2, "pass_rate_below": 2, "pass_rate_above": 2, "unjudged": 1, "incorrect": 3}),
])
def test_policies(tmp_path, scored, r1, args, kept, dropped):
    out = tmp_path / "sft.jsonl"
    r = r1("reject", scored, *args, "-o", out)
    assert r.code == 0, r
    assert [(k["id"], k["sample_index"]) for k in read_jsonl(out)] == kept
    stats = manifest(out)["stats"]
    assert stats["dropped"] == dropped and stats["kept"] == len(kept)


def test_pass_rate_band_prompts_feed_grpo(tmp_path, scored, r1):
    out = tmp_path / "rl.jsonl"
    r = r1("reject", scored, "--pass-rate", "0.1:0.95", "--prompts", "-o", out)
    assert r.code == 0, r
    prompts = read_jsonl(out)
    records.validate(artifacts.read_jsonl(out), "prompt")
    assert [(p["id"], p["pass_rate"]) for p in prompts] == [("A", pytest.approx(11 / 12)), ("B", 0.5)]
    for p in prompts:
        assert not set(p) & {*records.SAMPLE_FIELDS, *records.SCORED_FIELDS, "reward_info"}
        assert p["question"] == PROMPTS[p["id"]]["question"] and p["prompt"].startswith("User: ")
    assert prompts[1]["language"] == "zh"  # task metadata stays
    stats = manifest(out)["stats"]
    assert (stats["unit"], stats["kept"], stats["prompts_out"]) == ("prompts", 2, 2)
    assert stats["dropped"] == {"pass_rate_unknown": 1, "pass_rate_below": 1, "pass_rate_above": 1}


def test_reformat_summary(tmp_path, scored, r1):
    out = tmp_path / "sft.jsonl"
    assert r1("reject", scored, "--reformat", "summary", "-o", out).code == 0
    kept = read_jsonl(out)
    by_key = {(x["id"], x["sample_index"]): x for x in ROWS}
    assert len(kept) == 9
    for k in kept:
        original = by_key[k["id"], k["sample_index"]]
        assert k["completion"] == original["completion"]
        assert {f: v for f, v in k.items() if f not in ("sft_target", "pass_rate")} == original
        thought = k["completion"].split("<think>")[1].split("</think>")[0]
        if k["id"] == "B":
            assert k["sft_target"] == f"<think>\n{thought}\n</think>\n\n最终答案是 7。\n\n<answer>7</answer>"
        else:
            assert k["sft_target"] == f"<think>\n{thought.strip()}\n</think>\n\nThe final answer is {k['answer']}.\n\n<answer>{k['answer']}</answer>"


def test_journey(tmp_path, scored, r1):
    out, again, other = tmp_path / "j.jsonl", tmp_path / "j2.jsonl", tmp_path / "j3.jsonl"
    assert r1("reject", scored, "--journey", "--seed", "1", "-o", out).code == 0
    traces = read_jsonl(out)
    assert [t["id"] for t in traces] == ["A", "B"]
    a, b = traces
    assert a["journey"] == {"wrong": 2, "correct": a["journey"]["correct"]}  # A's only wrong attempt
    assert b["journey"]["wrong"] in (2, 3) and b["journey"]["correct"] in (0, 1)
    assert "Wait, that gives 8, which does not check out. Let me redo it." in a["sft_target"]
    assert "验算不对。让我重新做一遍。" in b["sft_target"]  # the correction is in the prompt's language
    by_key = {(x["id"], x["sample_index"]): x for x in ROWS}
    for t in traces:
        right = by_key[t["id"], t["journey"]["correct"]]
        assert t["completion"] == right["completion"] and t["rewards"] == right["rewards"]
        wrong = by_key[t["id"], t["journey"]["wrong"]]["completion"]
        assert t["sft_target"].startswith("<think>\n" + wrong.split("<think>")[1].split("</think>")[0].strip())
        assert t["sft_target"].endswith(right["completion"].split("</think>")[1].strip())
    stats = manifest(out)["stats"]
    assert (stats["mode"], stats["unit"], stats["kept"]) == ("journey", "prompts", 2)
    assert stats["dropped"] == {"unjudged": 1, "all_correct": 1, "none_correct": 1}
    assert r1("reject", scored, "--journey", "--seed", "1", "-o", again).code == 0
    assert again.read_bytes() == out.read_bytes()  # deterministic given --seed
    choices = set()
    for seed in range(8):
        assert r1("reject", scored, "--journey", "--seed", seed, "-o", other, "--force").code == 0
        choices.add(json.dumps([t["journey"] for t in read_jsonl(other)]))
    assert len(choices) > 1  # and the seed matters


def test_journey_with_summary(tmp_path, scored, r1):
    out = tmp_path / "j.jsonl"
    assert r1("reject", scored, "--journey", "--reformat", "summary", "-o", out).code == 0
    for t in read_jsonl(out):
        assert t["sft_target"].count("<think>") == 1 and t["sft_target"].endswith(f"<answer>{t['answer']}</answer>")
        assert ("The final answer is 7." in t["sft_target"]) != (t["id"] == "B")


def test_stdout_is_only_data_and_config_file(tmp_path, scored, r1):
    (tmp_path / "reject.yaml").write_text("keep: best\nbest_n: 2\nmin_reward: 1.1\n")
    r = r1("reject", scored, "-c", tmp_path / "reject.yaml", "--best-n", "1", "-o", "-")
    assert r.code == 0, r
    assert [(x["id"], x["sample_index"]) for x in r.records()] == [("A", 0), ("B", 0), ("C", 0)]  # the flag beats the file
    assert "reject" in r.stderr and "kept" in r.stderr
    assert not list(tmp_path.glob("*.manifest.json"))
    piped = r1("reject", "--keep", "best", "-o", "-", input=scored.read_text(encoding="utf-8"))  # no INPUT: stdin
    assert piped.code == 0 and [(x["id"], x["sample_index"]) for x in piped.records()] == [("A", 0), ("B", 0), ("C", 0), ("D", 0)]


def test_correct_reward_defaults_to_the_tasks_own(tmp_path, r1):
    rows = [{**x, "rewards": {"numeric": x["rewards"]["accuracy"]}} for x in ROWS if x["id"] == "C"]
    out = tmp_path / "o.jsonl"
    assert r1("reject", write_jsonl(tmp_path / "in.jsonl", rows), "-o", out).code == 0
    assert manifest(out)["stats"]["correct_reward"] == ["numeric"] and len(read_jsonl(out)) == 2
    # --keep best needs no correctness score at all.
    rows = [{**x, "rewards": {"judge": 0.5}} for x in rows]
    r = r1("reject", write_jsonl(tmp_path / "judge.jsonl", rows), "--keep", "best", "-o", tmp_path / "best.jsonl")
    assert r.code == 0, r
    assert manifest(tmp_path / "best.jsonl")["stats"]["pass_rate"] is None


def test_empty_result_is_written_with_a_warning(tmp_path, r1):
    rows = [x for x in ROWS if x["id"] == "D"]
    out = tmp_path / "o.jsonl"
    r = r1("reject", write_jsonl(tmp_path / "in.jsonl", rows), "-o", out)
    assert r.code == 0 and out.read_text() == "" and "nothing was kept" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["{tmp}/samples.jsonl"], "samples.jsonl:1: field 'rewards': missing; this input must be the output of `r1cli reward`"),
    (["{tmp}/scored.jsonl", "--correct-reward", "judge"], "scored.jsonl:1: field 'rewards': no score 'judge' for --correct-reward (scored: accuracy, format)"),
    (["{tmp}/noacc.jsonl"], "noacc.jsonl:1: field 'rewards': no correctness score among format; pass --correct-reward NAME"),
    (["{tmp}/scored.jsonl", "--pass-rate", "0.9"], "--pass-rate (config key 'pass_rate') must be MIN:MAX"),
    (["{tmp}/scored.jsonl", "--pass-rate", "0.9:0.1"], "must satisfy 0 <= MIN <= MAX <= 1, got '0.9:0.1'"),
    (["{tmp}/scored.jsonl", "--best-n", "2"], "--best-n (config key 'best_n') counts the best samples to keep; use it with --keep best"),
    (["{tmp}/scored.jsonl", "--keep", "all"], "--keep (config key 'keep') must be one of correct, best"),
    (["{tmp}/scored.jsonl", "--language", "klingon"], "--language (config key 'language') must be auto or a language code"),
    (["{tmp}/scored.jsonl", "--near-duplicate", "0"], "--near-duplicate (config key 'near_duplicate') must be in (0, 1]"),
    (["{tmp}/scored.jsonl", "--journey", "--keep", "best"], "--keep (config key 'keep') must be correct with --journey"),
    (["{tmp}/scored.jsonl", "--prompts", "--reformat", "summary"], "--prompts (config key 'prompts') writes prompt records"),
    (["{tmp}/badlang.jsonl"], "badlang.jsonl:1: field 'language': unknown language 'xx'"),
    (["{tmp}/scored.jsonl", "-c", "{tmp}/bad.yaml"], "unknown key 'min_rewards' (did you mean 'min_reward'?)"),
    (["{tmp}/scored.jsonl", "-o", "{tmp}/taken.jsonl"], "taken.jsonl: output already exists; pass --force"),
    (["{tmp}/nope.jsonl"], "nope.jsonl: no such file"),
])
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, r1, args, message):
    write_jsonl(tmp_path / "scored.jsonl", ROWS)
    write_jsonl(tmp_path / "samples.jsonl", [{k: v for k, v in x.items() if k not in ("rewards", "reward")} for x in ROWS])
    write_jsonl(tmp_path / "noacc.jsonl", [{**x, "task": "mine", "rewards": {"format": 1.0}} for x in ROWS])
    write_jsonl(tmp_path / "badlang.jsonl", [{**x, "language": "xx"} for x in ROWS])
    (tmp_path / "bad.yaml").write_text("min_rewards: 1\n")
    (tmp_path / "taken.jsonl").write_text("precious\n")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    if "-o" not in args:
        args = [*args, "-o", "{tmp}/out.jsonl"]
    r = r1("reject", *[a.format(tmp=tmp_path) for a in args])
    assert r.code == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert message.format(tmp=tmp_path) in lines[0]
    assert r.stdout == ""
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before, "nothing may be written"


def test_run_directly(tmp_path, scored):
    """The stage without the CLI: what a Python caller or a recipe does."""
    stats = run(str(scored), str(tmp_path / "o.jsonl"), RejectConfig.build(max_per_prompt=1))
    assert stats["kept"] == 3 and stats["dropped"]["over_cap"] == 6


def test_help_documents_every_option(r1):
    r = r1("reject", "--help", env={"COLUMNS": "200"})  # wide enough that no flag name is cut
    assert r.code == 0
    flags = [f"--{name.replace('_', '-')}" for name in RejectConfig.field_names()]
    text = " ".join(r.stdout.split())
    missing = [f for f in flags if f not in text]
    assert not missing


@needs_wiring
def test_pipe_reward_into_reject(tmp_path):
    """The module docstring's pipe, through a real shell: reward's stdout straight into reject."""
    samples = [{k: v for k, v in x.items() if k not in ("rewards", "reward")} for x in ROWS if x["id"] in ("A", "C")]
    write_jsonl(tmp_path / "samples.jsonl", samples)
    cmd = (f"set -o pipefail; {sys.executable} -m r1cli reward {tmp_path}/samples.jsonl -o - "
           f"| {sys.executable} -m r1cli reject - --max-per-prompt 4 -o {tmp_path}/sft.jsonl")
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    kept = read_jsonl(tmp_path / "sft.jsonl")
    assert kept and all(k["rewards"]["accuracy"] == 1.0 for k in kept)  # arithmetic's default rewards: accuracy, format
    stats = manifest(tmp_path / "sft.jsonl")["stats"]
    assert stats["correct_reward"] == ["accuracy"] and stats["dropped"]["over_cap"] >= 1


@needs_wiring
def test_real_cli_exit_code(tmp_path, scored):
    proc = subprocess.run([sys.executable, "-m", "r1cli", "reject", str(scored), "--pass-rate", "x", "-o", str(tmp_path / "o.jsonl")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error: --pass-rate") and not (tmp_path / "o.jsonl").exists()
