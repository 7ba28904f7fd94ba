"""Raw rows from wherever a user keeps data: a local JSONL/JSON/parquet/CSV file, a folder
(a `datasets` folder from `save_to_disk`, or a folder of such files), or a hub dataset name.

Every source yields plain dicts plus a description for the manifest. Local files are the tested
path; hub names go through `datasets.load_dataset` and need a network (or a warm cache).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1cli.artifacts import read_jsonl, sha256_file
from r1cli.errors import DataError, R1Error

FILE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


@dataclass
class Rows:
    rows: list[dict[str, Any]]
    source: dict[str, Any]  # goes into the manifest's `inputs`
    where: list[str]  # `path:line` (or `path#row`) of each row, for error messages


def load(data: str, *, split: str | None = None, config: str | None = None) -> Rows:
    path = Path(data)
    if data == "-" or path.is_file():
        return _load_file(data)
    if path.is_dir():
        return _load_folder(path, split)
    if data.startswith((".", "/", "~")) or data.endswith(FILE_SUFFIXES):
        raise DataError(data, "no such file or folder")
    return _load_hub(data, split=split or "train", config=config)


def _load_file(data: str) -> Rows:
    suffix = Path(data).suffix.lower()
    if data == "-" or suffix in (".jsonl", ".ndjson") or suffix not in FILE_SUFFIXES:
        loaded = read_jsonl(data)
        return Rows(loaded.records, loaded.info.as_dict(), [loaded.where(i) for i in range(len(loaded.records))])
    source = {"path": data, "sha256": sha256_file(data)}
    if suffix == ".json":
        try:
            value = json.loads(Path(data).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            # Many ".json" data files are really JSON lines.
            try:
                loaded = read_jsonl(data)
            except DataError:
                raise DataError(data, f"neither a JSON array of objects nor JSON lines ({e})") from None
            return Rows(loaded.records, loaded.info.as_dict(), [loaded.where(i) for i in range(len(loaded.records))])
        if isinstance(value, dict):
            # {"data": [...]} and similar single-key wrappers
            lists = [v for v in value.values() if isinstance(v, list)]
            value = lists[0] if len(lists) == 1 else value
        if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
            raise DataError(data, "expected a JSON array of objects")
        rows = value
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(data).to_pylist()
        except Exception as e:  # pyarrow raises several unrelated types for corrupt files
            raise DataError(data, f"unreadable parquet file: {e}") from None
    else:  # .csv
        import csv

        with open(data, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    if not rows:
        raise DataError(data, "no records (empty input)")
    return Rows(rows, {**source, "rows": len(rows)}, [f"{data}#{i + 1}" for i in range(len(rows))])


def _load_folder(path: Path, split: str | None) -> Rows:
    if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists() or (path / "state.json").exists():
        import datasets

        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            chosen = split or ("train" if "train" in ds else next(iter(ds)))
            if chosen not in ds:
                raise DataError(str(path), f"no split {chosen!r}; splits: {', '.join(ds)}")
            ds = ds[chosen]
        rows = ds.to_list()
        return Rows(rows, {"path": str(path), "format": "datasets", "split": split, "fingerprint": ds._fingerprint, "rows": len(rows)},
                    [f"{path}#{i + 1}" for i in range(len(rows))])
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in FILE_SUFFIXES)
    if split is not None:
        files = [p for p in files if p.stem == split or p.stem.startswith(f"{split}-") or p.stem.startswith(f"{split}_")]
    if not files:
        wanted = f" for split {split!r}" if split else ""
        raise DataError(str(path), f"no data files{wanted} (expected {', '.join(FILE_SUFFIXES)} files or a `datasets` folder)")
    parts = [_load_file(str(p)) for p in files]
    return Rows([r for p in parts for r in p.rows], {"path": str(path), "files": [p.source for p in parts]},
                [w for p in parts for w in p.where])


def _load_hub(name: str, *, split: str, config: str | None) -> Rows:
    import datasets

    try:
        ds = datasets.load_dataset(name, config, split=split)
    except Exception as e:  # network, auth, missing config: all end the same way for the user
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise R1Error(
            f"--data {name!r}: not a local file or folder, and loading it from the Hugging Face hub failed: {first}"
        ) from None
    rows = ds.to_list()
    return Rows(rows, {"hub": name, "config": config, "split": split, "fingerprint": ds._fingerprint, "rows": len(rows)},
                [f"{name}[{split}]#{i + 1}" for i in range(len(rows))])
