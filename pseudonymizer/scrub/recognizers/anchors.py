"""Where a pattern can begin: one scan per text finds the digit runs, patterns try only there.

Nearly every pattern opens with `(?=[0-9])(?<![0-9])`: a match can only start where a run
of digits starts, and the rest of the pattern fixes how long that run is and what follows
it (`900101-…` opens with a run of 6 and a separator, `9001011234567` is one run of 13). Python's `re` has no fast skip for such
patterns and tries every position, so ten recognizers meant ~20 scans of every memo. Here
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
    """Anchors by the run length they accept, so that one pass over the runs serves them all."""

    __slots__ = ("_any", "_by_length", "_signs", "slots")

    def __init__(self, anchors: Iterable[Anchor]) -> None:
        unique = tuple(dict.fromkeys(anchors))
        self.slots: dict[Anchor, int] = {anchor: i for i, anchor in enumerate(unique)}
        by_length: dict[int, list[tuple[int, str, str, str]]] = {}
        any_length: list[tuple[int, str, str, str]] = []
        for i, anchor in enumerate(unique):
            if anchor.runs is None:
                any_length.append((i, anchor.first, anchor.before, ""))
            else:
                for n, after in anchor.runs.items():
                    by_length.setdefault(n, []).append((i, anchor.first, anchor.before, after))
        self._by_length = {n: tuple(entries) for n, entries in by_length.items()}
        self._any = tuple(any_length)
        self._signs = tuple(i for i, anchor in enumerate(unique) if anchor.signs)

    def starts(self, text: str) -> list[list[int]]:
        """Per anchor slot, the ascending positions of `text` where a match may start."""
        out: list[list[int]] = [[] for _ in self.slots]
        by_length, any_length, signs = self._by_length, self._any, self._signs
        for token in _TOKENS.finditer(text):
            start, end = token.span()
            first_char = text[start]
            if first_char == "+" or first_char == "(":
                for i in signs:
                    out[i].append(start)
                continue
            next_char = text[end:end + 1]  # "" at the end of the text
            for entries in (by_length.get(end - start, ()), any_length):
                for i, first, before, after in entries:
                    if first and first_char not in first:
                        continue
                    if after and (not next_char or next_char not in after):
                        continue
                    if not before:
                        out[i].append(start)
                    elif start and text[start - 1] in before:
                        out[i].append(start - 1)
        return out


class DigitRuns:
    """The candidate starts of one text, found on first use and shared by every recognizer."""

    __slots__ = ("_index", "_starts", "text")

    def __init__(self, text: str, index: AnchorIndex) -> None:
        self.text = text
        self._index = index
        self._starts: list[list[int]] | None = None

    def matches(self, pattern: re.Pattern[str], anchor: Anchor) -> Iterable[re.Match[str]]:
        """What `pattern.finditer(text)` yields, trying only the anchor's starts."""
        slot = self._index.slots.get(anchor)
        if slot is None:  # an anchor the index was not built with: scan the whole text
            return pattern.finditer(self.text)
        if self._starts is None:
            self._starts = self._index.starts(self.text)
        out: list[re.Match[str]] = []
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
