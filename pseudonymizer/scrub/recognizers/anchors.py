"""Where a pattern can begin: one scan per text finds the digit runs, patterns try only there.

Nearly every pattern opens with `(?=[0-9])(?<![0-9])`: a match can only start where a run
of digits starts, and the rest of the pattern fixes how long that run is and what follows
it (`900101-…` opens with a run of 6 and a separator, `9001011234567` is one run of 13).
Python's `re` has no fast skip for such patterns and tries every position, so ten
recognizers meant ~20 scans of every memo. Here
one scan (`[0-9]+|[+(]`) lists the runs, and a pattern is tried with `Pattern.match` only at
the starts its `Anchor` allows — in order, skipping starts inside the previous match, which
is exactly what `Pattern.finditer` returns (a lookbehind sees text before `pos`). A pattern
with no anchor is scanned as before. `tests/scrub/test_scrub_anchors.py` checks the
equivalence on random text for every anchored pattern.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Anchor", "AnchorIndex", "DigitRuns"]

_TOKENS = re.compile(r"[0-9]+|[+(]")


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: a cheap cache key
class Anchor:
    """The starts a pattern can match at, relative to maximal runs of ASCII digits.

    `runs`: for each length the run a match opens with can have, the characters that can
    follow that run ("": any; None: a run of any length, followed by anything); `first`: the
    digits the run can open with ("": any); `before`: the match starts one character before
    the run, on one of these characters; `signs`: the match may also start on `+` or `(`.
    """

    runs: Mapping[int, str] | None = None
    first: str = ""
    before: str = ""
    signs: bool = False


class AnchorIndex:
    """The anchors of a set of patterns, so that one pass over the digit runs serves them all.

    Which anchors a run satisfies depends only on its length, its first digit, the character
    after it and the one before it, each reduced to "" when no anchor names it; the answer
    for each such key is worked out once and kept (a few hundred keys in practice).
    """

    __slots__ = ("_afters", "_befores", "_entries", "_firsts", "_signs", "_table", "slots")

    _MAX_KEYS = 4096  # a bound on memory for texts with runs of every length

    def __init__(self, anchors: Iterable[Anchor]) -> None:
        unique = tuple(dict.fromkeys(anchors))
        self.slots: dict[Anchor, int] = {anchor: i for i, anchor in enumerate(unique)}
        self._entries = tuple((i, anchor) for i, anchor in enumerate(unique))
        self._signs = tuple(i for i, anchor in enumerate(unique) if anchor.signs)
        self._firsts = frozenset("".join(anchor.first for anchor in unique))
        self._befores = frozenset("".join(anchor.before for anchor in unique))
        self._afters = frozenset(
            "".join(after for anchor in unique for after in (anchor.runs or {}).values())
        )
        self._table: dict[tuple[int, str, str, str], tuple[tuple[int, int], ...]] = {}

    def _targets(self, length: int, first_char: str, next_char: str, prev_char: str,
                 ) -> tuple[tuple[int, int], ...]:
        """(slot, shift) of every anchor a run with these traits satisfies; the candidate
        start is the run's start plus the shift (-1 when the match opens before the run)."""
        out = []
        for i, anchor in self._entries:
            if anchor.runs is None:
                after = ""
            elif length in anchor.runs:
                after = anchor.runs[length]
            else:
                continue
            if anchor.first and (not first_char or first_char not in anchor.first):
                continue
            if after and (not next_char or next_char not in after):
                continue
            if not anchor.before:
                out.append((i, 0))
            elif prev_char and prev_char in anchor.before:
                out.append((i, -1))
        return tuple(out)

    def starts(self, text: str) -> list[list[int]]:
        """Per anchor slot, the ascending positions of `text` where a match may start."""
        out: list[list[int]] = [[] for _ in self.slots]
        table, signs = self._table, self._signs
        firsts, afters, befores = self._firsts, self._afters, self._befores
        for token in _TOKENS.finditer(text):
            start, end = token.span()
            first_char = text[start]
            if first_char == "+" or first_char == "(":
                for i in signs:
                    out[i].append(start)
                continue
            next_char = text[end:end + 1]  # "" at the end of the text
            prev_char = text[start - 1] if start else ""
            key = (
                end - start,
                first_char if first_char in firsts else "",
                next_char if next_char in afters else "",
                prev_char if prev_char in befores else "",
            )
            targets = table.get(key)
            if targets is None:
                if len(table) >= self._MAX_KEYS:
                    table.clear()
                targets = table[key] = self._targets(*key)
            for i, shift in targets:
                out[i].append(start + shift)
        return out


class DigitRuns:
    """The candidate starts of one text, found on first use and shared by every recognizer."""

    __slots__ = ("_found", "_index", "_starts", "text")

    def __init__(self, text: str, index: AnchorIndex) -> None:
        self.text = text
        self._index = index
        self._starts: list[list[int]] | None = None
        # By pattern id: resident and foreigner numbers share their patterns, matched once.
        self._found: dict[int, list[re.Match[str]]] = {}

    def matches(self, pattern: re.Pattern[str], anchor: Anchor) -> Iterable[re.Match[str]]:
        """What `pattern.finditer(text)` yields, trying only the anchor's starts."""
        slot = self._index.slots.get(anchor)
        if slot is None:  # an anchor the index was not built with: scan the whole text
            return pattern.finditer(self.text)
        out = self._found.get(id(pattern))
        if out is not None:
            return out
        if self._starts is None:
            self._starts = self._index.starts(self.text)
        out = []
        self._found[id(pattern)] = out
        end = 0
        match = pattern.match
        text = self.text
        for start in self._starts[slot]:
            if start < end:
                continue  # finditer resumes after a match: a start inside it is never tried
            found = match(text, start)
            if found is not None:
                out.append(found)
                end = found.end()
        return out
