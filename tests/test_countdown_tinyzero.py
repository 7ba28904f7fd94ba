"""`countdown` with rule=tinyzero against TinyZero's own scorer, on a seeded corpus and a table.

`reference` restates TinyZero's `compute_score` (verl/utils/reward_score/countdown.py in
Jiayi-Pan/TinyZero): it reads the whole decoded prompt + response. The reward reads only the
completion, so each case puts one of the prompts TinyZero and r1cli use in front of it for the
reference, and must still agree on every case.
"""

from __future__ import annotations

import random
import re
import time
import tracemalloc
import warnings

import pytest

from r1cli.errors import R1Error
from r1cli.rewards import Reward, RewardSpec, lookup, parameters, parse_config
from r1cli.rewards.countdown import countdown
from r1cli.tasks import countdown as countdown_task
from r1cli.templates import R1_ZERO
from conftest import REPO

QUESTION = "Using the numbers {numbers}, create an equation that equals {target}."
# TinyZero's base and Qwen-instruct prefixes (shortened, same shape: the assistant marker, then
# "Let me solve this step by step.\n<think>"), and r1cli's R1-Zero template ending in "Assistant:".
PROMPTS = [
    "A conversation between User and Assistant.\nUser: " + QUESTION + " Return the final answer in <answer> </answer>"
    " tags, for example <answer> (1 + 2) / 3 </answer>.\nAssistant: Let me solve this step by step.\n<think>",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n " + QUESTION
    + " for example <answer> (1 + 2) / 3 </answer>.<|im_end|>\n<|im_start|>assistant\nLet me solve this step by step.\n<think>",
    R1_ZERO.replace("{prompt}", QUESTION),
]


def reference(solution: str, numbers: list[int], target: int, format_score: float = 0.1) -> float:
    """TinyZero's rule, restated. Uses eval, which is safe here: it only ever sees this file's strings."""
    markers = [m for m in ("Assistant:", "<|im_start|>assistant") if m in solution]
    if not markers:
        return 0.0
    last_line = solution.split(markers[0], 1)[1].split("\n")[-1]
    tagged = re.findall(r"<answer>(.*?)</answer>", last_line)
    if not tagged:
        return 0.0
    equation = tagged[-1].strip()
    try:
        if sorted(int(d) for d in re.findall(r"\d+", equation)) != sorted(numbers):
            return format_score
    except ValueError:
        return format_score
    if not re.match(r"^[\d+\-*/().\s]+$", equation):
        return format_score
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # `(6)(2)` warns "int is not callable" at compile time
            value = eval(equation, {"__builtins__": None}, {})
        return 1.0 if abs(value - target) < 1e-5 else format_score
    except Exception:
        return format_score


def tinyzero(texts: list[str], numbers: list[int], target: int, **params) -> list[float]:
    return countdown(texts, numbers=[numbers] * len(texts), target=[target] * len(texts), rule="tinyzero", **params)


# --- the seeded corpus ------------------------------------------------------------------------


def random_expression(rng: random.Random, numbers: list[int], python_ops: bool = False) -> str:
    """The numbers combined pairwise in random order, with `**` and `//` too if `python_ops`;
    `**` only with a small literal exponent, so the reference's eval always finishes."""
    items = [str(n) for n in numbers]
    rng.shuffle(items)
    while len(items) > 1:
        a, b = items.pop(), items.pop()
        op = rng.choice(["**", "//"]) if python_ops and rng.random() < 0.4 else rng.choice("+-*/")
        if op == "**" and not (b.isdigit() and int(b) <= 4):
            op = "*"
        items.append(f"({a} {op} {b})" if items else f"{a} {op} {b}")
        rng.shuffle(items)
    return items[0]


