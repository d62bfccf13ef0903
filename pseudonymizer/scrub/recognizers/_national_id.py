"""Shared pattern and scoring of resident (`KR_RRN`) and foreigner (`KR_FRN`) numbers.

Validation is `pseudonymizer.rrn.parse_national_id` (주민등록법 시행규칙 제2조; 출입국관리법
제31조): a real birth date in the century the 7th digit names scores high when the pre-2020
check digit holds and lower when it does not (post-2020 random serials have none).
"""

from __future__ import annotations

import re

from pseudonymizer.errors import InvalidNationalId
from pseudonymizer.rrn import NationalId, parse_national_id
from pseudonymizer.scrub.recognizers.anchors import Anchor

# No digit (or digit + separator) right before or after: the number is not a piece of a
# longer one such as an account or a card number.
_LEFT = r"(?=[0-9])(?<![0-9])(?<![0-9][-.])"  # look-ahead first: a fast scan
_RIGHT = r"(?![0-9])(?![-.][0-9])"
# Hyphen or dot with up to three spaces around it, or a single space, or nothing.
_SEP = r"(?P<sep> {0,3}[-.] {0,3}| )?"
_MASK = r"[*xX●○■□#]"

FULL = re.compile(_LEFT + r"(?P<id>(?P<front>[0-9]{6})" + _SEP + r"(?P<back>[0-9]{7}))" + _RIGHT)
# `900101 뒷자리 1234567`: the two halves dictated apart, as agents write down what they hear.
SPLIT = re.compile(
    _LEFT + r"(?P<id>(?P<front>[0-9]{6})[ ,/]{0,3}(?:뒷자리|뒷번호|뒤)[는은:]? {0,3}"
    r"(?P<back>[0-9]{7}))" + _RIGHT
)
# `900101-1******`: the century digit kept, the serial masked (the common display form).
MASKED = re.compile(
    _LEFT + r"(?P<id>(?P<front>[0-9]{6})" + _SEP + r"(?P<century>[0-9])" + _MASK + r"{6})"
)
# `900101-*******`: only the birth date left; resident or foreigner cannot be told apart.
DATE_ONLY = re.compile(_LEFT + r"(?P<id>(?P<front>[0-9]{6}) {0,3}[-.] {0,3}" + _MASK + r"{7})")

# The run a match opens with and what follows it: the front six digits and a separator,
# all 13 unseparated (`FULL`), or the front and the century digit, then a mask (`MASKED`).
ANCHORS = (
    (FULL, Anchor({6: " -.", 13: ""})),
    (SPLIT, Anchor({6: " ,/뒷뒤"})),
    (MASKED, Anchor({6: " -.", 7: "*xX●○■□#"})),
    (DATE_ONLY, Anchor({6: " -."})),
)

FOREIGNER_DIGITS = frozenset("5678")

SCORE_CHECKSUM = 0.85
SCORE_RANDOM_SERIAL = 0.6  # valid date and century digit, no check digit (post-2020 form)
SCORE_MASKED = 0.65
SCORE_DATE_ONLY = 0.4  # needs a context word


def parse(digits: str) -> NationalId | None:
    try:
        return parse_national_id(digits)
    except InvalidNationalId:
        return None


def score_full(match: re.Match[str], *, foreigner: bool) -> float | None:
    """Score a 13-digit candidate for the resident or the foreigner recognizer."""
    if (match["back"][0] in FOREIGNER_DIGITS) != foreigner:
        return None
    nid = parse(match["front"] + match["back"])
    if nid is None:
        return None
    if nid.confidence.value == "high":
        return SCORE_CHECKSUM
    return SCORE_RANDOM_SERIAL


def score_masked(match: re.Match[str], *, foreigner: bool) -> float | None:
    """Score `YYMMDD-G******`: only the date and the century digit can be checked."""
    century = match["century"]
    if (century in FOREIGNER_DIGITS) != foreigner:
        return None
    if parse(match["front"] + century + "000000") is None:
        return None
    return SCORE_MASKED


def score_date_only(match: re.Match[str]) -> float | None:
    """Score `YYMMDD-*******`: a real date in the 1900s or 2000s."""
    front = match["front"]
    if parse(front + "1000000") is None and parse(front + "3000000") is None:
        return None
    return SCORE_DATE_ONLY
