"""Build `heldout/heldout.jsonl`: a held-out scrubber evaluation set written apart from the rest.

Run `python tests/scrub/corpus/build_heldout.py` from the repository root; the output is
deterministic (fixed seed) and committed. The lines below were written from the issue's
description of what must and must not be caught, without reading the recognizers, so that
figures on them are not tuned-on figures. Each template is used once (ids `xNNN`).

The file lives in a subfolder on purpose: `load_corpus(tests/scrub/corpus)` reads every
`*.jsonl` of that folder (not recursively), and the held-out lines must not join the corpus
the RRN gate of `test_scrub_eval.py` runs on.

Every value is synthetic: RRNs and foreigner numbers from `generate_rrn` (valid date, century
digit and check digit, or the post-2020 random serial), cards pass Luhn (ISO/IEC 7812-1
Annex B), business registration numbers carry the 국세청 check digit, and look-alikes are
built to fail the check the real identifier would pass (guards in `_decoy`).
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
import sys
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from pseudonymizer.rrn import generate_rrn, is_valid_rrn_like

OUT = Path(__file__).resolve().parent / "heldout" / "heldout.jsonl"
SEED = 20261123

SURNAMES = "김이박최정강조윤장임한오서신권황안송류전홍고문양손배백허남심노하곽성차주우구민진나엄채원천방공현함변염여추도소석선설마길연위표명기반왕금옥육인맹제모탁국어은편용"
GIVEN_A = "민서지도하준현수예은주윤채성영재승태시유우경혜동소다나정"
GIVEN_B = "준서윤진호민아연우훈빈희현영원은수경혁석주율린솔후환숙자철"

FULLWIDTH = str.maketrans({str(i): chr(0xFF10 + i) for i in range(10)})
FULLWIDTH_BACK = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)})
EMAIL_DOMAINS = ("naver.com", "gmail.com", "daum.net", "hanmail.net", "kakao.com", "nate.com",
                 "hotmail.com", "korea.kr", "snu.ac.kr", "samsung.com", "outlook.kr",
                 "icloud.com", "hanafn-demo.co.kr", "example.co.kr")
ROMAN = ("minsu", "jiwoo", "hyun", "seoyeon", "dokyung", "kimys", "parkjh", "leesh", "choi",
         "jung.h", "kang_m", "yoonji", "taeyang", "sol", "bora", "hana", "woojin", "eunbi")
REGIONS = ("서울", "부산", "경기", "강원", "충북", "충남", "전북", "전남", "경북", "경남", "제주",
           "대구", "인천", "광주", "대전", "울산")
LANDLINE_AREAS = ("031", "032", "033", "041", "042", "043", "044", "051", "052", "053", "054",
                  "055", "061", "062", "063", "064")
# Bank account layouts (digits per group) as the banks print them on passbooks.
BANKS = {
    "kb": (6, 2, 6), "kb-old": (3, 2, 4, 3), "shinhan": (3, 3, 6), "woori": (4, 3, 6),
    "hana": (3, 6, 5), "nh": (3, 4, 4, 2), "ibk": (3, 6, 2, 3), "kakao": (4, 2, 7),
    "toss": (4, 4, 4), "kbank": (3, 3, 6), "post": (6, 2, 6), "sc": (3, 2, 6),
    "mg": (4, 2, 7),
}
BANK_PREFIX = {"shinhan": "110", "woori": "1002", "kakao": "3333", "toss": "1000",
               "kbank": "100", "nh": "302", "mg": "9002"}


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def luhn_complete(head: str) -> str:
    for last in "0123456789":
        if luhn_ok(head + last):
            return head + last
    raise AssertionError("unreachable")


def brn_check(first9: str) -> int:
    """국세청 사업자등록번호 check digit (weights 1,3,7,1,3,7,1,3,5)."""
    w = (1, 3, 7, 1, 3, 7, 1, 3, 5)
    total = sum(int(d) * x for d, x in zip(first9, w, strict=True))
    total += int(first9[8]) * 5 // 10
    return (10 - total % 10) % 10


class Gen:
    """Value generators, one per slot kind; every value comes from one seeded `Random`."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def digits(self, n: int, *, first: str = "0123456789") -> str:
        r = self.rng
        return r.choice(first) + "".join(r.choice("0123456789") for _ in range(n - 1))

    def person(self) -> str:
        r = self.rng
        return r.choice(SURNAMES) + r.choice(GIVEN_A) + r.choice(GIVEN_B)

    def birth(self, lo: date, hi: date) -> date:
        return lo + timedelta(days=self.rng.randrange((hi - lo).days))

    # --- national ids --------------------------------------------------------------------

    def national(self, *, foreigner: bool, post2020: bool, child: bool) -> str:
        r = self.rng
        if child:
            born = self.birth(date(2020, 10, 5), date(2026, 10, 31))
        elif foreigner:
            born = self.birth(date(1955, 1, 1), date(2012, 12, 31))
        else:
            born = self.birth(date(1938, 1, 1), date(2019, 12, 31))
        return generate_rrn(r, born, r.choice((1, 2)), foreigner=foreigner, post2020=post2020)

    def rrn(self, variant: str, *, foreigner: bool = False) -> str:
        r = self.rng
        child = variant == "post2020"
        post = child or variant == "post2020-adult"
        d = self.national(foreigner=foreigner, post2020=post, child=child)
        while variant == "masked" and d[6] in "34":  # masked lines are about adults
            d = self.national(foreigner=foreigner, post2020=post, child=child)
        a, b = d[:6], d[6:]
        if variant in ("hyphen", "post2020", "post2020-adult", "glued"):
            return f"{a}-{b}"
        if variant in ("none", "glued-none"):
            return d
        if variant == "spaced":
            return a + r.choice((" - ", " -", "- ", " - ")) + b
        if variant == "fullwidth":
            return a.translate(FULLWIDTH) + r.choice(("－", "-", "－")) + b.translate(FULLWIDTH)
        if variant == "dot":
            return f"{a}.{b}"
        if variant == "endash":
            return f"{a}\u2013{b}"
        if variant == "masked":
            return f"{a}-{b[0]}******"
        raise KeyError(variant)

    # --- contact ---------------------------------------------------------------------------

    def phone(self, variant: str) -> str:
        r = self.rng
        mid, end = self.digits(4, first="23456789"), self.digits(4)
        if variant == "mobile-hyphen":
            return f"010-{mid}-{end}"
        if variant == "mobile-none":
            return f"010{mid}{end}"
        if variant == "mobile-space":
            return f"010 {mid} {end}"
        if variant == "mobile-dot":
            return f"010.{mid}.{end}"
        if variant == "mobile-intl":
            return r.choice((f"+82 10-{mid}-{end}", f"+82-10-{mid}-{end}"))
        if variant == "mobile-intl-none":
            return f"+8210{mid}{end}"
        if variant == "mobile-old":
            return f"{r.choice(('011', '016', '017', '019'))}-{self.digits(3, first='2345789')}-{end}"
        if variant == "seoul":
            return r.choice((f"02-{self.digits(3, first='2345678')}-{end}", f"02-{mid}-{end}"))
        if variant == "seoul-paren":
            return f"(02){mid}-{end}"
        if variant == "region":
            return f"{r.choice(LANDLINE_AREAS)}-{self.digits(3, first='2345678')}-{end}"
        if variant == "region-none":
            return f"{r.choice(LANDLINE_AREAS)}{mid}{end}"
        if variant == "voip":
            return f"070-{mid}-{end}"
        raise KeyError(variant)

    def email(self, variant: str) -> str:
        r = self.rng
        local = r.choice(ROMAN) + r.choice(("", str(r.randrange(10, 99)), str(r.randrange(1970, 2005))))
        if variant == "plus":
            local += "+" + r.choice(("bank", "card", "shop"))
        value = f"{local}@{r.choice(EMAIL_DOMAINS)}"
        return value.upper() if variant == "upper" else value

    # --- payment -----------------------------------------------------------------------------

    def card(self, variant: str) -> str:
        r = self.rng
        if variant == "amex":
            d = luhn_complete(r.choice(("34", "37")) + self.digits(12))
            return f"{d[:4]}-{d[4:10]}-{d[10:]}"
        head = r.choice(("4", "51", "52", "53", "54", "55", "2221", "3528", "3569", "9410",
                         "9420", "9430"))
        d = luhn_complete(head + self.digits(15 - len(head)))
        groups = [d[i : i + 4] for i in range(0, 16, 4)]
        sep = {"hyphen": "-", "space": " ", "none": ""}[variant]
        return sep.join(groups)

    def account(self, variant: str) -> str:
        bank, _, style = variant.partition("-")
        if bank == "kb" and style.startswith("old"):
            bank, style = "kb-old", style[4:]
        layout = BANKS[bank]
        while True:
            total = sum(layout)
            prefix = BANK_PREFIX.get(bank, "")
            d = prefix + self.digits(total - len(prefix), first="123456789" if not prefix else "0123456789")
            # An unhyphenated 13-digit account that is also a valid RRN is unknowable.
            if not (total == 13 and is_valid_rrn_like(d)):
                break
        if style == "none":
            return d
        parts, pos = [], 0
        for n in layout:
            parts.append(d[pos : pos + n])
            pos += n
        return "-".join(parts)

    def brn(self, variant: str) -> str:
        first9 = self.digits(3, first="123456789") + f"{self.rng.randint(1, 88):02d}" + self.digits(4)
        d = first9 + str(brn_check(first9))
        return d if variant == "none" else f"{d[:3]}-{d[3:5]}-{d[5:]}"

    def passport(self, variant: str) -> str:
        r = self.rng
        letter = r.choice("MMMMSRGD")
        if variant == "current":
            return f"{letter}{self.digits(3)}{r.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}{self.digits(4)}"
        return letter + self.digits(8)

    def licence(self, variant: str) -> str:
        r = self.rng
        year, serial, chk = f"{r.randint(0, 24):02d}", self.digits(6), self.digits(2)
        code = str(r.randint(11, 28))
        if variant == "hyphen":
            return f"{code}-{year}-{serial}-{chk}"
        if variant == "none":
            return f"{code}{year}{serial}{chk}"
        if variant == "region-name":
            return f"{r.choice(REGIONS)}{r.choice((' ', ''))}{year}-{serial}-{chk}"
        raise KeyError(variant)

    # --- look-alikes ---------------------------------------------------------------------------

    def decoy(self, kind: str) -> str:
        value = self._decoy(kind)
        digits = re.sub(r"\D", "", value)
        # Guards: a look-alike must fail the check the real identifier passes.
        assert not (len(digits) == 13 and is_valid_rrn_like(digits)), kind
        assert not (len(digits) in (15, 16) and luhn_ok(digits)), kind
        assert not (len(digits) == 10 and brn_check(digits[:9]) == int(digits[9])), kind
        return value

    def _decoy(self, kind: str) -> str:
        r = self.rng
        y = r.randint(2019, 2026)
        m, d = r.randint(1, 12), r.randint(1, 28)
        if kind == "order-number":
            while True:
                v = r.choice((f"{y}{m:02d}{d:02d}", "")) + self.digits(16, first="123456789")
                v = v[:16]
                if not luhn_ok(v):
                    return r.choice((v, f"{v[:8]}-{v[8:]}"))
        if kind == "tracking-number":
            v = r.choice(("5", "6", "3", "4")) + self.digits(11)
            return r.choice((v, f"{v[:4]}-{v[4:8]}-{v[8:]}", f"{v[:4]} {v[4:8]} {v[8:]}"))
        if kind == "date":
            return r.choice((f"{y}-{m:02d}-{d:02d}", f"{y}.{m:02d}.{d:02d}", f"{y % 100}.{m}.{d}",
                             f"{y}/{m:02d}/{d:02d}", f"{y}{m:02d}{d:02d}", f"{y}년 {m}월 {d}일"))
        if kind == "amount":
            v = r.randrange(10_000, 90_000_000, 10)
            return r.choice((f"{v:,}원", f"{v}원", f"{v:,}", f"₩{v:,}"))
        if kind == "time":
            h, mi = r.randint(0, 23), r.randrange(0, 60, 5)
            return r.choice((f"{h:02d}:{mi:02d}", f"{h}시 {mi}분", f"{h:02d}:{mi:02d}:{r.randint(0, 59):02d}"))
        if kind == "policy-number":
            while True:
                v = self.digits(r.choice((10, 11, 12)), first="2345789")
                if len(v) != 10 or brn_check(v[:9]) != int(v[9]):
                    return r.choice((v, f"{v[:4]}-{v[4:]}"))
        if kind == "loan-number":
            return f"{y}-{self.digits(7)}"
        if kind == "receipt-number":
            return f"{y % 100}{m:02d}{d:02d}-{self.digits(5)}"
        if kind == "approval-number":
            return self.digits(8)
        if kind == "card-expiry":
            return f"{m:02d}/{r.randint(26, 31)}"
        if kind == "invalid-rrn":
            # 13 digits whose first six cannot be a birth date for the 7th digit's century.
            head = r.choice((f"{r.randint(0, 99):02d}13{r.randint(1, 28):02d}",
                             f"{r.randint(0, 99):02d}{r.randint(1, 12):02d}32",
                             f"{r.choice((89, 91, 93))}0230", "000000",
                             f"{r.randint(60, 99):02d}0431", f"{r.randint(30, 99):02d}0101"))
            seventh = "3" if head[:2] >= "30" and head.endswith("0101") else r.choice("1234")
            v = head + seventh + self.digits(6)
            return r.choice((v, f"{v[:6]}-{v[6:]}"))
        if kind == "birth-date-6":
            return f"{r.randint(50, 99)}{m:02d}{d:02d}"
        if kind == "rep-number":
            return f"{r.choice(('1588', '1577', '1544', '1599', '1661', '1600'))}-{self.digits(4)}"
        if kind == "extension":
            return self.digits(4, first="2345678")
        if kind == "otp":
            return self.digits(6)
        if kind == "customer-number":
            return self.digits(r.choice((9, 11)), first="123456789")
        if kind == "postal-code":
            return self.digits(5, first="0123456")
        if kind == "car-plate":
            return f"{r.randint(10, 399)}{r.choice('가나다라마거너더러머버서어저고노도로모보소오조구누두루무부수우주')} {self.digits(4)}"
        if kind == "invalid-brn":
            first9 = self.digits(3, first="123456789") + f"{r.randint(1, 88):02d}" + self.digits(4)
            v = first9 + str((brn_check(first9) + r.randint(1, 9)) % 10)
            return f"{v[:3]}-{v[3:5]}-{v[5:]}"
        if kind == "product-code":
            return r.choice(("P", "A", "K")) + self.digits(8)
        if kind == "phone-fragment":
            return self.digits(4, first="123456789")
        if kind == "timestamp":
            return f"{y}{m:02d}{d:02d}{r.randint(0, 23):02d}{r.randint(0, 59):02d}{r.randint(0, 59):02d}"
        if kind == "ip-address":
            return ".".join(str(r.randint(1, 254)) for _ in range(4))
        if kind == "birth-date-8":
            return f"{r.randint(1950, 2005)}{m:02d}{d:02d}"
        if kind == "order-card-shape":
            while True:  # 16 digits in card layout that fail Luhn
                v = self.digits(16, first="3456789")
                if not luhn_ok(v):
                    return "-".join(v[i : i + 4] for i in range(0, 16, 4))
        if kind == "count":
            return str(r.randint(2, 40))
        raise KeyError(kind)