def mutate(rng: random.Random, equation: str) -> str:
    """One to three random edits; never inserts `*`, so no new `**` towers appear."""
    chars = list(equation)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(chars) + 1)
        edit = rng.choice(["insert", "delete", "replace"])
        new = rng.choice("0123456789+-/(). \tx=,")
        if edit == "insert" or not chars:
            chars.insert(i, new)
        elif i < len(chars):
            chars[i] = new if edit == "replace" else ""
    return "".join(chars)


def equations(rng: random.Random, numbers: list[int], target: int, solution: str) -> list[tuple[str, list[int], int]]:
    """(equation, numbers, target) variants of one problem: right, wrong, malformed, quirky."""
    a, b = numbers[0], numbers[1]
    digit = rng.randint(1, 9)
    out = [
        (solution, numbers, target),
        (solution.replace(" ", ""), numbers, target),
        (solution.replace(" ", rng.choice(["  ", "\t", "\x0c", "\u3000", "\xa0", "\r"])), numbers, target),
        (f"{solution} = {target}", numbers, target),
        (solution.replace("*", "×").replace("-", "−"), numbers, target),
        (random_expression(rng, numbers), numbers, target),
        (random_expression(rng, numbers, python_ops=True), numbers, target),
        (random_expression(rng, numbers[:-1]), numbers, target),  # a number missing
        (f"({solution}) * {a} / {a}", numbers, target),  # a number used twice
        (f"({solution}) + 0", numbers, target),  # a number not given
        (f"{rng.choice(['-', '- -', '--', '+'])}({solution})", numbers, target),
        ("-" * rng.randint(2, 80) + f"({solution})", numbers, target),
        (f"({solution}) / ({b} - {b})", [*numbers, b, b], target),  # division by zero
        (f"({solution}) // ({b} - {b})", [*numbers, b, b], target),
        (f"({b} - {b}) ** -{a}", [a, b, b], 0),
        (f"({solution}) * {digit}.0", [*numbers, digit, 0], target * digit),  # a float; "2.0" uses 2 and 0
        (f"{solution}.", numbers, target),
        (f"({solution}) / 1 * 1", [*numbers, 1, 1], target),
        (f"({solution}) + 1 / ({a} * {b} * 99999)", [*numbers, 1, a, b, 99999], target),  # within 1e-5
        (f"({solution}) + 1 / ({a} * {b})", [*numbers, 1, a, b], target),
        (re.sub(r"\b(\d)\b", r"0\1", solution, count=1), numbers, target),  # leading zero
        (solution.translate(str.maketrans("0123456789", "０１２３４５６７８９")), numbers, target),
        (f"({a})({b})", [a, b], target),
        ("()", numbers, target),
        ("", numbers, target),
        (str(target), numbers, target),
        ("(" * 210 + solution + ")" * 210, numbers, target),
        ("9" * 5000 + " - " + solution, [9, *numbers], target),  # over Python's int-string limit
        ("I cannot find one", numbers, target),
        (mutate(rng, solution), numbers, target),
        (mutate(rng, solution), numbers, target),
    ]
    # Powers and floor division that do reach the target (TinyZero accepts them).
    base, exp, c = rng.randint(2, 12), rng.randint(2, 3), rng.randint(1, 50)
    out += [
        (f"{base} ** {exp} - {c}", [base, exp, c], base**exp - c),
        (f"{c * base + 1} // {base} + {exp}", [c * base + 1, base, exp], c + exp),
        (f"{base} ** -{exp} * {base ** exp}", [base, exp, base**exp], 1),
        (f"99 ** 99 / 99 ** 98 - {c}", [99, 99, 99, 98, c], 99 - c),
        (f"{c}.5 * 2", [c, 5, 2], 2 * c + 1),
        (f"-(-8) ** (1 / 3) + {c}", [8, 1, 3, c], c),  # a complex value: Python's `**` of a negative base
    ]
    return out


