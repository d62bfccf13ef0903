"""Load problems: each names the policy file, line and column, so an officer can jump to it."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import PolicyError


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    file: str
    line: int  # 1-based
    column: int  # 1-based
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class PolicyLoadError(PolicyError):
    """The policy set has problems; all of them are listed, one per line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        lines = [f"policy set has {count} problem{'s' if count != 1 else ''}"]
        lines += [str(problem) for problem in self.problems]
        super().__init__("\n".join(lines))
