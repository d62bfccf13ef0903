"""Who proposes or approves a policy set: a named person, and how they reached the gateway."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from gateway.domain import Caller
from gateway.errors import ValidationFailed
from gateway.freetext import refuse_national_id


class BadOfficerName(ValidationFailed):
    type_slug = "officer-name"
    title = "officer name is empty or too long"


@dataclass(frozen=True, slots=True)
class Officer:
    name: str  # the employee id (token `sub`, console user, or `--officer` on the CLI)
    via: str  # api, cli, console, demo
    system: str | None = None
    affiliate: str | None = None

    @classmethod
    def from_caller(cls, caller: Caller) -> Officer:
        return cls.named(caller.employee, via="api", system=caller.system,
                         affiliate=caller.affiliate)

    @classmethod
    def named(cls, name: str, *, via: str, system: str | None = None,
              affiliate: str | None = None) -> Officer:
        name = name.strip()
        if not name or len(name) > 128:
            raise BadOfficerName("`officer`: give the employee id, 1 to 128 characters")
        refuse_national_id("officer", name)
        return cls(name=name, via=via, system=system, affiliate=affiliate)

    @property
    def key(self) -> str:
        """What four eyes compares: the name, case and width folded (`Kim` is `kim`)."""
        return unicodedata.normalize("NFKC", self.name).casefold()

    def is_same_person(self, name: str | None) -> bool:
        return name is not None and unicodedata.normalize("NFKC", name).casefold() == self.key

    def actor(self) -> dict[str, Any]:
        """The record's `actor`: the person first, then the system they used."""
        return {"employee": self.name, "via": self.via, "system": self.system,
                "affiliate": self.affiliate}