def wrappings(rng: random.Random, eq: str) -> list[str]:
    """Where the answer sits in a completion, and what surrounds it."""
    think = rng.choice(["Let me try.", "First 3 + 4 = 7.\nThen 7 * 2 = 14.", ""])
    other = rng.choice(["1 + 2", "(3 * 4) - 5", "7"])
    return [
        f"{think}</think>\n<answer>{eq}</answer>",
        f"{think}</think> <answer>{eq}</answer>",
        f"{think}</think>\n<answer>{eq}</answer><|endoftext|>",
        f"{think}</think>\n<answer>{eq}</answer> That is the equation.",
        f"{think}</think>\n<answer>{eq}</answer>\n",
        f"{think}</think>\n<answer>{eq}</answer>\nI hope this helps.",
        f"{think} So <answer>{eq}</answer> works.</think>",
        f"{think}\n<answer>{eq}</answer> works.</think>\n<answer>{other}</answer>",
        f"{think}</think>\n<answer>{other}</answer> or rather <answer>{eq}</answer>",
        f"{think}</think>\n<answer>{eq}</answer>\n<answer>{other}</answer>",
        f"{think}</think>\n<answer>{other}<answer>{eq}</answer>",
        f"{think}</think>\n<answer>{eq}</answer>{other}</answer>",
        f"{think}</think>\n<answer>{eq}",
        f"<answer>{eq}</answer>\nUser: thanks\nAssistant: <answer>{other}</answer>",
        f"{think}</think>\nThe answer is {eq}",
        f"{think}</think>\n<answer>\n{eq}\n</answer>",
        f"{think}</think>\n<answer>  {eq}\t</answer>",
        f"{think}</think>\r\n<answer>{eq}</answer>\r",
        f"<answer>{eq}</answer>",
        "",
    ]


def corpus(seed: int = 20250101) -> list[tuple[str, str, list[int], int]]:
    """(prompt, completion, numbers, target), several hundred of them, the same every run."""
    rng = random.Random(seed)
    cases = []
    for problem in countdown_task.countdown(12, seed=seed, split="train"):
        for eq, numbers, target in equations(rng, problem["numbers"], problem["target"], problem["solution"]):
            # Every equation once in the plain layout; a few random layouts besides.
            layouts = wrappings(rng, eq)
            for completion in [layouts[0], *rng.sample(layouts[1:], 2)]:
                prompt = rng.choice(PROMPTS).format(numbers=numbers, target=target)
                cases.append((prompt, completion, numbers, target))
    return cases


CORPUS = corpus()


def test_corpus_is_varied():
    # A corpus the rules could agree on by accident would prove nothing.
    assert len(CORPUS) >= 500
    want = [reference(p + c, n, t) for p, c, n, t in CORPUS]
    for value in (0.0, 0.1, 1.0):
        assert want.count(value) >= 50, (value, want.count(value))
    strict = [countdown([c], numbers=[n], target=[t])[0] for _, c, n, t in CORPUS]
    assert sum(s != w for s, w in zip(strict, want)) >= 100, "the corpus must exercise TinyZero's quirks"


def test_tinyzero_rule_agrees_with_tinyzero_on_every_case():
    got = countdown([c for _, c, _, _ in CORPUS], numbers=[n for *_, n, _ in CORPUS], target=[t for *_, t in CORPUS], rule="tinyzero")
    disagree = [(c, n, t, g, reference(p + c, n, t)) for (p, c, n, t), g in zip(CORPUS, got) if g != reference(p + c, n, t)]
    assert not disagree, f"{len(disagree)} of {len(CORPUS)} disagree, e.g. {disagree[:3]}"


def test_format_score_is_tinyzero_format_score():
    cases = CORPUS[::7]
    got = countdown([c for _, c, _, _ in cases], numbers=[n for *_, n, _ in cases], target=[t for *_, t in cases],
                    rule="tinyzero", format_score=0.25)
    assert got == [reference(p + c, n, t, format_score=0.25) for p, c, n, t in cases]


# --- the quirks, by hand ------------------------------------------------------------------------

