"""`EMAIL_ADDRESS`: addresses in Korean text, without a public-suffix list (offline).

RFC 5322 §3.4.1 dot-atom local part (the common subset) and RFC 1035 labels; the top-level
label must be letters. Boundaries are ASCII, so Korean particles glued on (`...@naver.com으로`)
end the match — presidio's `\\w`-based pattern would swallow them.
"""

from __future__ import annotations

import re

from pseudonymizer.scrub.recognizers.base import KoreanRecognizer

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(
    r"(?=[A-Za-z0-9])(?<![A-Za-z0-9._%+-])"  # look-ahead first: a fast scan
    r"(?P<id>[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?"
    r" ?@ ?(?:" + _LABEL + r"\.)+[A-Za-z]{2,24})"
    r"(?![A-Za-z0-9-])(?!\.[A-Za-z0-9])"
)


class EmailRecognizer(KoreanRecognizer):
    ENTITY = "EMAIL_ADDRESS"
    PATTERNS = (_EMAIL,)
    REQUIRES = "@"
    CONTEXT = ("메일", "이메일", "e-mail", "email", "mail")

    def score(self, match: re.Match[str]) -> float | None:
        return 0.9
