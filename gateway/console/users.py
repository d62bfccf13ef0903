"""Console users: employees with a role of the policy, Argon2id passwords and TOTP codes.

Passwords are hashed with Argon2id (RFC 9106; argon2-cffi's defaults are its low-memory
profile). The second factor is a time-based one-time password (RFC 6238, 30-second steps,
6 digits) from an authenticator app; a code is accepted once (RFC 6238 §5.2: the last step
used is kept), and one step of clock drift either way is tolerated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Table, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from gateway.console.models import ConsoleUser
from gateway.domain import AffiliateId, Caller, SystemId
from gateway.errors import ValidationFailed
from gateway.freetext import refuse_national_id
from gateway.policy.model import ConsoleRole

USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 12  # 안전성 확보조치 기준 해설서: 10 characters of two kinds, or more
CONSOLE_SYSTEM = SystemId("console")  # the `system` of every record a console user leaves
ISSUER = "Hanbit gateway console"

_hasher = PasswordHasher()
# verified against when the user is unknown, so that a wrong name costs as long as a wrong
# password (no user enumeration through timing)
_DUMMY_HASH = _hasher.hash("no such user: constant work")


class UserRefused(ValidationFailed):
    type_slug = "console-user"
    title = "console user cannot be created"


@dataclass(frozen=True, slots=True)
class Account:
    """A signed-in (or signing-in) console user, as the pages see it: never the secrets."""

    username: str
    display_name: str
    role: str
    affiliate: str

    def caller(self, source: str | None) -> Caller:
        """The user as the access log names people: affiliate, system `console`, employee."""
        return Caller(affiliate=AffiliateId(self.affiliate), system=CONSOLE_SYSTEM,
                      employee=self.username, token_id="", source=source)


@dataclass(frozen=True, slots=True)
class NewUser:
    account: Account
    totp_secret: str | None  # shown once, at creation, to be put in an authenticator app

    def provisioning_uri(self) -> str | None:
        if self.totp_secret is None:
            return None
        return pyotp.TOTP(self.totp_secret).provisioning_uri(
            name=self.account.username, issuer_name=ISSUER)


_USERS: Table = ConsoleUser.__table__  # type: ignore[assignment]


def _account(row: Any) -> Account:
    return Account(username=row.username, display_name=row.display_name, role=row.role,
                   affiliate=row.affiliate)


class ConsoleUsers:
    """The `console_users` table: add users, look them up, check their credentials."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, *, username: str, display_name: str, role: ConsoleRole, affiliate: str,
            password: str, now: datetime, totp_secret: str | None = None) -> NewUser:
        """Create a user; a role with `second_factor` gets a TOTP secret (given or new)."""
        if not USERNAME.fullmatch(username):
            raise UserRefused("`username` must be 2-64 lowercase letters, digits, `.`, `_` or "
                              "`-`, starting with a letter")
        refuse_national_id("display_name", display_name)
        if not display_name.strip() or len(display_name) > 128:
            raise UserRefused("`display_name` must be 1-128 characters")
        if len(password) < MIN_PASSWORD:
            raise UserRefused(f"the password must have at least {MIN_PASSWORD} characters")
        secret = None
        if role.second_factor:
            secret = totp_secret or pyotp.random_base32()
            if not re.fullmatch(r"[A-Z2-7]{16,64}", secret):
                raise UserRefused("the totp secret must be 16-64 base32 characters")
        account = Account(username=username, display_name=display_name.strip(), role=role.id,
                          affiliate=affiliate)
        with self._engine.begin() as conn:
            try:
                conn.execute(_USERS.insert().values(
                    username=username, display_name=account.display_name, role=role.id,
                    affiliate=affiliate, password_hash=_hasher.hash(password),
                    totp_secret=secret, totp_last_step=None, disabled=False, created_at=now))
            except IntegrityError as exc:
                raise UserRefused(f"user `{username}` exists already") from exc
        return NewUser(account, secret)

    def get(self, username: str) -> Account | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(_USERS).where(
                _USERS.c.username == username, _USERS.c.disabled.is_(False))).first()
        return None if row is None else _account(row)

    def authenticate(self, username: str, password: str, code: str, *,
                     roles: Mapping[str, ConsoleRole], now: datetime) -> Account | None:
        """The account if the password (and, when the role needs it, the TOTP code) holds.

        Fails closed: an unknown or disabled user, a role the policy no longer defines, or a
        role needing a second factor with no secret on file, are all refused.
        """
        with self._engine.connect() as conn:
            row = conn.execute(select(_USERS).where(_USERS.c.username == username)).first()
        try:
            _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None or row.disabled:
            return None
        role = roles.get(row.role)
        if role is None:
            return None
        if role.second_factor and not self._second_factor(row, code, now):
            return None
        return _account(row)

    def _second_factor(self, row: Any, code: str, now: datetime) -> bool:
        if row.totp_secret is None or not re.fullmatch(r"\d{6}", code.strip()):
            return False
        totp = pyotp.TOTP(row.totp_secret)
        step_now = totp.timecode(now)
        for step in (step_now - 1, step_now, step_now + 1):
            if row.totp_last_step is not None and step <= row.totp_last_step:
                continue  # a code already used, or older than one used (RFC 6238 §5.2)
            if pyotp.utils.strings_equal(totp.generate_otp(step), code.strip()):
                # compare-and-set: two requests racing with the same code, one wins
                with self._engine.begin() as conn:
                    last = ConsoleUser.totp_last_step
                    claimed = conn.execute(
                        update(ConsoleUser)
                        .where(ConsoleUser.username == row.username,
                               (last.is_(None)) | (last < step))
                        .values(totp_last_step=step)).rowcount
                return bool(claimed)
        return False