N, T = [2, 6, 6], 24
QUIRKS = [
    # (completion, tinyzero, strict, why)
    ("<answer>(6 - 2) * 6</answer>", 1.0, 1.0, "correct"),
    ("<answer>(6 - 2) * 6</answer>\nDone.", 0.0, 1.0, "only the last line is read"),
    ("<answer>(6 - 2) * 6</answer>\n", 0.0, 1.0, "a trailing newline leaves an empty last line"),
    ("<answer>\n(6 - 2) * 6\n</answer>", 0.0, 1.0, "an answer split over lines is not on the last line"),
    ("<think>so <answer>(6 - 2) * 6</answer></think>", 1.0, 1.0, "inside <think>, but on the last line"),
    ("<think>\n<answer>(6 - 2) * 6</answer></think>\n<answer>6+6+2</answer>", 0.1, 0.1, "the last line's answer wins"),
    ("<answer>6 * 6 - 2</answer> <answer>(6 - 2) * 6</answer>", 1.0, 1.0, "the last answer of the line"),
    ("<answer>6<answer>(6 - 2) * 6</answer>", 0.1, 1.0, "matched from the first <answer>: the content holds a tag"),
    ("<answer>(6 - 2) * 6</answer>6</answer>", 1.0, 0.0, "a stray </answer> after the match is ignored"),
    ("<answer>6 * 6 - 2</answer>", 0.1, 0.1, "wrong value"),
    ("<answer>6 * 4</answer>", 0.1, 0.1, "numbers not used"),
    ("<answer>(6 - 2) * 6 = 24</answer>", 0.1, 1.0, "'=' is not an allowed character"),
    ("<answer>(6 − 2) × 6</answer>", 0.1, 1.0, "unicode operators are not allowed"),
    ("<answer>I cannot find one</answer>", 0.1, 0.0, "any tagged answer earns format_score"),
    ("<answer></answer>", 0.1, 0.0, "even an empty one"),
    ("<answer>6 ** 2 - 6 * 2</answer>", 0.1, 0.0, "four numbers for three"),
    ("<answer>2 / (6 - 6)</answer>", 0.1, 0.1, "division by zero"),
    ("<answer>(6 - 2) * 06</answer>", 0.1, 0.0, "leading zero: Python's syntax error"),
    ("<answer>(6 - 2) * ６</answer>", 0.1, 0.0, "fullwidth digit: counted by \\d, rejected by Python"),
    ("<answer>(6 - 2) *\xa06</answer>", 0.1, 0.0, "no-break space: passes \\s, rejected by Python"),
    ("<answer>(6 - 2) *\x0c6</answer>", 1.0, 1.0, "form feed is whitespace to Python"),
    ("<answer>" + "-" * 200 + "(6 - 2) * 6</answer>", 1.0, 1.0, "200 unary minus signs"),
    ("<answer>" + "(" * 210 + "(6 - 2) * 6" + ")" * 210 + "</answer>", 0.1, 0.0, "beyond the parser's 200 levels"),
    ("<answer>(6 - 2) * 6 + ()</answer>", 0.1, 0.0, "the empty tuple: eval's TypeError"),
    ("(6 - 2) * 6", 0.0, 0.0, "no tag"),
]


@pytest.mark.parametrize("text, want, strict, why", QUIRKS, ids=[q[3] for q in QUIRKS])
def test_quirks(text, want, strict, why):
    assert tinyzero([text], N, T) == [want]
    assert countdown([text], numbers=[N], target=[T]) == [strict], "rule=strict is unchanged"
    assert reference(PROMPTS[0] + text, N, T) == want, "the table agrees with the reference"