# `{name}` the customer's full name, `{given}` given name (before an honorific),
# `{name.spaced}` surname and given name with a space; `{other}` / `{staff}` someone else
# (plain text); `{entity.variant}` an identifier; `{d.kind}` a look-alike. A template is a
# string, or (string, fixed customer name) when the line plays on the name itself.
SLOT = re.compile(r"\{(\w+)(?:\.([\w-]+))?\}")
ENTITY = {"rrn": "KR_RRN", "frn": "KR_FRN", "phone": "KR_PHONE", "email": "EMAIL_ADDRESS",
          "card": "CREDIT_CARD", "acct": "KR_BANK_ACCOUNT", "brn": "KR_BRN",
          "passport": "KR_PASSPORT", "dl": "KR_DRIVER_LICENSE"}


def load_templates() -> list[tuple[str, str | tuple[str, str]]]:
    path = Path(__file__).resolve().parent / "heldout_templates.py"
    spec = importlib.util.spec_from_file_location("scrub_heldout_templates", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [(f"x{i:03d}", t) for i, t in enumerate(module.TEMPLATES, 1)] + [
        (f"y{i:03d}", t) for i, t in enumerate(module.SECOND_BATCH, 1)
    ]


def fill(template: str, name: str, gen: Gen) -> str:
    def one(m: re.Match[str]) -> str:
        kind, variant = m.group(1), m.group(2) or ""
        if kind == "name":
            value = f"{name[0]} {name[1:]}" if variant == "spaced" else name
            return f"[[PERSON#{variant or 'full'}:{value}]]"
        if kind == "given":
            return f"[[PERSON#given:{name[1:]}]]"
        if kind in ("other", "staff"):
            while (value := gen.person()) == name:
                pass
            return value
        if kind == "d":
            return "{{" + f"{variant}:{gen.decoy(variant)}" + "}}"
        if kind == "frn":
            value = gen.rrn(variant, foreigner=True)
        else:
            value = {"rrn": gen.rrn, "phone": gen.phone, "email": gen.email, "card": gen.card,
                     "acct": gen.account, "brn": gen.brn, "passport": gen.passport,
                     "dl": gen.licence}[kind](variant)
        return f"[[{ENTITY[kind]}#{variant}:{value}]]" if variant else f"[[{ENTITY[kind]}:{value}]]"

    return SLOT.sub(one, template)


def build() -> list[dict[str, str]]:
    gen = Gen(random.Random(SEED))
    rows = []
    for line_id, template in load_templates():
        text, fixed = (template, None) if isinstance(template, str) else template
        name = fixed or gen.person()
        rows.append({"id": line_id, "name": name, "text": fill(text, name, gen)})
    return rows


def main() -> None:
    OUT.parent.mkdir(exist_ok=True)
    rows = build()
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                   encoding="utf-8")
    print(f"wrote {len(rows)} lines to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
