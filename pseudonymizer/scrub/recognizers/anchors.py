"""Where a pattern can begin: one scan per text finds the digit runs, patterns try only there.

Nearly every pattern opens with `(?=[0-9])(?<![0-9])`: a match can only start where a run
of digits starts, and the rest of the pattern fixes how long that run is (`900101-…` opens
with a run of 6, `9001011234567` is one run of 13). Python's `re` has no fast skip for such
patterns and tries every position, so ten recognizers meant ~20 scans of every memo. Here
one scan (`[0-9]+|[+(]`) lists the runs, and a pattern is tried with `Pattern.match` only at
the starts its `Anchor` allows — in order, skipping starts inside the previous match, which
is exactly what `Pattern.finditer` returns (a lookbehind sees text before `pos`). A pattern
with no anchor is scanned as before. `tests/scrub/test_scrub_anchors.py` checks the
equivalence on random text for every anchored pattern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Anchor", "DigitRuns"]

_TOKENS = re.compile(r"[0-9]+|[+(]")


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: a cheap cache key
class Anchor:
    """The starts a pattern can match at, relative to maximal runs of ASCII digits.

    `lengths`: the lengths the run a match opens with can have (None: any); `first`: the
    digits the run can open with ("": any); `before`: the match starts one character before
    the run, on one of these characters; `signs`: the match may also start on `+` or `(`.
    """

    lengths: frozenset[int] | None = None
    first: str = ""
    before: str = ""
    signs: bool = False


class DigitRuns:
    """The digit runs of one text, found on first use and shared by every recognizer."""

    __slots__ = ("_by_length", "_cache", "_runs", "_signs", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._runs: list[int] | None = None
        self._by_length: dict[int, list[int]] = {}
        self._signs: list[int] = []
        self._cache: dict[Anchor, list[int]] = {}

    def _scan(self) -> list[int]:
        text, runs, by_length, signs = self.text, [], self._by_length, self._signs
        for token in _TOKENS.finditer(text):
            start, end = token.span()
            if end - start == 1 and text[start] in "+(":
                signs.append(start)
            else:
                runs.append(start)
                by_length.setdefault(end - start, []).append(start)
        self._runs = runs
        return runs

    def starts(self, anchor: Anchor) -> list[int]:
        """Ascending positions where a pattern with `anchor` may match."""
        found = self._cache.get(anchor)
        if found is not None:
            return found
        runs = self._runs if self._runs is not None else self._scan()
        lengths = anchor.lengths
        if lengths is not None:
            picked = [starts for n, starts in self._by_length.items() if n in lengths]
            if len(picked) == 1:
                runs = picked[0]
            elif picked:
                runs = sorted([s for starts in picked for s in starts])
            else:
                runs = picked  # empty
        text = self.text
        if anchor.first:
            runs = [s for s in runs if text[s] in anchor.first]
        if anchor.before:
            runs = [s - 1 for s in runs if s and text[s - 1] in anchor.before]
        if anchor.signs and self._signs:
            runs = sorted(runs + self._signs)
        self._cache[anchor] = runs
        return runs

    def matches(self, pattern: re.Pattern[str], anchor: Anchor) -> list[re.Match[str]]:
        """What `pattern.finditer(text)` yields, trying only the anchor's starts."""
        out: list[re.Match[str]] = []
        end = 0
        match = pattern.match
        text = self.text
        for start in self.starts(anchor):
            if start < end:
                continue  # finditer resumes after a match: a start inside it is never tried
            found = match(text, start)
            if found is not None:
                out.append(found)
                end = found.end()
        return out
