"""Each recipient's pseudonyms in the scheme its policy names: `siv` over the customer key, or
`ff1-13` over the customer number (13 digits for legacy columns; issue #4).

Both directions are one indexed look-up more for `ff1-13`: issuing reads the customer's number
(primary key), resolving reads the key behind a number (unique index). A 13-digit pseudonym is
never a valid national id number (the scheme's marker digit), and a valid national id number
is never accepted as a pseudonym, whatever the recipient's scheme.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from gateway.domain import CustomerKey
from gateway.errors import GatewayError
from pseudonymizer.errors import InvalidNationalId, InvalidPseudonym
from pseudonymizer.keys import KeyProvider
from pseudonymizer.pseudonyms import Mapped, Pseudonym, Pseudonymizer
from pseudonymizer.rrn import parse_national_id
from pseudonymizer.schemes import SCHEMES, Ff1LegacyScheme
from pseudonymizer.schemes.ff1_13 import CUSTOMER_NUMBER_LIMIT

__all__ = [
    "DEFAULT_SCHEME",
    "CustomerNumberUnusable",
    "CustomerNumbers",
    "RecipientPseudonyms",
    "is_national_id",
]

DEFAULT_SCHEME = "siv"
_NUMBERED = Ff1LegacyScheme.name  # the scheme whose subject is the customer number


class CustomerNumbers(Protocol):
    def number_of(self, customer_key: CustomerKey) -> int | None: ...
    def key_of_number(self, customer_no: int) -> CustomerKey | None: ...


class CustomerNumberUnusable(GatewayError):
    """No number (a schema older than revision 0002) or one past the scheme's 10^9 subjects."""

    type_slug = "customer-number-unusable"
    title = "customer number cannot be pseudonymized"


def is_national_id(text: str) -> bool:
    """Whether `text` parses as a resident or foreigner registration number."""
    try:
        parse_national_id(text)
    except InvalidNationalId:
        return False
    return True


class RecipientPseudonyms:
    """Issues, resolves and remaps pseudonyms, each recipient in its own policy's scheme."""

    def __init__(self, keys: KeyProvider, *, grace: timedelta, numbers: CustomerNumbers,
                 scheme_of: Callable[[str], str]) -> None:
        self._by_scheme = {name: Pseudonymizer(keys, scheme=name, grace=grace)
                           for name in SCHEMES}
        self._numbers = numbers
        self._scheme_of = scheme_of

    def scheme(self, recipient: str) -> str:
        return self._scheme_of(recipient)

    def current_version(self, recipient: str) -> int:
        """The key version of the pseudonyms `recipient` is given now."""
        return self._for(recipient)[1].scheme.current_version(recipient)

    def pseudonym(self, customer_key: CustomerKey, recipient: str) -> Pseudonym:
        """The recipient's stable pseudonym of the customer (current key version)."""
        name, pseudonymizer = self._for(recipient)
        if name != _NUMBERED:
            return pseudonymizer.pseudonym(customer_key, recipient)
        number = self._numbers.number_of(customer_key)
        if number is None:
            raise CustomerNumberUnusable("customer has no customer number: run "
                                         "`gateway db upgrade`")
        if not 0 <= number < CUSTOMER_NUMBER_LIMIT:
            raise CustomerNumberUnusable("customer number is outside the `ff1-13` range")
        return pseudonymizer.pseudonym(str(number), recipient)

    def pseudonyms(self, customer_keys: Sequence[CustomerKey], recipient: str) -> list[Pseudonym]:
        """`pseudonym` of many customers (a campaign batch): one call, in order."""
        name, pseudonymizer = self._for(recipient)
        if name != _NUMBERED:
            return list(pseudonymizer.pseudonyms(list(customer_keys), recipient))
        return [self.pseudonym(key, recipient) for key in customer_keys]

    def resolve(self, pseudonym: str, recipient: str, *, now: datetime | None = None
                ) -> CustomerKey:
        """The customer key behind one of the recipient's pseudonyms; `InvalidPseudonym` for
        anything else (forged, another recipient's, a customer number nobody has), or
        `ExpiredPseudonym` past the rotation grace period."""
        if is_national_id(pseudonym):
            raise InvalidPseudonym("a national id number is not a pseudonym")
        name, pseudonymizer = self._for(recipient)
        subject = pseudonymizer.resolve(pseudonym, recipient, now=now)
        if name != _NUMBERED:
            return CustomerKey(subject)
        key = self._numbers.key_of_number(int(subject))
        if key is None:  # the 1-in-1000 forgery that decrypts to a plausible number
            raise InvalidPseudonym(f"pseudonym was not issued to recipient `{recipient}`")
        return key

    def remap(self, pseudonyms: Sequence[str], recipient: str, *, now: datetime | None = None,
              keep: Callable[[CustomerKey], bool] | None = None) -> list[Mapped]:
        """Old pseudonyms → current ones (`Pseudonymizer.remap`); `keep` sees customer keys."""
        name, pseudonymizer = self._for(recipient)
        if name != _NUMBERED:
            plain = None if keep is None else (lambda subject: keep(CustomerKey(subject)))
            return pseudonymizer.remap(pseudonyms, recipient, now=now, keep=plain)

        def known(subject: str) -> bool:
            key = self._numbers.key_of_number(int(subject))
            return key is not None and (keep is None or keep(key))

        return pseudonymizer.remap(pseudonyms, recipient, now=now, keep=known)

    def _for(self, recipient: str) -> tuple[str, Pseudonymizer]:
        name = self._scheme_of(recipient)
        pseudonymizer = self._by_scheme.get(name)
        if pseudonymizer is None:  # the policy loader refuses unknown names: fail closed anyway
            raise GatewayError(f"unknown pseudonym scheme `{name}` for recipient `{recipient}`")
        return name, pseudonymizer
