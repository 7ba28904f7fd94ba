"""Evaluation metrics over groups of K samples per prompt (pure functions).

    pass@1     mean correctness over the K samples of a prompt, averaged over prompts (the R1
               report's headline number, sampled at temperature 0.6, top-p 0.95)
    pass@k     the unbiased estimator of "at least one of k samples is correct" (Codex paper):
               1 - C(n - c, k) / C(n, k) for n samples of which c are correct
    cons@k     majority vote: the most common normalised answer among the K samples is correct
    best-of-N  the sample a chosen reward scores highest is correct (a verifier's pick)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n (c correct)
    is correct.

    >>> pass_at_k(4, 1, 1), pass_at_k(4, 1, 4), pass_at_k(4, 0, 2), round(pass_at_k(4, 2, 2), 4)
    (0.25, 1.0, 0.0, 0.8333)
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    # The product form avoids huge binomials: C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i)
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def majority_vote(keys: Sequence[str | None], correct: Sequence[bool]) -> bool:
    """Is the most common answer correct? Samples without an answer do not vote; a tie goes to
    the answer seen first; no answer at all is wrong.

    >>> majority_vote(["4", "5", "4", None], [True, False, True, False])
    True
    >>> majority_vote(["5", "4", "4", "5"], [False, True, True, False])
    False
    >>> majority_vote([None, None], [False, False])
    False
    """
    votes = Counter(k for k in keys if k is not None)
    if not votes:
        return False
    top = max(votes.values())
    winner = next(k for k in keys if k is not None and votes[k] == top)
    # Samples sharing an answer were judged alike; one that was judged correct settles it.
    return any(c for k, c in zip(keys, correct) if k == winner)


def best_of(scores: Sequence[float | None], correct: Sequence[bool]) -> bool:
    """Is the sample with the highest score correct? Unscored samples are never picked; ties go
    to the first.

    >>> best_of([0.2, 0.9, 0.9], [False, True, False]), best_of([None, None], [True, True])
    (True, False)
    """
    scored = [(s, i) for i, s in enumerate(scores) if s is not None]
    if not scored:
        return False
    best = max(s for s, _ in scored)
    return correct[next(i for s, i in scored if s == best)]


@dataclass
class Group:
    """One prompt's K samples, as evaluation sees them."""

    correct: list[bool]
    keys: list[str | None]
    tokens: list[int | None]  # None: not known (records from another system)
    truncated: list[bool | None]
    best_scores: list[float | None] = field(default_factory=list)
    unjudged: int = 0


def ks_for(n: int) -> list[int]:
    """The k values reported for n samples: powers of two up to n, and n itself."""
    ks = [k for k in (1, 2, 4, 8, 16, 32, 64, 128, 256) if k <= n]
    return ks if ks and ks[-1] == n else [*ks, n]


def summarize(groups: Sequence[Group], *, best_of_name: str | None = None) -> dict[str, Any]:
    if not groups:
        raise ValueError("no prompts to evaluate")
    sizes = [len(g.correct) for g in groups]
    n = min(sizes)
    out: dict[str, Any] = {"prompts": len(groups), "samples": sum(sizes), "k": n}
    if max(sizes) != n:
        out["k_max"] = max(sizes)  # uneven groups: pass@k is reported up to the smallest
    out["pass@1"] = _mean(sum(g.correct) / len(g.correct) for g in groups)
    for k in ks_for(n)[1:]:
        out[f"pass@{k}"] = _mean(pass_at_k(len(g.correct), sum(g.correct), k) for g in groups)
    out[f"cons@{n}"] = _mean(float(majority_vote(g.keys, g.correct)) for g in groups)
    if best_of_name is not None:
        out[f"best_of@{n}"] = _mean(float(best_of(g.best_scores, g.correct)) for g in groups)
        out["best_of_reward"] = best_of_name
    tokens = [t for g in groups for t in g.tokens if t is not None]
    truncated = [float(t) for g in groups for t in g.truncated if t is not None]
    out["mean_completion_tokens"] = _mean(tokens) if tokens else None
    out["truncation_rate"] = _mean(truncated) if truncated else None
    out["unjudged_samples"] = sum(g.unjudged for g in groups)
    return out


def _mean(values: Any) -> float:
    values = list(values)
    return math.fsum(values) / len(values) if values else float("nan")