@pytest.mark.parametrize("text, numbers, target, want", [
    ("<answer>2 ** 6 // 2</answer>", [2, 6, 2], 32, 1.0),
    ("<answer>1.5 * 4</answer>", [1, 5, 4], 6, 1.0),  # "1.5" uses the numbers 1 and 5
    ("<answer>7 + 1 / (99 * 99 * 99)</answer>", [7, 1, 99, 99, 99], 7, 1.0),  # 1e-6 off: within 1e-5
    ("<answer>7 + 1 / (99 * 99)</answer>", [7, 1, 99, 99], 7, 0.1),  # 1e-4 off
    ("<answer>(10 ** 20 + 5) / 1 - 10 ** 20</answer>", [10, 20, 5, 1, 10, 20], 5, 0.1),  # float division loses the 5
    ("<answer>(2 - 2) ** -3</answer>", [2, 2, 3], 0, 0.1),  # ZeroDivisionError
    ("<answer>(9.9 * 99) ** 999</answer>", [9, 9, 99, 999], 0, 0.1),  # float OverflowError
    ("<answer>(6)(2) + 6</answer>", [6, 2, 6], 8, 0.1),  # a call: TypeError
])
def test_python_arithmetic(text, numbers, target, want):
    assert tinyzero([text], numbers, target) == [want] == [reference(PROMPTS[2] + text, numbers, target)]


def test_hostile_output_is_bounded():
    # TinyZero's eval would never finish these powers; they are scored format_score at once.
    towers = ["<answer>99 ** 99 ** 99</answer>", "<answer>9 ** 9 ** 9 - 2</answer>", "<answer>(99 ** 99) ** (99 * 99)</answer>"]
    many_tags = "<answer>" * 200_000 + "</answer>" + "<answer>(6-2)*6</answer>" * 50_000
    unclosed = "<answer>(6-2)*6</answer>" + "<answer>" * 200_000  # quadratic for a regex scan
    deep = "<answer>" + "-" * 100_000 + "(6-2)*6</answer>"
    tuples = "<answer>(6-2)*6" + "+()" * 300_000 + "</answer>"  # a gigabyte of tree if parsed
    padded = "<answer>" + "-" * 2000 + "(6-2)*6" + " " * 1_000_000 + "</answer>"  # long, yet correct
    start = time.monotonic()
    assert tinyzero(towers[:1], [99, 99, 99], 1) == [0.1]
    assert tinyzero(towers[1:2], [9, 9, 9, 2], 1) == [0.1]
    assert tinyzero(towers[2:], [99, 99, 99, 99], 1) == [0.1]
    assert tinyzero([many_tags, unclosed], N, T) == [1.0, 1.0]
    assert tinyzero([deep], N, T) == [0.1]  # Python's parser gives up (MemoryError), as eval's would
    assert tinyzero([tuples], N, T) == [0.1]  # eval's TypeError
    assert tinyzero([padded], N, T) == [1.0] == [reference(PROMPTS[2] + padded, N, T)]
    assert time.monotonic() - start < 2.0


def test_hostile_output_builds_no_huge_tree():
    # 90 KB of `+()`, far more than any arithmetic Python's parser accepts for three numbers:
    # parsed, its tree would take ~30 MB (a gigabyte for a few megabytes).
    tracemalloc.start()
    try:
        assert tinyzero(["<answer>(6-2)*6" + "+()" * 30_000 + "</answer>"], N, T) == [0.1]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_rule_parameter():
    assert parameters(lookup("countdown")) == {"format_score": 0.1, "rule": "strict"}
    bound = Reward(RewardSpec("countdown", params={"rule": "tinyzero"}))
    assert bound(["<answer>(6 - 2) * 6 = 24</answer>"], numbers=[N], target=[T]) == [0.1]
    with pytest.raises(R1Error, match="rule must be one of strict, tinyzero"):
        countdown(["x"], numbers=[N], target=[T], rule="TinyZero")


def test_tinyzero_recipe_trains_on_tinyzero_rule():
    import yaml

    config = yaml.safe_load((REPO / "recipes" / "tinyzero" / "grpo.yaml").read_text(encoding="utf-8"))
    specs = parse_config(config["rewards"])
    assert [(s.name, s.params.get("rule")) for s in specs] == [("countdown", "tinyzero")]
