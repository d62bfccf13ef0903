"""Anchored matching (`recognizers.anchors`) finds exactly what a full `finditer` scan finds."""

from __future__ import annotations

import random

import pytest

from pseudonymizer.scrub.recognizers import RECOGNIZERS
from pseudonymizer.scrub.recognizers.anchors import Anchor, AnchorIndex, DigitRuns

# Pieces that open, close, separate or border the patterns' numbers.
_PIECES = (
    "-", "-", ".", " ", " ", "  ", " - ", "+", "+82 ", "+82-", "(0)", "(", ")", "*", "******", "x",
    "X", "●", "#", "M", "S", "R", "G", "A", "z", "뒤", "뒷자리 ", "서울", "부산 ", "@", "\n", ",",
    "/", "주민번호 ", "계좌", "가", "A", "Z",
)


def _number(rng: random.Random) -> str:
    length = rng.choice((1, 2, 2, 3, 3, 4, 4, 5, 6, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17))
    first = rng.choice("0123456789" if rng.random() < 0.7 else "0")
    return first + "".join(rng.choice("0123456789") for _ in range(length - 1))


# Whole shapes (`d` a digit) that a random walk over the pieces rarely produces.
_SHAPES = (
    "dddddd 뒷자리 ddddddd", "dddddd,뒤 ddddddd", "dddddd-*******", "dddddd . *******",
    "dddddd-d******", "ddddddd******", "37dd-dddddd-ddddd", "34ddddddddddddd",
    "4ddd dddd dddd dddd", "ddd-dd-dddddd", "dddd-ddd-dddddd", "ddd-dddd-dddd-dd", "MdddAdddd",
    "Mdddddddd", "SdddZdddd", "Gddd Adddd", "서울 dd-dddddd-dd", "0dd-dddd-dddd",
    "+82 10-dddd-dddd",
)


def _shape(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789") if c == "d" else c for c in rng.choice(_SHAPES))


def _text(rng: random.Random) -> str:
    pieces = []
    for _ in range(rng.randint(1, 12)):
        roll = rng.random()
        pieces.append(_number(rng) if roll < 0.45 else _shape(rng) if roll < 0.6
                      else rng.choice(_PIECES))
    return "".join(pieces)


def _anchored() -> list[tuple[str, object]]:
    out = []
    for entity, cls in RECOGNIZERS.items():
        for pattern, anchor in cls.ANCHORS:
            if pattern in cls.PATTERNS:
                out.append((f"{entity}:{cls.PATTERNS.index(pattern)}", (pattern, anchor)))
    return out


_ALL = _anchored()
_INDEX = AnchorIndex(anchor for _, (_, anchor) in _ALL)


def _spans(matches: object) -> list[tuple[int, int, dict[str, str | None]]]:
    return [(m.start(), m.end(), m.groupdict()) for m in matches]  # type: ignore[attr-defined]


def test_every_numeric_pattern_is_anchored() -> None:
    # Only the email pattern and the region-name licence form are scanned whole.
    assert len(_ALL) == 17


@pytest.mark.parametrize(("label", "pair"), _ALL, ids=[label for label, _ in _ALL])
def test_anchored_matches_equal_a_full_scan(label: str, pair: tuple) -> None:
    pattern, anchor = pair
    rng = random.Random(label)
    hits = 0
    for _ in range(1000):
        text = _text(rng)
        expected = _spans(pattern.finditer(text))
        hits += len(expected)
        assert _spans(DigitRuns(text, _INDEX).matches(pattern, anchor)) == expected, label
    assert hits > 0, f"no match of `{label}` in the random texts: the test proves nothing"


def test_an_anchor_outside_the_index_falls_back_to_a_scan() -> None:
    pattern, _ = _ALL[0][1]
    text = "주민번호 900101-1234567"
    runs = DigitRuns(text, AnchorIndex(()))
    assert _spans(runs.matches(pattern, Anchor({6: ""}))) == _spans(pattern.finditer(text))
