"""`r1cli decontaminate`: what it drops and keeps, its report and manifest, pipes, bad input, and
GSM8K's own train/test overlap."""

from __future__ import annotations

import hashlib
import json
import time

from conftest import read_jsonl, run_r1cli, shared_data, write_jsonl

# Held-out items as different files hold them: prompt records and raw dataset rows (no id).
EVAL = [
    {"id": "t1", "task": "gsm8k", "prompt": "p", "question": "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins with four."},
    {"id": "t2", "task": "gsm8k", "prompt": "p", "question": "A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts in total does it take?"},
    {"id": "t3", "task": "math", "prompt": "p", "question": "芳芳买了一本书有99页，看了90页，她还剩多少页没有看？"},
    {"id": "t4", "task": "arithmetic", "prompt": "p", "question": "What is 97 - 53?"},
]
MATH_ROWS = [{"problem": "Convert the point $(0,3)$ in rectangular coordinates to polar coordinates.", "answer": "(3, \\frac{\\pi}{2})"}]

# Training records, and the held-out item each one must be dropped for (None: kept).
TRAIN = [
    ({"id": "copy", "question": "Warm up: JANET’S ducks lay 16 eggs, per day; she eats THREE for lunch. How many are left?"}, "t1"),
    # Exactly 7 consecutive words of t2, then other words: one short of an 8-gram.
    ({"id": "near", "question": "A robe takes 2 bolts of blue silk and some thread. What does it cost?"}, None),
    # Chinese has no spaces: every character is a word, so this shares 10 "words" with t3 ...
    ({"id": "zh-copy", "question": "小明问：一本书有99页，看了90页，还剩几页？"}, "t3"),
    # ... and this 7 (一 本 书 有 99 页 看).
    ({"id": "zh-near", "question": "我有一本书有99页，看完要几天？"}, None),
    # Shorter than 8 words: compared whole; the operator keeps 97 + 53 apart from 97 - 53.
    ({"id": "short-same", "question": "WHAT is 97 - 53 ?"}, "t4"),
    ({"id": "short-other", "question": "What is 97 + 53?"}, None),
    # No question: the user turns of chat messages are the text (the system turn is not).
    ({"id": "chat", "prompt": [{"role": "system", "content": "You are a tutor."},
                               {"role": "user", "content": "Solve: a robe takes 2 bolts of blue fiber and half as much white."}]}, "t2"),
    ({"id": "polar", "prompt": "Please convert the point (0, 3) in rectangular coordinates to polar coordinates, showing work."}, "math:1"),
    ({"id": "unrelated", "question": "Name a prime number between 10 and 20, and explain how you checked it."}, None),
]


def _rows(path):
    """JSONL rows, split on newlines only: GSM8K's text holds U+2028, a line break to str.splitlines."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def _files(tmp_path):
    write_jsonl(tmp_path / "test.jsonl", EVAL)
    write_jsonl(tmp_path / "math.jsonl", MATH_ROWS)
    write_jsonl(tmp_path / "train.jsonl", [r for r, _ in TRAIN])


def test_drops_exactly_the_contaminated_records(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _files(tmp_path)
    r = cli("decontaminate", "train.jsonl", "--against", "test.jsonl", "--against", "math.jsonl", "-o", "clean.jsonl")
    assert r.code == 0, r
    assert [x["id"] for x in read_jsonl(tmp_path / "clean.jsonl")] == [rec["id"] for rec, hit in TRAIN if hit is None]
    report = read_jsonl(tmp_path / "clean.jsonl.report.jsonl")
    found = {row["id"]: row["contamination"] for row in report}
    assert {i: c["id"] or f"math:{c['line']}" for i, c in found.items()} == {rec["id"]: hit for rec, hit in TRAIN if hit}
    # A dropped record is written whole, with what matched and where.
    assert report[0] == {**TRAIN[0][0], "contamination": {
        "ngram": "janet s ducks lay 16 eggs per day", "against": "test.jsonl", "line": 1, "id": "t1", "field": "question",
        "text": EVAL[0]["question"]}}
    assert found["short-same"]["ngram"] == "what is 97 - 53"
    assert found["polar"]["field"] == "problem" and found["polar"]["against"] == "math.jsonl"


def test_n_is_the_number_of_shared_words(cli, tmp_path, monkeypatch):
    """The near-misses share 7 words: kept at -n 8, dropped at -n 7."""
    monkeypatch.chdir(tmp_path)
    _files(tmp_path)
    r = cli("decontaminate", "train.jsonl", "--against", "test.jsonl", "-n", "7", "-o", "clean.jsonl")
    assert r.code == 0, r
    dropped = {row["id"] for row in read_jsonl(tmp_path / "clean.jsonl.report.jsonl")}
    assert {"near", "zh-near"} <= dropped


def test_manifest_counts_and_fingerprints_the_held_out_files(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _files(tmp_path)
    r = cli("decontaminate", "train.jsonl", "--against", "test.jsonl", "--against", "math.jsonl", "-o", "clean.jsonl")
    assert r.code == 0, r
    manifest = json.loads((tmp_path / "clean.jsonl.manifest.json").read_text(encoding="utf-8"))
    dropped = sum(1 for _, hit in TRAIN if hit)
    assert manifest["stats"]["kept"] == len(TRAIN) - dropped and manifest["stats"]["dropped"] == dropped
    sha = {i["path"]: i["sha256"] for i in manifest["inputs"]}
    for name in ("train.jsonl", "test.jsonl", "math.jsonl"):
        assert sha[name] == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
    per_file = {a["path"]: a for a in manifest["stats"]["against"]}
    assert per_file["math.jsonl"]["fields"] == {"problem": 1} and per_file["math.jsonl"]["dropped"] == 1
    assert manifest["report"]["rows"] == dropped
    assert manifest["report"]["sha256"] == hashlib.sha256((tmp_path / "clean.jsonl.report.jsonl").read_bytes()).hexdigest()


def test_generated_splits_share_nothing_though_countdown_repeats_its_instructions(cli, tmp_path, monkeypatch):
    """Every Countdown question carries the same 40-word instructions: they are the held-out
    file's template and are set aside, so only a real copy of a test problem is dropped."""
    monkeypatch.chdir(tmp_path)
    assert cli("prepare", "countdown", "--split", "train", "-n", "300", "-o", "train.jsonl").code == 0
    assert cli("prepare", "countdown", "--split", "test", "-n", "50", "-o", "test.jsonl").code == 0
    train, test = read_jsonl(tmp_path / "train.jsonl"), read_jsonl(tmp_path / "test.jsonl")
    planted = {**test[7], "id": "planted"}
    write_jsonl(tmp_path / "train.jsonl", [*train, planted])
    r = cli("decontaminate", "train.jsonl", "--against", "test.jsonl", "-o", "clean.jsonl")
    assert r.code == 0, r
    assert [row["id"] for row in read_jsonl(tmp_path / "clean.jsonl.report.jsonl")] == ["planted"]
    assert len(read_jsonl(tmp_path / "clean.jsonl")) == len(train)
    # Without the template rule the shared instructions match every record.
    r = cli("decontaminate", "train.jsonl", "--against", "test.jsonl", "--template-share", "1", "-o", "all.jsonl")
    assert r.code == 0, r
    assert read_jsonl(tmp_path / "all.jsonl") == []


