"""The shape of the employee ids a system's tokens may name in `sub` (issue #13).

A privacy officer writes it in `affiliates.yaml` as a format, not a regular expression:

    employee_id: "E######"        # E and six digits (an HR employee number)
    employee_id: "*.callcenter"   # any id ending in `.callcenter`

`#` stands for one digit, `?` for one lowercase letter or digit, `*` for one or more id
characters (letters, digits, `.`, `_`, `-`); every other character stands for itself. A token
whose `sub` does not have the system's shape is refused (the system cannot name an employee it
does not have, nor another system, nor free text in the append-only log).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PIECES = {"#": "[0-9]", "?": "[a-z0-9]", "*": "[A-Za-z0-9._-]+"}
# what a format may contain besides the wildcards: the characters of an employee id
_LITERAL = re.compile(r"[A-Za-z0-9._@-]")
MAX_FORMAT_CHARS = 64


class EmployeeIdFormatInvalid(ValueError):
    """The format holds a character no employee id has, or is empty or too long."""


@dataclass(frozen=True, slots=True)
class EmployeeIdFormat:
    text: str  # as the officer wrote it
    _pattern: re.Pattern[str]

    @classmethod
    def parse(cls, text: str) -> EmployeeIdFormat:
        if not 1 <= len(text) <= MAX_FORMAT_CHARS:
            raise EmployeeIdFormatInvalid(
                f"an employee id format has 1 to {MAX_FORMAT_CHARS} characters")
        parts = []
        for char in text:
            if char in _PIECES:
                parts.append(_PIECES[char])
            elif _LITERAL.fullmatch(char):
                parts.append(re.escape(char))
            else:
                raise EmployeeIdFormatInvalid(
                    "an employee id format holds letters, digits, `.`, `_`, `@`, `-` and the "
                    "wildcards `#` (a digit), `?` (a letter or digit) and `*` (one or more)")
        return cls(text, re.compile("".join(parts)))

    def fits(self, employee: str) -> bool:
        return self._pattern.fullmatch(employee) is not None
