"""The artifact contract: strict JSONL reading, atomic outputs, locks, resumable partials."""

from __future__ import annotations

import errno
import json
import os

import pytest

from r1cli import artifacts
from r1cli.artifacts import JsonlOutput
from r1cli.errors import DataError, RunError


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"a": 1}\n{"a": \n', "x.jsonl:2: malformed JSON"),
        (b'{"a": 1}\n[1, 2]\n', "x.jsonl:2: expected a JSON object, got list"),
        (b'{"a": "\xff"}\n', "x.jsonl:1: not valid UTF-8 (byte 0xff"),
        (b"", "x.jsonl: no records (empty input)"),
        (b"\n  \n", "x.jsonl: no records (empty input)"),
        (b'{"a": 1}\n{"a": 2', "x.jsonl:2: malformed JSON"),
    ],
)
def test_read_jsonl_errors_name_file_and_line(tmp_path, monkeypatch, content, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.jsonl").write_bytes(content)
    with pytest.raises(DataError) as e:
        artifacts.read_jsonl("x.jsonl")
    assert str(e.value).startswith(message), str(e.value)


def test_torn_last_line_is_named_strictly_and_trimmed_when_resuming(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": 3, "b": "cut off')
    with pytest.raises(DataError, match=r"x.jsonl:3: .*cut off while writing"):
        artifacts.read_jsonl(path)
    loaded = artifacts.read_jsonl(path, trim_torn_tail=True)
    assert [r["a"] for r in loaded.records] == [1, 2]


def test_blank_lines_skipped_and_line_numbers_kept(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n')
    loaded = artifacts.read_jsonl(path)
    assert loaded.lines == [1, 3]
    assert loaded.info.rows == 2 and len(loaded.info.sha256) == 64


def test_huge_line_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "MAX_LINE_BYTES", 1000)
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": "' + "x" * 2000 + '"}\n')
    with pytest.raises(DataError, match="x.jsonl:1: line longer than"):
        artifacts.read_jsonl(path)


def test_output_is_atomic_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "out.jsonl"
    with JsonlOutput(out) as o:
        o.write([{"a": 1}])
        assert not out.exists(), "the final name must not appear before commit"
        assert o.partial.exists()
        o.commit({"stage": "test"})
    assert json.loads(out.read_text()) == {"a": 1}
    manifest = json.loads((tmp_path / "out.jsonl.manifest.json").read_text())
    assert manifest["output"]["rows"] == 1 and manifest["output"]["sha256"] == artifacts.sha256_file(out)
    assert not (tmp_path / "out.jsonl.partial").exists()
    with pytest.raises(DataError, match="already exists; pass --force"):
        JsonlOutput(out).__enter__()
    with JsonlOutput(out, force=True) as o:
        o.write([{"a": 2}])
        o.commit(None)
    assert json.loads(out.read_text()) == {"a": 2}


def test_failed_stage_leaves_no_output(tmp_path):
    out = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError):
        with JsonlOutput(out) as o:
            o.write([{"a": 1}])
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_second_writer_fails_fast(tmp_path):
    out = tmp_path / "out.jsonl"
    with JsonlOutput(out, header={"x": 1}):
        with pytest.raises(RunError, match="another r1cli run is writing this output"):
            JsonlOutput(out, header={"x": 1}).__enter__()


def test_resume_keeps_records_and_refuses_other_settings(tmp_path):
    out = tmp_path / "out.jsonl"
    with JsonlOutput(out, header={"temperature": 0.6}) as o:
        o.write([{"id": "a"}, {"id": "b"}])
    # killed: no commit, the partial stays
    with open(out.with_name("out.jsonl.partial"), "a") as f:
        f.write('{"id": "c", "torn')
    with JsonlOutput(out, header={"temperature": 0.6}) as o:
        assert [r["id"] for r in o.resumed] == ["a", "b"]
        o.write([{"id": "c"}])
        o.commit({"stage": "t"}, order=[{"id": "c"}, {"id": "a"}, {"id": "b"}])
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["c", "a", "b"]

    other = tmp_path / "other.jsonl"
    with JsonlOutput(other, header={"temperature": 0.6}) as o:
        o.write([{"id": "a"}])
    with pytest.raises(DataError, match=r"different settings \(temperature: 0.6 -> 0.7\)"):
        JsonlOutput(other, header={"temperature": 0.7}).__enter__()
    with JsonlOutput(other, header={"temperature": 0.7}, force=True) as o:
        assert o.resumed == []


def test_full_disk_keeps_previous_artifact(tmp_path, monkeypatch):
    out = tmp_path / "out.jsonl"
    out.write_text('{"old": true}\n')
    real_replace = os.replace

    def no_space(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(RunError, match="no space left on device; any previous out.jsonl is untouched"):
        with JsonlOutput(out, force=True) as o:
            o.write([{"new": True}])
            o.commit({"stage": "t"})
    monkeypatch.setattr(os, "replace", real_replace)
    assert out.read_text() == '{"old": true}\n'
    assert not any(p.name.startswith(".out.jsonl.tmp") for p in tmp_path.iterdir())


def test_stdout_output(capsys):
    with JsonlOutput("-") as o:
        o.write([{"a": "汉字"}])
        o.commit({"stage": "t"})
    assert capsys.readouterr().out == '{"a": "汉字"}\n'
