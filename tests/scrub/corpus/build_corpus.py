"""Build `generated.jsonl`: hand-written memo templates filled with synthetic values.

Run `python tests/scrub/corpus/build_corpus.py` from the repository root; the output is
deterministic (fixed seed) and committed, so tests never depend on this script running.
Every value is synthetic: RRNs and foreigner numbers come from `generate_rrn` (valid date,
century digit and check digit, or the post-2020 random serial), cards pass Luhn (ISO/IEC
7812-1 Annex B), business registration numbers carry the 국세청 check digit. Look-alikes are
built so that they fail the check a real identifier would pass (see `_assert_decoy`).
Markup: `[[ENTITY#variant:value]]` for PII, `{{kind:value}}` for look-alikes (README.md).
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))  # run from a checkout

from pseudonymizer.rrn import generate_rrn, is_valid_rrn_like

SEED = 20240115
COPIES = 2  # instances per template
OUT = HERE / "generated.jsonl"

SURNAMES = [
    "김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오", "서", "신", "권",
    "황", "안", "송", "류", "홍", "전", "고", "문", "양", "손", "배", "백", "허", "남", "심",
]
GIVEN = [
    "민준", "서연", "도윤", "하은", "시우", "지우", "예준", "서윤", "주원", "지민",
    "하준", "수아", "건우", "지아", "현우", "채원", "지호", "다은", "준서", "예린",
    "승민", "유진", "태윤", "소율", "재원", "가은", "은호", "나연", "동현", "미경",
    "영수", "순자", "정희", "상철", "경숙", "성호", "혜진", "광수", "명숙", "종훈",
]
STAFF = ["상담원 오세린", "매니저 구태형", "팀장 봉미란", "담당 여진솔", "창구 편다흰"]
BANKS: dict[str, tuple[int, ...]] = {
    # bank → digit groups of its common account layout (hyphenated as customers write them)
    "국민": (6, 2, 6),
    "KB국민은행": (6, 2, 6),
    "신한": (3, 3, 6),
    "신한은행": (3, 3, 6),
    "우리은행": (4, 3, 6),
    "하나은행": (3, 6, 5),
    "농협": (3, 4, 4, 2),
    "기업은행": (3, 6, 2, 3),
    "카카오뱅크": (4, 2, 7),
    "토스뱅크": (4, 4, 4),
    "케이뱅크": (3, 3, 6),
    "우체국": (6, 2, 6),
    "새마을금고": (4, 2, 7),
    "SC제일은행": (3, 2, 6),
}
FULLWIDTH = str.maketrans({str(i): chr(0xFF10 + i) for i in range(10)} | {"-": "\uff0d"})


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def brn_check(first9: str) -> str:
    """국세청 사업자등록번호 검증번호: weights 1,3,7,1,3,7,1,3,5 plus floor(9th*5/10)."""
    weights = (1, 3, 7, 1, 3, 7, 1, 3, 5)
    total = sum(int(d) * w for d, w in zip(first9, weights, strict=True))
    total += int(first9[8]) * 5 // 10
    return str((10 - total % 10) % 10)


def group(digits: str, sizes: tuple[int, ...], sep: str = "-") -> str:
    out, i = [], 0
    for n in sizes:
        out.append(digits[i : i + n])
        i += n
    return sep.join(out)


class Values:
    """Synthetic values; each slot cycles through its notations so every one is covered."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.turn: dict[str, int] = {}

    def _next(self, slot: str, variants: list[str]) -> str:
        i = self.turn.get(slot, 0)
        self.turn[slot] = i + 1
        return variants[i % len(variants)]

    def _digits(self, n: int) -> str:
        return "".join(str(self.rng.randrange(10)) for _ in range(n))

    def _birth(self, lo: int = 1950, hi: int = 2004) -> date:
        start = date(lo, 1, 1)
        return start + timedelta(days=self.rng.randrange((date(hi, 12, 31) - start).days))

    # --- PII -------------------------------------------------------------------------
    def rrn(self, variant: str | None = None) -> str:
        v = variant or self._next(
            "rrn",
            ["hyphen", "none", "spaced", "fullwidth", "dot", "endash", "masked", "post2020",
             "space", "hyphen", "post2020-none", "fullwidth-none"],
        )
        rng = self.rng
        if v.startswith("post2020") or v == "child":
            # Post-2020 numbers belong mostly to children born since 2020-10-05, sometimes to
            # adults whose number was changed (주민등록법 제7조의4).
            if v == "child" or rng.random() < 0.8:
                birth = date(2020, 10, 5) + timedelta(days=rng.randrange(1700))
            else:
                birth = self._birth()
            d = generate_rrn(rng, birth, rng.choice([1, 2]), post2020=True)
        else:
            d = generate_rrn(rng, self._birth(), rng.choice([1, 2]))
        head, tail = d[:6], d[6:]
        text = {
            "hyphen": f"{head}-{tail}",
            "child": f"{head}-{tail}",
            "post2020": f"{head}-{tail}",
            "none": d,
            "post2020-none": d,
            "spaced": f"{head} - {tail}",
            "space": f"{head} {tail}",
            "fullwidth": f"{head}-{tail}".translate(FULLWIDTH),
            "fullwidth-none": d.translate(FULLWIDTH),
            "dot": f"{head}.{tail}",
            "endash": f"{head}\u2013{tail}",
            "masked": f"{head}-{tail[0]}******",
        }[v]
        return f"[[KR_RRN#{v}:{text}]]"

    def frn(self) -> str:
        v = self._next("frn", ["hyphen", "none", "spaced"])
        d = generate_rrn(self.rng, self._birth(1960, 2003), self.rng.choice([1, 2]),
                         foreigner=True)
        text = {"hyphen": f"{d[:6]}-{d[6:]}", "none": d, "spaced": f"{d[:6]} - {d[6:]}"}[v]
        return f"[[KR_FRN#{v}:{text}]]"

    def mobile(self) -> str:
        v = self._next("mobile", ["hyphen", "none", "space", "hyphen", "dot", "intl", "intl-space"])
        mid, last = self._digits(4), self._digits(4)
        pre = self.rng.choice(["010", "010", "010", "011", "016"])
        text = {
            "hyphen": f"{pre}-{mid}-{last}",
            "none": f"{pre}{mid}{last}",
            "space": f"{pre} {mid} {last}",
            "dot": f"{pre}.{mid}.{last}",
            "intl": f"+82-10-{mid}-{last}",
            "intl-space": f"+82 10 {mid} {last}",
        }[v]
        return f"[[KR_PHONE#mobile-{v}:{text}]]"

    def landline(self) -> str:
        v = self._next("landline", ["seoul3", "seoul4", "region", "voip", "region-none"])
        area = self.rng.choice(["031", "032", "051", "053", "062", "064", "042"])
        text = {
            "seoul3": f"02-{self._digits(3)}-{self._digits(4)}",
            "seoul4": f"02-{self.rng.randint(2, 9)}{self._digits(3)}-{self._digits(4)}",
            "region": f"{area}-{self.rng.randint(2, 9)}{self._digits(2)}-{self._digits(4)}",
            "voip": f"070-{self._digits(4)}-{self._digits(4)}",
            "region-none": f"{area}{self.rng.randint(2, 9)}{self._digits(3)}{self._digits(4)}",
        }[v]
        return f"[[KR_PHONE#landline-{v}:{text}]]"

    def phone(self) -> str:
        return self.mobile() if self._next("phone", ["m", "m", "l"]) == "m" else self.landline()

    def email(self) -> str:
        user = self.rng.choice(
            ["minjun", "sy.park", "hanbit_kim", "jiwoo1995", "dy.yoon", "coffee.lover", "k.hana",
             "ssoon77", "jh_lee", "mk.choi88", "happyday", "seoyeon.j"]
        ) + (str(self.rng.randrange(100)) if self.rng.random() < 0.4 else "")
        dom = self.rng.choice(
            ["naver.com", "daum.net", "hanmail.net", "gmail.com", "kakao.com", "nate.com",
             "example.co.kr", "corp.example.kr"]
        )
        return f"[[EMAIL_ADDRESS:{user}@{dom}]]"

    def card(self) -> str:
        v = self._next("card", ["hyphen", "space", "none", "hyphen", "amex", "domestic"])
        rng = self.rng
        while True:
            if v == "amex":
                body = rng.choice(["34", "37"]) + self._digits(12)
            elif v == "domestic":
                body = rng.choice(["9410", "9420", "9490"]) + self._digits(11)
            else:
                body = rng.choice(["4", "51", "52", "53", "54", "55", "35"])
                body += self._digits(15 - len(body))
            full = next(body + c for c in "0123456789" if luhn_ok(body + c))
            if len(full) != 13 or not is_valid_rrn_like(full):
                break
        text = {
            "hyphen": group(full, (4, 4, 4, 4)),
            "domestic": group(full, (4, 4, 4, 4)),
            "space": group(full, (4, 4, 4, 4), " "),
            "none": full,
            "amex": group(full, (4, 6, 5)),
        }[v]
        return f"[[CREDIT_CARD#{v}:{text}]]"

    def _account(self) -> tuple[str, str]:
        bank = self.rng.choice(sorted(BANKS))
        sizes = BANKS[bank]
        v = self._next("account", ["hyphen", "hyphen", "none"])
        while True:
            digits = self._digits(sum(sizes))
            # A 13-digit run with a valid birth date and century digit is also a valid
            # post-2020 RRN; no recognizer can tell them apart, so the corpus avoids them.
            if not is_valid_rrn_like(digits) and not luhn_ok(digits):
                break
        text = group(digits, sizes) if v == "hyphen" else digits
        return bank, f"[[KR_BANK_ACCOUNT#{v}:{text}]]"

    def account(self) -> str:
        return self._account()[1]

    def bankacct(self) -> str:
        bank, acct = self._account()
        return f"{bank} {acct}"

    def brn(self) -> str:
        v = self._next("brn", ["hyphen", "hyphen", "none"])
        first9 = f"{self.rng.randint(101, 899)}{self.rng.randint(1, 99):02d}{self._digits(4)}"
        d = first9 + brn_check(first9)
        text = group(d, (3, 2, 5)) if v == "hyphen" else d
        return f"[[KR_BRN#{v}:{text}]]"

    def passport(self) -> str:
        v = self._next("passport", ["current", "previous"])
        letter = self.rng.choice("MMMMSRO")
        if v == "current":
            text = f"{letter}{self._digits(3)}{self.rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}"
            text += self._digits(4)
        else:
            text = f"{letter}{self._digits(8)}"
        return f"[[KR_PASSPORT#{v}:{text}]]"

    def dl(self) -> str:
        v = self._next("dl", ["hyphen", "region-name", "none"])
        # Region codes 11-26 and 28, the set presidio's `KrDriverLicenseRecognizer` accepts.
        region = self.rng.choice([*range(11, 27), 28])
        year = f"{self.rng.randint(90, 124) % 100:02d}"
        serial, check = self._digits(6), self._digits(2)
        name = {11: "서울", 12: "부산", 13: "경기", 14: "강원", 15: "충북", 16: "충남", 17: "전북",
                18: "전남", 19: "경북", 20: "경남", 21: "제주", 22: "대구", 23: "인천", 24: "광주",
                25: "대전", 26: "울산", 28: "경기"}.get(region, "서울")
        text = {
            "hyphen": f"{region}-{year}-{serial}-{check}",
            "region-name": f"{name} {year}-{serial}-{check}",
            "none": f"{region}{year}{serial}{check}",
        }[v]
        return f"[[KR_DRIVER_LICENSE#{v}:{text}]]"

    # --- look-alikes that must not be flagged -----------------------------------------
    def _decoy(self, kind: str, text: str) -> str:
        _assert_decoy(kind, text)
        return "{{" + kind + ":" + text + "}}"

    def order(self) -> str:
        v = self._next("order", ["plain", "hyphen", "dated"])
        while True:
            d = ("2024" + self._digits(12)) if v == "dated" else self._digits(16)
            if not luhn_ok(d):
                break
        return self._decoy("order-number", group(d, (4, 4, 4, 4)) if v == "hyphen" else d)

    def date(self) -> str:
        d = date(2023, 1, 1) + timedelta(days=self.rng.randrange(900))
        v = self._next("date", ["iso", "dot", "slash", "short", "compact", "korean"])
        text = {
            "iso": f"{d:%Y-%m-%d}",
            "dot": f"{d:%Y.%m.%d}",
            "slash": f"{d:%Y/%m/%d}",
            "short": f"{d:%y.%m.%d}",
            "compact": f"{d:%Y%m%d}",
            "korean": f"{d.year}년 {d.month}월 {d.day}일",
        }[v]
        return self._decoy("date", text)

    def amount(self) -> str:
        n = self.rng.choice([self.rng.randrange(1000, 99_999_999), self.rng.randrange(10) * 10_000])
        v = self._next("amount", ["comma", "comma", "plain", "krw"])
        text = {"comma": f"{n:,}원", "plain": f"{n}원", "krw": f"KRW {n:,}"}[v]
        return self._decoy("amount", text)

    def time(self) -> str:
        h, m = self.rng.randint(9, 20), self.rng.choice([0, 10, 15, 30, 45, 50])
        v = self._next("time", ["colon", "korean", "seconds"])
        text = {"colon": f"{h:02d}:{m:02d}", "korean": f"{h}시 {m}분",
                "seconds": f"{h:02d}:{m:02d}:{self.rng.randrange(60):02d}"}[v]
        return self._decoy("time", text)

    def tracking(self) -> str:
        v = self._next("tracking", ["cj", "post", "hyphen"])
        d = {"cj": self._digits(12), "post": "6" + self._digits(12), "hyphen": self._digits(12)}[v]
        while len(d) == 13 and is_valid_rrn_like(d):
            d = "6" + self._digits(12)
        return self._decoy("tracking-number", group(d, (4, 4, 4)) if v == "hyphen" else d)

    def product(self) -> str:
        code = self.rng.choice(["HB-CARD-2024-0012", "SKU-88213-KR", "P2024-0315-07", "HBI-A1203",
                                "LN-JEONSE-2023", "FND-KR-000731", "TV-55QN90C", "DEP-12M-3.5"])
        return self._decoy("product-code", code)

    def policy(self) -> str:
        v = self._next("policy", ["prefixed", "digits", "hyphen"])
        text = {"prefixed": f"L{self.rng.randint(2019, 2024)}-{self._digits(7)}",
                "digits": "2" + self._digits(11),
                "hyphen": f"{self.rng.randint(2019, 2024)}-{self._digits(3)}-{self._digits(6)}"}[v]
        return self._decoy("policy-number", text)

    def receipt(self) -> str:
        d = date(2024, 1, 1) + timedelta(days=self.rng.randrange(600))
        v = self._next("receipt", ["dated", "prefixed"])
        text = (f"{d:%Y%m%d}-{self._digits(6)}" if v == "dated"
                else f"CS{d:%y%m%d}{self._digits(5)}")
        return self._decoy("receipt-number", text)

    def approval(self) -> str:
        return self._decoy("approval-number", self._digits(8))

    def zip(self) -> str:
        return self._decoy("postal-code", f"{self.rng.randint(1, 63):02d}{self._digits(3)}")

    def rep(self) -> str:
        return self._decoy("company-number",
                           f"{self.rng.choice(['1588', '1599', '1644', '1577'])}-{self._digits(4)}")

    def custno(self) -> str:
        return self._decoy("customer-number", f"{self.rng.randint(100, 999)}{self._digits(6)}")

    def expiry(self) -> str:
        month, year = self.rng.randint(1, 12), self.rng.randint(25, 31)
        return self._decoy("card-expiry", f"{month:02d}/{year}")

    def birth6(self) -> str:
        return self._decoy("birth-date-6", f"{self._birth():%y%m%d}")

    def loanno(self) -> str:
        return self._decoy("loan-number", f"{self.rng.randint(100, 999)}-{self._digits(2)}-"
                                          f"{self._digits(6)}-{self._digits(1)}")

    def badrrn(self) -> str:
        """13 digits in RRN layout whose birth date cannot exist (2월 30일, 13월, 32일)."""
        yy = f"{self.rng.randint(50, 99)}"
        mmdd = self.rng.choice(["0230", "0231", "1301", "1515", "0432", "0631", "0932", "1132",
                                "0000", "2012"])
        text = f"{yy}{mmdd}-{self.rng.randint(1, 2)}{self._digits(6)}"
        return self._decoy("invalid-rrn", text)


