"""The deterministic stream of synthetic people: national id number, birth date, name, holdings.

Customer `i` of a seed is always the `i`-th item of `identities(rng_seed)`, so a demo can
regenerate a customer's number in memory (`demo_rrn`) instead of anyone writing raw numbers to
disk. Numbers are unique within a stream: a collision is redrawn, which is why the stream is
sequential (replaying it to item `i` costs O(i), microseconds for the first hundred).

Number forms (see `pseudonymizer.rrn`): ~85 % the pre-October-2020 layout with a check digit,
~15 % the random-serial layout of numbers issued or re-issued since 2020-10-05, ~3 % foreigner
registration numbers (출입국관리법 제31조).
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Generic, TypeVar

from gateway.seed.vocabulary import FOREIGN_NAMES, GIVEN_NAMES, SURNAMES
from pseudonymizer.rrn import generate_rrn

T = TypeVar("T")

DEFAULT_RNG_SEED = 20_251_001
AS_OF = date(2025, 1, 1)  # the synthetic group's "today": ages and account ages count from here
POST2020_SHARE = 0.15
FOREIGNER_SHARE = 0.03
HOLDING_SHARES: tuple[tuple[str, float], ...] = (  # docs/DATA-MODEL.md "Overlap in the seed"
    ("bank", 0.90), ("card", 0.60), ("securities", 0.25), ("insurance", 0.35),
)
# Adult customers by age band (roughly the 2023 주민등록 인구 pyramid, 19-89)
AGE_BANDS: tuple[tuple[tuple[int, int], int], ...] = (
    ((19, 19), 2), ((20, 29), 13), ((30, 39), 14), ((40, 49), 17), ((50, 59), 18),
    ((60, 69), 16), ((70, 79), 9), ((80, 89), 4),
)


class Weighted(Generic[T]):
    """Pick from (item, weight) pairs with one random() call (cumulative weights, bisect)."""

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        self._items = [item for item, _ in pairs]
        self._cumulative = list(itertools.accumulate(weight for _, weight in pairs))
        self._total = self._cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        return self._items[bisect.bisect_right(self._cumulative, rng.random() * self._total)]


_AGES = Weighted(AGE_BANDS)
_SURNAMES = Weighted([(s, w) for s, _, w in SURNAMES])


@dataclass(frozen=True, slots=True, repr=False)
class Identity:
    """One synthetic person. `rrn` is raw digits: keep it in memory, never print it."""

    index: int
    rrn: str = field(repr=False)
    birth: date
    sex: int  # 1 male, 2 female (ISO/IEC 5218)
    foreigner: bool
    post2020: bool
    name: str
    holdings: tuple[str, ...]

    @property
    def rrn_masked(self) -> str:
        return f"{self.rrn[:6]}-{self.rrn[6]}******"

    def __repr__(self) -> str:
        return f"Identity(index={self.index}, rrn={self.rrn_masked}, holdings={self.holdings})"


def _birth(rng: random.Random) -> date:
    low, high = _AGES.pick(rng)
    age = rng.randint(low, high)
    first = date(AS_OF.year - age - 1, AS_OF.month, AS_OF.day) + timedelta(days=1)
    return first + timedelta(days=rng.randrange(365))  # aged `age` on AS_OF


def _name(rng: random.Random, birth: date, sex: int, foreigner: bool) -> str:
    if foreigner:
        male, female = rng.choice(FOREIGN_NAMES)
        return rng.choice(male if sex == 1 else female)
    cohort = f"{min(max(birth.year // 10 * 10, 1940), 2000)}s"
    male, female = GIVEN_NAMES[cohort]
    return _SURNAMES.pick(rng) + rng.choice(male if sex == 1 else female)


def _holdings(rng: random.Random) -> tuple[str, ...]:
    while True:  # every customer is held by at least one affiliate
        held = tuple(aff for aff, share in HOLDING_SHARES if rng.random() < share)
        if held:
            return held


def identities(rng_seed: int = DEFAULT_RNG_SEED) -> Iterator[Identity]:
    """Endless, deterministic stream of people with pairwise distinct numbers."""
    rng = random.Random(f"hanbit-seed:{rng_seed}:identities")
    seen: set[str] = set()
    for index in itertools.count():
        birth = _birth(rng)
        sex = 1 if rng.random() < 0.5 else 2
        foreigner = rng.random() < FOREIGNER_SHARE
        post2020 = rng.random() < POST2020_SHARE
        rrn = generate_rrn(rng, birth, sex, foreigner=foreigner, post2020=post2020)
        while rrn in seen:  # same person data, a fresh serial
            rrn = generate_rrn(rng, birth, sex, foreigner=foreigner, post2020=post2020)
        seen.add(rrn)
        yield Identity(index=index, rrn=rrn, birth=birth, sex=sex, foreigner=foreigner,
                       post2020=post2020, name=_name(rng, birth, sex, foreigner),
                       holdings=_holdings(rng))


def demo_identity(rng_seed: int, index: int) -> Identity:
    """The `index`-th seeded person, regenerated in memory (nothing is read from disk)."""
    if index < 0:
        raise ValueError("demo customer index must be non-negative")
    return next(itertools.islice(identities(rng_seed), index, None))


def first_held_by(rng_seed: int, affiliates: Iterable[str], n_customers: int) -> Identity:
    """The first seeded person held by every one of `affiliates` (for a demo request)."""
    wanted = set(affiliates)
    for person in itertools.islice(identities(rng_seed), n_customers):
        if wanted <= set(person.holdings):
            return person
    raise LookupError(f"no seeded customer is held by all of {sorted(wanted)}")


def demo_rrn(rng_seed: int, index: int) -> str:
    """The raw number of the `index`-th seeded customer, for a demo request; never store it."""
    return demo_identity(rng_seed, index).rrn
