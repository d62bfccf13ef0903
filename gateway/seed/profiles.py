"""One synthetic customer's rows in each affiliate that holds them (docs/DATA-MODEL.md).

Money follows skewed (lognormal) distributions, as incomes and balances do; amounts are whole
won. Nothing here writes a national id number except masked (`900101-1******`), also inside
the call-centre memos (`gateway.seed.memos`), the free text the scrubber exists for.
"""

from __future__ import annotations

import json
import math
import random
from datetime import date, timedelta
from typing import Any

from gateway.seed.identities import AS_OF, Identity, Weighted
from gateway.seed.memos import memo
from gateway.seed.vocabulary import (
    APARTMENT_SIZES,
    CAR_MODELS,
    CARD_PRODUCTS,
    COMMON_ROADS,
    EMAIL_DOMAINS,
    EMPLOYERS,
    HEALTH_RISK_CLASSES,
    INSURANCE_POLICIES,
    INTERESTS,
    JOB_LADDER,
    PHONE_PREFIX,
    REGIONS,
    RISK_PROFILES,
    ROADS_BY_PLACE,
    SPENDING_CATEGORIES,
    SURNAMES,
)

Row = dict[str, Any]

_SIDO = Weighted([(sido, share) for sido, (share, _) in REGIONS.items()])
_ROMAN = {surname: roman for surname, roman, _ in SURNAMES}
_RISK = Weighted(RISK_PROFILES)
_CARS = Weighted(CAR_MODELS)
_APARTMENTS = Weighted(APARTMENT_SIZES)
_HEALTH = Weighted(HEALTH_RISK_CLASSES)
_CREDIT = Weighted(list(zip(range(1, 11), (18, 20, 18, 14, 10, 8, 5, 3, 2, 2), strict=True)))
_EARLIEST_ACCOUNT = date(1995, 1, 1)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _lognormal(rng: random.Random, median: float, sigma: float, unit: int = 1) -> int:
    return int(rng.lognormvariate(math.log(median), sigma)) // unit * unit


def _age(birth: date) -> int:
    return AS_OF.year - birth.year - ((AS_OF.month, AS_OF.day) < (birth.month, birth.day))


def since(rng: random.Random, person: Identity) -> date:
    """When an affiliate took the customer on: after their 19th birthday, before AS_OF."""
    adult = person.birth + timedelta(days=19 * 365 + 5)
    start = max(adult, _EARLIEST_ACCOUNT).toordinal()
    return date.fromordinal(rng.randint(min(start, AS_OF.toordinal() - 1), AS_OF.toordinal() - 1))


def address(rng: random.Random) -> str:
    """`서울특별시 강남구 테헤란로 152, 101동 1203호` (도로명주소: 주소정보법 제2조)."""
    sido = _SIDO.pick(rng)
    sigungu = rng.choice(REGIONS[sido][1])
    road = rng.choice(ROADS_BY_PLACE.get((sido, sigungu), COMMON_ROADS))
    number = int((rng.paretovariate(1.2) - 1) * 20) + 1  # many small numbers, a long tail
    if number > 400:
        number = rng.randint(1, 400)
    street = f"{sido} {sigungu} {road} {number}"
    kind = rng.random()
    if kind < 0.62:  # apartment complex
        return f"{street}, {rng.randint(101, 125)}동 {rng.randint(1, 25)}{rng.randint(1, 8):02d}호"
    if kind < 0.85:  # villa or office building
        return f"{street}, {rng.randint(1, 5)}0{rng.randint(1, 4)}호"
    return street  # detached house


def mobile_phone(rng: random.Random) -> str:
    return f"{PHONE_PREFIX}-{rng.randint(2000, 9999)}-{rng.randrange(10_000):04d}"


def email(rng: random.Random, person: Identity) -> str | None:
    if rng.random() < 0.08:
        return None
    roman = "user" if person.foreigner else _ROMAN.get(person.name[:1], "user")
    if len(person.name) > 3 and person.name[:2] in _ROMAN:  # two-syllable surnames
        roman = _ROMAN[person.name[:2]]
    letters = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 5)))
    return f"{roman}.{letters}{rng.randrange(100)}@{rng.choice(EMAIL_DOMAINS)}"