def test_in_a_pipe_records_go_to_stdout_and_logs_to_stderr(tmp_path):
    made = run_r1cli("prepare", "arithmetic", "--split", "train", "-n", "40", "-o", "-", cwd=tmp_path)
    assert made.code == 0, made
    assert run_r1cli("prepare", "arithmetic", "--split", "test", "-n", "20", "-o", "test.jsonl", cwd=tmp_path).code == 0
    planted = read_jsonl(tmp_path / "test.jsonl")[3]
    stream = made.stdout + json.dumps(planted) + "\n"
    r = run_r1cli("decontaminate", "-", "--against", "test.jsonl", "-o", "-", input=stream, cwd=tmp_path)
    assert r.code == 0, r
    assert [x["id"] for x in r.records()] == [x["id"] for x in made.records()]
    assert "dropped 1 of 41 records" in r.stderr and planted["id"] not in r.stdout
    # No report file unless asked for: the dropped record is shown on stderr instead.
    assert "<stdin>:41 ~ test.jsonl:4: 'what is" in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test.jsonl", "test.jsonl.manifest.json"]
    r = run_r1cli("decontaminate", "-", "--against", "test.jsonl", "--report", "dropped.jsonl", "-o", "-", input=stream, cwd=tmp_path)
    assert r.code == 0 and len(r.records()) == 40, r
    assert [x["id"] for x in read_jsonl(tmp_path / "dropped.jsonl")] == [planted["id"]]


def test_bad_input_stops_before_anything_is_written(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _files(tmp_path)
    write_jsonl(tmp_path / "notext.jsonl", [EVAL[0], {"id": "x", "question": 7}])
    before = sorted(p.name for p in tmp_path.iterdir())
    cases = [
        (["train.jsonl", "--against", "notext.jsonl"], "notext.jsonl:2: field 'question': must be a non-empty string, got int 7"),
        (["train.jsonl", "--against", "nothing/*.jsonl"], "nothing/*.jsonl: no file matches this --against pattern"),
        (["train.jsonl", "--against", "test.jsonl", "--report", "-"], "--report: must be a file"),
        (["train.jsonl", "--against", "test.jsonl", "--report", "clean.jsonl"], "clean.jsonl: --report is the output itself"),
        (["train.jsonl", "--against", "test.jsonl", "-n", "0"], "--ngram (config key 'ngram') must be at least 1"),
    ]
    for args, message in cases:
        r = cli("decontaminate", *args, "-o", "clean.jsonl")
        lines = r.stderr.strip().splitlines()
        assert r.code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (args, r)
        assert sorted(p.name for p in tmp_path.iterdir()) == before, args


def test_gsm8k_train_against_gsm8k_test(cli, tmp_path, monkeypatch):
    """The real sets: GSM8K's train split shares 8-grams with its test split (stock phrases and
    near-identical templated problems); a planted, re-cased copy of a test question is among them."""
    train_path, test_path = shared_data("gsm8k", "train.jsonl"), shared_data("gsm8k", "test.jsonl")
    monkeypatch.chdir(tmp_path)
    question = _rows(test_path)[0]["question"]
    planted = {"question": "Homework!! " + question.upper().replace(".", ";"), "answer": "#### 18"}
    train = _rows(train_path)
    write_jsonl(tmp_path / "train.jsonl", [*train, planted])
    t0 = time.monotonic()
    r = cli("decontaminate", "train.jsonl", "--against", str(test_path), "-o", "clean.jsonl")
    seconds = time.monotonic() - t0
    assert r.code == 0, r
    report = _rows(tmp_path / "clean.jsonl.report.jsonl")
    assert report[-1]["question"] == planted["question"] and report[-1]["contamination"]["line"] == 1
    assert len(report) + len(_rows(tmp_path / "clean.jsonl")) == len(train) + 1
    print(f"GSM8K train vs test: {len(report) - 1} of {len(train)} train questions share an 8-gram with a test question; "
          f"{len(train) / seconds:,.0f} records/s ({seconds:.2f} s)")
    assert seconds < 30  # an n-gram hash lookup; a pairwise comparison would take minutes