def _assert_decoy(kind: str, text: str) -> None:
    digits = re.sub(r"\D", "", text)
    if len(digits) == 13 and is_valid_rrn_like(digits):
        raise AssertionError(f"decoy `{kind}` would be a valid rrn")
    if kind in {"order-number"} and luhn_ok(digits):
        raise AssertionError(f"decoy `{kind}` passes luhn")


SLOT = re.compile(r"\{(\w+)(?::([\w-]+))?\}")


def render(template: str, values: Values, name: str) -> str:
    def fill(m: re.Match[str]) -> str:
        slot, arg = m.group(1), m.group(2)
        if slot == "name":
            return f"[[PERSON:{name}]]"
        if slot == "staff":
            return values.rng.choice(STAFF)
        method: Callable[..., str] = getattr(values, slot)
        return method(arg) if arg else method()

    return SLOT.sub(fill, template)


def load_templates() -> list[str]:
    """The sibling `templates.py`, loaded by path (this folder is data, not a package)."""
    spec = importlib.util.spec_from_file_location("scrub_corpus_templates", HERE / "templates.py")
    if spec is None or spec.loader is None:
        raise ImportError("cannot load `templates.py`")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.TEMPLATES)


def build() -> list[dict[str, str]]:
    """The generated lines, in order; the same on every run (fixed seed)."""
    rng = random.Random(SEED)
    values = Values(rng)
    rows = []
    for i, template in enumerate(load_templates()):
        for k in range(COPIES):
            name = rng.choice(SURNAMES) + rng.choice(GIVEN)
            rows.append({"id": f"g{i:03d}-{k}", "name": name,
                         "text": render(template, values, name)})
    return rows


def main() -> None:
    rows = build()
    with OUT.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} lines to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
