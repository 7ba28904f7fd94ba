"""What the tasks generated offline from a seed share (countdown.py, arithmetic.py).

Generated problems are split into train and test by a hash of the problem itself, not by the
seed: a problem lands in the same split whatever seed or count produced it, so prompts
generated for training never appear among held-out evaluation prompts.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from typing import Any

from r1cli.errors import R1Error

TEST_SHARE = 10  # one problem in TEST_SHARE belongs to the test split


def split_of(key: str) -> str:
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return "test" if digest[0] % TEST_SHARE == 0 else "train"


def take(make: Callable[[random.Random], dict[str, Any] | None], n: int, seed: int, split: str, key: Callable[[dict[str, Any]], str]) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    attempts = 0
    while len(rows) < n:
        attempts += 1
        if attempts > 200 * n + 10_000:
            raise R1Error(f"could only generate {len(rows)} distinct {split} problems of the {n} asked for; widen the task's ranges (--option) or ask for fewer")
        row = make(rng)
        if row is None:
            continue
        k = key(row)
        if k in seen or split_of(k) != split:
            continue
        seen.add(k)
        rows.append(row)
    return rows
