"""Prompt templates: how a task's question becomes what the model sees.

    r1-zero   the DeepSeek-R1-Zero training template, verbatim; works for base models that have
              no chat template (the model continues after "Assistant:")
    chat      a single user message; the model's own chat template is applied when it is used
    plain     the question as it is
    PATH      a text file; `{question}` and any other `{field}` of the record are filled in
              (braces that name no field, e.g. LaTeX `\\frac{1}{2}`, are left alone)
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

BUILTIN = ("r1-zero", "chat", "plain")
_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _fill(template: str, fields: dict[str, Any]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        return str(fields[name]) if name in fields else m.group(0)

    return _FIELD.sub(sub, template)


class Template:
    """A resolved template; `apply(fields)` returns a string or a list of chat messages."""

    def __init__(self, spec: str, system: str | None = None):
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
        if self.spec == "chat":
            messages = [{"role": "system", "content": self.system}] if self.system else []
            return [*messages, {"role": "user", "content": question}]
        if self.spec == "plain":
            return question
        assert self.text is not None
        # `{prompt}` is the R1-Zero template's name for the question; files may use either.
        return _fill(self.text, {**(fields or {}), "question": question, "prompt": question})