def job(rng: random.Random, age: int) -> tuple[str | None, str | None, int]:
    """(employer, job title, annual income) for someone of `age`."""
    employed = 0.55 if age < 25 else 0.8 if age < 60 else 0.35 if age < 70 else 0.08
    roll = rng.random()
    if roll < employed:
        ladder = [step for step in JOB_LADDER if step[0] <= age]
        # Not everyone climbs: the title is drawn from the reachable top three rungs.
        _, title, median = rng.choice(ladder[-3:])
        return rng.choice(EMPLOYERS), title, _lognormal(rng, median, 0.3, 10_000)
    if roll < employed + 0.1:
        return "자영업", "대표", _lognormal(rng, 42_000_000, 0.8, 10_000)
    # students, homemakers, retirees: pensions and other income, often none
    return None, None, 0 if rng.random() < 0.4 else _lognormal(rng, 12_000_000, 0.6, 10_000)


def bank_row(rng: random.Random, person: Identity, key: str) -> Row:
    age = _age(person.birth)
    employer, title, income = job(rng, age)
    loan = 0 if rng.random() < 0.55 else _lognormal(rng, 45_000_000, 1.0, 10_000)
    return {
        "customer_key": key,
        "name": person.name,
        "rrn_masked": person.rrn_masked,
        "birth_date": person.birth,
        "address": address(rng),
        "mobile_phone": mobile_phone(rng),
        "email": email(rng, person),
        "employer": employer,
        "job_title": title,
        "annual_income": income,
        "deposit_balance": _lognormal(rng, 3_000_000 + 150_000 * age, 1.4),
        "loan_balance": loan,
        "credit_grade": _CREDIT.pick(rng),
        "callcenter_memo": memo(rng, key, person.name, person.rrn),
    }


def card_row(rng: random.Random, person: Identity, key: str) -> Row:
    spend = _lognormal(rng, 900_000, 0.8, 100)
    chosen = rng.sample(SPENDING_CATEGORIES, rng.randint(3, 8))
    weights = [share * rng.uniform(0.3, 1.7) for _, share in chosen]
    total = sum(weights)
    spending = sorted(
        ({"category": name, "amount": int(spend * w / total) // 100 * 100}
         for (name, _), w in zip(chosen, weights)),
        key=lambda item: -int(str(item["amount"])),
    )
    return {
        "customer_key": key,
        "card_products": _json(rng.sample(CARD_PRODUCTS, rng.choice((1, 1, 1, 2, 2, 3)))),
        "monthly_card_spend": spend,
        "spending_by_category": _json(spending),
        "interests": _json(rng.sample(INTERESTS, rng.randint(0, 4))),
    }


def securities_row(rng: random.Random, person: Identity, key: str) -> Row:
    value = 0 if rng.random() < 0.15 else _lognormal(rng, 12_000_000, 1.4)
    return {"customer_key": key, "stock_holdings_value": value,
            "investment_risk_profile": _RISK.pick(rng)}


def insurance_row(rng: random.Random, person: Identity, key: str) -> Row:
    policies = rng.sample(INSURANCE_POLICIES, rng.randint(1, 4))
    if rng.random() < 0.5 and "자동차보험" not in policies:
        policies.insert(0, "자동차보험")  # the most common policy by far
    return {
        "customer_key": key,
        "insurance_policies": _json(policies),
        "insured_car_model": _CARS.pick(rng) if "자동차보험" in policies else None,
        "apartment_size_m2": _APARTMENTS.pick(rng) if rng.random() < 0.7 else None,
        "health_risk_class": _HEALTH.pick(rng),
    }


ROW_MAKERS = {
    "bank": bank_row,
    "card": card_row,
    "securities": securities_row,
    "insurance": insurance_row,
}
