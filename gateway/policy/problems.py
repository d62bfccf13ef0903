"""Load problems: each names the policy file, line and column, so an officer can jump to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.errors import PolicyError

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    file: str
    line: int  # 1-based
    column: int  # 1-based
    message: str  # English, one line
    # Not part of equality: a problem is where it is and what it says; the code, severity and
    # Korean text describe it (see `gateway.policy.checks.codes`).
    code: str = field(default="P000", compare=False)
    severity: Severity = field(default="error", compare=False)
    message_ko: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def as_dict(self) -> dict[str, Any]:
        """The stable JSON shape `policy check --format json` prints for each problem."""
        return {"code": self.code, "severity": self.severity, "file": self.file,
                "line": self.line, "column": self.column, "message_en": self.message,
                "message_ko": self.message_ko}


class PolicyLoadError(PolicyError):
    """The policy set has problems; all of them are listed, one per line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        lines = [f"policy set has {count} problem{'s' if count != 1 else ''}"]
        lines += [str(problem) for problem in self.problems]
        super().__init__("\n".join(lines))
