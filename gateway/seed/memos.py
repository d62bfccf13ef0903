"""Synthetic call-centre memos (상담 메모): the free text the scrubber exists for.

Agents paste what customers say, so memos carry identifiers in every notation people type:
the customer's name, resident numbers (hyphen, none, spaced, dot, en dash, full-width,
masked), phones, emails, card and account numbers — and plenty of look-alikes (dates,
amounts, order and tracking numbers) that are not identifiers. All values are synthetic.

INVARIANT: resident numbers appear only masked after the century digit (`900101-1******`),
in the notations agents use: no seeded file holds anything that passes as a full number
(`tests/data/test_data_seed.py` scans every file). Full numbers in free text are exercised
by the scrubber's evaluation corpus and the API tests instead.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date

from gateway.seed.vocabulary import EMAIL_DOMAINS, MEMOS
from pseudonymizer.rrn import generate_rrn

__all__ = ["MEMO_SHARE", "memo", "memo_text"]

MEMO_SHARE = 0.35  # share of bank customers with a memo
IDENTIFIER_SHARE = 0.5  # share of memos that carry at least one identifier

_FULL_WIDTH = str.maketrans({str(i): chr(0xFF10 + i) for i in range(10)} | {"-": "\uff0d"})


def _rrn_notation(rng: random.Random, digits: str) -> str:
    """A resident number as agents type it — always masked after the century digit, in one
    of the notations people use (hyphen, spaced, dot, en dash, full-width, date only)."""
    front, century = digits[:6], digits[6]
    style = rng.randrange(6)
    if style == 0:
        return f"{front} - {century}******"
    if style == 1:
        return f"{front}.{century}******"
    if style == 2:
        return f"{front}\u2013{century}******"  # en dash, as word processors substitute
    if style == 3:
        return f"{front}-{century}＊＊＊＊＊＊".translate(_FULL_WIDTH)
    if style == 4:
        return f"{front}-*******"
    return f"{front}-{century}******"


def _luhn_complete(rng: random.Random, prefix: str, length: int = 16) -> str:
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def _card(rng: random.Random) -> str:
    number = _luhn_complete(rng, "9410")  # a domestic-only BIN range, synthetic
    return "-".join(number[i:i + 4] for i in (0, 4, 8, 12))


def _digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def _phone(rng: random.Random) -> str:
    number = f"010{rng.randint(2000, 9999)}{_digits(rng, 4)}"
    style = rng.randrange(4)
    if style == 0:
        return number
    if style == 1:
        return f"+82 10-{number[3:7]}-{number[7:]}"
    if style == 2:
        return f"{number[:3]}.{number[3:7]}.{number[7:]}"
    return f"{number[:3]}-{number[3:7]}-{number[7:]}"


def _relative_rrn(rng: random.Random) -> str:
    birth = date(rng.randint(1950, 2015), rng.randint(1, 12), rng.randint(1, 28))
    return generate_rrn(rng, birth, rng.choice((1, 2)), post2020=rng.random() < 0.3)


_Fill = Callable[[random.Random, str, str], str]

# Each template takes (rng, customer's name, customer's RRN digits) and returns a sentence.
_IDENTIFYING: tuple[_Fill, ...] = (
    lambda r, n, d: f"{n} 고객 본인확인 완료 (주민번호 {_rrn_notation(r, d)})",
    lambda r, n, d: f"자녀 주민등록번호 {_rrn_notation(r, _relative_rrn(r))}로 조회 요청",
    lambda r, n, d: f"{n}님 배우자 주민번호 {_rrn_notation(r, _relative_rrn(r))} 메모 요청함",
    lambda r, n, d: f"연락처 변경: {_phone(r)}로 변경 요청, {n}님 확인",
    lambda r, n, d: f"{n[1:]}님 재통화 희망 {_phone(r)} 오후 3시 이후",
    lambda r, n, d: f"이메일 {r.choice('abcdefgh')}{_digits(r, 3)}@{r.choice(EMAIL_DOMAINS)}으로 서류 발송",
    lambda r, n, d: f"카드번호 {_card(r)} 분실 신고",
    lambda r, n, d: f"환불계좌 110-{_digits(r, 3)}-{_digits(r, 6)} 입금 요청 ({n})",
    lambda r, n, d: f"자동이체 계좌 {_digits(r, 4)}-{_digits(r, 3)}-{_digits(r, 6)} 변경, 생년월일 {d[:6]}",
)
_LOOKALIKES: tuple[Callable[[random.Random], str], ...] = (
    lambda r: f"{r.randint(2023, 2025)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} 방문 예약",
    lambda r: f"이체 금액 {r.randint(1, 900):,},{r.randrange(1000):03d}원 확인",
    lambda r: f"주문번호 {r.randint(2023, 2025)}{_digits(r, 8)} 배송 문의",
    lambda r: f"송장번호 {_digits(r, 4)}-{_digits(r, 4)}-{_digits(r, 4)} 조회 안내",
    lambda r: f"{r.randint(9, 18)}:{r.randrange(60):02d} 콜백 예정",
)


def memo_text(rng: random.Random, name: str, rrn_digits: str, base: str | None = None, *,
              identifier_share: float = IDENTIFIER_SHARE) -> str:
    """One memo: a routine note (`base`, else drawn), often with identifiers and look-alikes."""
    parts = [base if base is not None else rng.choice(MEMOS)]
    if rng.random() < identifier_share:
        for fill in rng.sample(_IDENTIFYING, rng.randint(1, 3)):
            parts.append(fill(rng, name, rrn_digits))
    if rng.random() < 0.5:
        parts.append(rng.choice(_LOOKALIKES)(rng))
    rng.shuffle(parts)
    return ". ".join(parts)


def memo(rng: random.Random, key: str, name: str, rrn_digits: str) -> str | None:
    """The memo of one bank customer, or None (most customers have none).

    Draws exactly what the seed drew before memos carried identifiers (one `random()`, one
    `choice`), and builds the rest from a generator seeded by the customer key, so adding
    identifiers did not change any other seeded value.
    """
    if rng.random() >= MEMO_SHARE:
        return None
    base = rng.choice(MEMOS)
    return memo_text(random.Random(f"memo:{key}"), name, rrn_digits, base)
