"""Prompt templates: how a task's question becomes what the model sees.

    auto      r1-chat for a model with a chat template, r1-zero for one without (stages that
              know the model: `grpo --task`, `eval --task`, `prepare -m MODEL`)
    r1-zero   the DeepSeek-R1-Zero training template, verbatim; works for base models that have
              no chat template (the model continues after "Assistant:")
    r1-chat   for instruct models: one user message, the R1 instruction (think in <think>, answer
              in <answer>) then the question; the model's own chat template is applied when it
              is used, with its own default system message (or --system)
    chat      a single user message, the question alone (and --system, if given)
    plain     the question as it is
    PATH      a text file; `{question}` and any other `{field}` of the record are filled in
              (braces that name no field, e.g. LaTeX `\\frac{1}{2}`, are left alone)

Why r1-chat exists: an instruct model given the r1-zero text outside its chat template reads it
as a document to continue, not as a request (SmolLM2-135M-Instruct writes "User: ... User: ..."
and never a tag), and through its chat template with no instruction nothing asks for the R1 format.
Why in the user turn: measured on SmolLM2-135M-Instruct (16 one-digit sums, 4 samples each,
temperature 0.7), the instruction before the question in the user turn, under the model's own
system message, answered 58% right; as the system message 34%, the R1-Zero sentence as system
message 42%, after the question 30%. (None of the four made it write the tags: a model that
small needs a cold start, recipes/real-r1-zero.)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from r1cli.errors import R1Error

R1_ZERO = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with the answer. "
    "The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, respectively, "
    "i.e., <think> reasoning process here </think> <answer> answer here </answer>. User: {prompt}. Assistant:"
)

# The R1-Zero template's instruction, said to the assistant rather than narrated about one.
R1_INSTRUCTION = (
    "Solve the problem. First think through it step by step inside <think> </think> tags, then give only the final "
    "answer inside <answer> </answer> tags, like this: <think> reasoning here </think> <answer> answer here </answer>"
)

BUILTIN = ("auto", "r1-zero", "r1-chat", "chat", "plain")
TEMPLATE_HELP = ("auto (r1-chat for a model with a chat template, else r1-zero), r1-zero (the verbatim R1-Zero text; base models), "
                 "r1-chat (the R1 instruction, then the question, as user message; instruct models), chat (the question alone as "
                 "user message), plain, or a template file with {question}.")
_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _fill(template: str, fields: dict[str, Any]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        return str(fields[name]) if name in fields else m.group(0)

    return _FIELD.sub(sub, template)


def choose(spec: str, has_chat_template: bool) -> str:
    """`auto` for a model: r1-chat when it has a chat template, r1-zero otherwise."""
    if spec != "auto":
        return spec
    return "r1-chat" if has_chat_template else "r1-zero"


def is_r1_zero_text(prompt: object) -> bool:
    """Whether a prompt is the r1-zero text template (what a chat model handles badly)."""
    return isinstance(prompt, str) and prompt.startswith(R1_ZERO[:60])


class Template:
    """A resolved template; `apply(fields)` returns a string or a list of chat messages."""

    def __init__(self, spec: str, system: str | None = None):
        if spec == "auto":
            raise R1Error("--template auto needs a model to decide by (-m MODEL); or name a template: r1-zero, r1-chat, chat, plain")
        self.spec = spec
        self.system = system
        if spec in BUILTIN:
            self.text = R1_ZERO if spec == "r1-zero" else None
        else:
            path = Path(spec)
            if not path.is_file():
                raise R1Error(f"--template {spec!r}: not a built-in template ({', '.join(BUILTIN)}) and no such file")
            try:
                self.text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise R1Error(f"--template {spec}: not valid UTF-8") from None
            if "{question}" not in self.text and "{prompt}" not in self.text:
                raise R1Error(f"--template {spec}: the template has no {{question}} placeholder for the question")

    def apply(self, question: str, fields: dict[str, Any] | None = None) -> str | list[dict[str, str]]:
        if self.spec in ("chat", "r1-chat"):
            messages = [{"role": "system", "content": self.system}] if self.system else []
            asked = f"{R1_INSTRUCTION}\n\n{question}" if self.spec == "r1-chat" else question
            return [*messages, {"role": "user", "content": asked}]
        if self.spec == "plain":
            return question
        assert self.text is not None
        # `{prompt}` is the R1-Zero template's name for the question; files may use either.
        return _fill(self.text, {**(fields or {}), "question": question, "prompt": question})
