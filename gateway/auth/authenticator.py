"""Check a system-signed JWT (RFC 7519) and turn it into the `Caller` of the request.

Rules, in the order they are applied (each refusal has its own error, see gateway/errors.py):
- `Authorization: Bearer <token>` (RFC 6750 §2.1; the scheme is case-insensitive, RFC 9110 §11.1);
- the token is a compact JWS (RFC 7515 §7.1);
- the unverified `iss` names a registered system, and the header `alg` is exactly the one
  pinned for that system, checked BEFORE any verification (RFC 8725 §2.1, §3.1: `none`, HMAC
  and anything else are refused, so "HS256 keyed with the public key" cannot work);
- the signature verifies with that system's registered public key;
- `iss`, `sub`, `aud`, `exp`, `iat`, `jti` are present, `aud` names this gateway (§4.1.3);
- `exp` has not passed and `iat`/`nbf` are not in the future, within a bounded clock skew
  (§4.1.4, §4.1.5, §4.1.6), and the lifetime `exp - iat` is at most the maximum;
- `jti` was never used before (§4.1.7) — recorded only once everything above holds, so a
  forged or refused token cannot burn a legitimate id.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

import jwt
import orjson

from gateway.auth.algorithms import (
    ALLOWED_ALGORITHMS,
    TOKEN_ALGORITHMS,
    VERIFIERS,
    PublicKey,
    public_key_fits,
)
from gateway.auth.jti_store import JtiStore
from gateway.domain import AffiliateId, Caller, SystemId
from pseudonymizer.rrn import contains_national_id
from gateway.errors import (
    AlgorithmNotAllowed,
    AuthError,
    BadSignature,
    ConfigError,
    MalformedToken,
    MissingClaim,
    MissingToken,
    TokenExpired,
    TokenLifetimeTooLong,
    UnknownSystem,
    WrongAudience,
)

if TYPE_CHECKING:
    from gateway.auth.offload import RemoteSignatures

REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti")
MAX_TOKEN_CHARS = 8192  # a real token is well under 1 KiB; refuse before parsing anything big
MAX_SUB_CHARS = 128
MAX_JTI_CHARS = 255  # width of `used_tokens.jti`

_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# An employee or batch-job identifier, as `sub` must be (any script's letters and digits).
_SUBJECT = re.compile(r"[^\W_][\w.@-]*")
# Unverified values are echoed in messages only when they look like an id (never token text).
_ECHOABLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


class TokenNotYetValid(AuthError):
    """`iat` or `nbf` lies in the future beyond the allowed clock skew (RFC 7519 §4.1.5, §4.1.6)."""

    type_slug = "token-not-yet-valid"
    title = "token is not valid yet"


class SystemKey(Protocol):
    """What the authenticator needs to know about a registered system (policy `System` fits)."""

    @property
    def id(self) -> str: ...

    @property
    def affiliate(self) -> str: ...

    @property
    def algorithm(self) -> str: ...

    @property
    def public_key(self) -> object: ...


@dataclass(frozen=True, slots=True)
class _Signed:
    """A token that passed every check before its signature's (`Authenticator._signed`)."""

    token: str
    alg: str
    claims: dict[str, Any]  # NOT verified until the signature is
    system: SystemKey
    key: PublicKey


class Authenticator:
    """The authenticate step: `Authorization` header in, `Caller` out, or an `AuthError`."""

    def __init__(
        self,
        lookup_system: Callable[[str], SystemKey | None],
        jti_store: JtiStore,
        *,
        audience: str,
        max_lifetime_s: int,
        skew_s: int,
    ) -> None:
        if max_lifetime_s < 1 or skew_s < 0:
            raise ConfigError("token lifetime must be positive and clock skew not negative")
        self._lookup_system = lookup_system
        self._jti_store = jti_store
        self._audience = audience
        self._max_lifetime_s = max_lifetime_s
        self._skew_s = skew_s

    def purge_used_token_ids(self, now: datetime) -> int:
        """Forget token ids that could no longer be replayed anyway (their `exp` + skew passed)."""
        return self._jti_store.purge_expired(now)

    def authenticate(
        self, authorization_header: str | None, *, now: datetime, source: str | None
    ) -> Caller:
        """Return who is calling, or raise the `AuthError` naming the first rule broken.

        The token id is recorded in the jti store before this returns (`TokenReplayed` if it
        was used before). The API instead calls `verify` and claims the id together with the
        request's access record (`gateway.accesslog.TokenClaim`).
        """
        caller, expires = self._verify(authorization_header, now=now, source=source)
        # INVARIANT: the jti is recorded only after the signature and every claim check passed.
        self._jti_store.remember(caller.token_id, caller.system, expires)
        return caller

    def verify(self, authorization_header: str | None, *, now: datetime, source: str | None
               ) -> tuple[Caller, datetime]:
        """Every check but the replay check: the caller, and until when its token id must be
        remembered. The caller must claim the id (once) before acting on the request."""
        return self._verify(authorization_header, now=now, source=source)

    async def verify_offloaded(self, authorization_header: str | None, *, now: datetime,
                               source: str | None, signatures: RemoteSignatures
                               ) -> tuple[Caller, datetime]:
        """`verify`, with the signature checked by the host's signature service
        (`gateway.auth.offload`); where it gives no answer, checked here as `verify` does."""
        signed = self._signed(authorization_header, now)
        signing_input, _, encoded = signed.token.rpartition(".")
        signature_bytes(encoded)  # a non-canonical spelling is refused before it is sent
        verdict = await signatures.verify(signed.alg, signed.key, signing_input, encoded)
        _verify_signature(signed.token, signed.system, signed.key, signed.alg, verdict=verdict)
        return self._accepted(signed, now=now, source=source)

    def _verify(self, authorization_header: str | None, *, now: datetime, source: str | None
                ) -> tuple[Caller, datetime]:
        signed = self._signed(authorization_header, now)
        _verify_signature(signed.token, signed.system, signed.key, signed.alg)
        return self._accepted(signed, now=now, source=source)

    def _signed(self, authorization_header: str | None, now: datetime) -> _Signed:
        """Every check before the signature's: the token, its system, key and algorithm."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("`now` must be timezone-aware")
        token = _bearer_token(authorization_header)
        alg, unverified = _peek(token)
        system, key = self._system_for(unverified)
        if alg not in TOKEN_ALGORITHMS[system.algorithm]:
            raise AlgorithmNotAllowed(
                f"token algorithm {_echo(alg)} is not `{system.algorithm}`, "
                f"the one pinned for `{system.id}`"
            )
        return _Signed(token, alg, unverified, system, key)

    def _accepted(self, signed: _Signed, *, now: datetime, source: str | None
                  ) -> tuple[Caller, datetime]:
        """Every check after the signature verified: the claims, times and subject."""
        unverified, system = signed.claims, signed.system
        claims = self._checked_claims(unverified, system)
        expires = self._check_times(claims, now.timestamp())
        subject = self._subject(claims, system)
        token_id = _text_claim(claims, "jti", MAX_JTI_CHARS)
        caller = Caller(
            affiliate=AffiliateId(system.affiliate),
            system=SystemId(system.id),
            employee=subject,
            token_id=token_id,
            source=source,
        )
        # the id is kept until the token could no longer be accepted, leeway included
        return caller, datetime.fromtimestamp(expires + self._skew_s, tz=timezone.utc)

    def _subject(self, claims: dict[str, Any], system: SystemKey) -> str:
        """`sub`: the employee or batch job behind the call, as every record will name it.

        It goes into the append-only log, so it must be an identifier (letters, digits and
        `.`, `_`, `@`, `-`), never a national id number, and never another system's id (a
        record must not read as if another system had acted). Nothing of it is echoed.
        """
        subject = _text_claim(claims, "sub", MAX_SUB_CHARS)
        if not _SUBJECT.fullmatch(subject):
            raise MalformedToken("token claim `sub` is not an employee identifier")
        if contains_national_id(subject):
            raise MalformedToken("token claim `sub` holds a national id number")
        if subject != system.id and self._lookup_system(subject) is not None:
            raise MalformedToken(f"token claim `sub` names another system than `{system.id}`")
        shape = getattr(system, "employee_ids", None)  # the policy's `employee_id`, if set
        if shape is not None and not shape.fits(subject):
            raise MalformedToken(
                f"token claim `sub` is not an employee id of the form `{system.id}` declares")
        return subject

    def _system_for(self, unverified: dict[str, Any]) -> tuple[SystemKey, PublicKey]:
        issuer = unverified.get("iss")
        if issuer is None:
            raise MissingClaim("token lacks the `iss` claim")
        if not isinstance(issuer, str):
            raise MalformedToken("token claim `iss` is not a string")
        system = self._lookup_system(issuer)
        if system is None:
            raise UnknownSystem(f"token issuer {_echo(issuer)} is not a registered system")
        # A registry entry outside the allow-list, or with a key of the wrong type, is a
        # configuration fault: fail closed rather than let it widen what is accepted.
        if system.algorithm not in ALLOWED_ALGORITHMS:
            raise ConfigError(
                f"system `{system.id}` is pinned to `{system.algorithm}`, which is not allowed"
            )
        key = system.public_key
        if not public_key_fits(key, system.algorithm):
            raise ConfigError(
                f"public key of system `{system.id}` does not fit its algorithm "
                f"`{system.algorithm}`"
            )
        return system, key

    def _checked_claims(self, claims: dict[str, Any], system: SystemKey) -> dict[str, Any]:
        """The claims of a token whose signature verified: each required one present (not
        null), `aud` naming this gateway (RFC 7519 §4.1.3), `iss` naming the system."""
        for name in REQUIRED_CLAIMS:
            if claims.get(name) is None:
                raise MissingClaim(f"token lacks the `{name}` claim")
        audience = claims["aud"]
        audiences = [audience] if isinstance(audience, str) else audience
        if (not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences)
                or self._audience not in audiences):
            raise WrongAudience(f"token `aud` does not name `{self._audience}`")
        if claims["iss"] != system.id:
            raise UnknownSystem(f"token `iss` is not `{system.id}`")
        return claims

    def _check_times(self, claims: dict[str, Any], now: float) -> float:
        """Apply the time rules; return `exp`."""
        skew = self._skew_s
        expires = _numeric_date(claims, "exp")
        issued = _numeric_date(claims, "iat")
        if now >= expires + skew:
            raise TokenExpired(f"token `exp` passed {now - expires:.0f} s ago (leeway {skew} s)")
        if issued > now + skew:
            raise TokenNotYetValid(
                f"token `iat` is {issued - now:.0f} s in the future (leeway {skew} s)"
            )
        if "nbf" in claims:
            not_before = _numeric_date(claims, "nbf")
            if not_before > now + skew:
                raise TokenNotYetValid(
                    f"token `nbf` is {not_before - now:.0f} s in the future (leeway {skew} s)"
                )
        if expires - issued > self._max_lifetime_s:
            raise TokenLifetimeTooLong(
                f"token lifetime `exp` - `iat` is {expires - issued:.0f} s, "
                f"over the maximum of {self._max_lifetime_s} s"
            )
        if expires <= issued:
            raise MalformedToken("token `exp` is not after `iat`")
        return expires


def _bearer_token(header: str | None) -> str:
    if header is None or not header.strip():
        raise MissingToken("no `authorization` header")
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise MissingToken("`authorization` header does not use the `bearer` scheme")
    token = credentials.strip()
    if not token:
        raise MissingToken("`authorization` header has an empty `bearer` token")
    if len(token) > MAX_TOKEN_CHARS or not _COMPACT_JWS.fullmatch(token):
        raise MalformedToken("bearer token is not a compact jws")
    return token


def _segment(text: str) -> dict[str, Any]:
    """One base64url JSON segment of a compact JWS (RFC 7515 §2), as an object."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:  # what json reads and orjson does not (NaN, a lone
            value = json.loads(raw)  # surrogate, a number beyond a double) is read as before
    except (ValueError, TypeError, RecursionError) as exc:  # binascii.Error, JSONDecodeError;
        raise MalformedToken("bearer token is not a well-formed jwt") from exc  # deep nesting
    if not isinstance(value, dict):
        raise MalformedToken("bearer token is not a well-formed jwt")
    return value


def _peek(token: str) -> tuple[str, dict[str, Any]]:
    """The header `alg` and the claims, NOT verified yet: they pick the system and its rules,
    and the claims are checked once its signature verifies (`_verify_signature`).

    The token is decoded once, here: PyJWT's `decode` would decode and check every segment
    again, character by character, which cost more than the signature check itself.
    """
    head, payload, _signature = token.split(".")  # `_COMPACT_JWS` matched: three segments
    header = _segment(head)
    claims = _segment(payload)
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        raise MalformedToken("token header lacks a string `alg`")
    if "crit" in header:
        # RFC 7515 §4.1.11: critical extensions must be understood; this gateway knows none.
        raise MalformedToken("token header `crit` names extensions this gateway does not support")
    return alg, claims


def _verify_signature(token: str, system: SystemKey, key: PublicKey, alg: str, *,
                      verdict: bool | None = None) -> None:
    """RFC 7515 §5.2: the signature over `header.payload`, by PyJWT's algorithm for `alg`
    (one of those pinned for the system, checked before) with the system's registered key;
    `verdict`: the host's signature service's answer, where it gave one (else checked here)."""
    signing_input, _, encoded = token.rpartition(".")
    signature = signature_bytes(encoded)
    if verdict is None:
        try:
            verdict = signature_verifies(alg, key, signing_input, signature)
        except jwt.InvalidKeyError as exc:
            raise ConfigError(f"public key of system `{system.id}` is unusable") from exc
    if not verdict:
        raise BadSignature(f"token signature does not verify with the key of `{system.id}`")


def signature_verifies(alg: str, key: PublicKey, signing_input: str, signature: bytes) -> bool:
    """Whether `signature` over `signing_input` verifies with `key` under `alg` (a name in
    `VERIFIERS`; the key's fit to the pinned algorithm is checked before): the one check both
    this process and the host's signature service (`gateway.auth.offload`) make."""
    algorithm = VERIFIERS[alg]
    return bool(algorithm.verify(signing_input.encode("ascii"), algorithm.prepare_key(key),
                                 signature))


def signature_bytes(encoded: str) -> bytes:
    """The signature segment's bytes; it must be canonical base64url: other spellings of the
    same bytes would make a second valid token string out of one (as PyJWT also refuses)."""
    try:
        signature = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError as exc:  # binascii.Error
        raise MalformedToken("bearer token is not a well-formed jwt") from exc
    if base64.urlsafe_b64encode(signature).rstrip(b"=") != encoded.encode("ascii"):
        raise MalformedToken("bearer token is not a well-formed jwt")
    return signature


def _numeric_date(claims: dict[str, Any], name: str) -> float:
    """RFC 7519 §2 NumericDate: seconds since the epoch, integer or not (never a boolean)."""
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MalformedToken(f"token claim `{name}` is not a numeric date")
    try:
        seconds = float(value)
    except OverflowError:  # an integer no float can hold (json allows any number of digits)
        seconds = math.inf
    if not math.isfinite(seconds):
        raise MalformedToken(f"token claim `{name}` is not a numeric date")
    return seconds


def _text_claim(claims: dict[str, Any], name: str, max_chars: int) -> str:
    value = claims[name]
    if not isinstance(value, str):
        raise MalformedToken(f"token claim `{name}` is not a string")
    if not value.strip():
        raise MissingClaim(f"token claim `{name}` is empty")
    if len(value) > max_chars:
        raise MalformedToken(f"token claim `{name}` is longer than {max_chars} characters")
    try:  # JSON may escape a lone surrogate; no database column or log record can hold one
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedToken(f"token claim `{name}` is not valid unicode") from None
    return value


def _echo(value: str) -> str:
    """`value` in backticks if it looks like an identifier, else a neutral placeholder; never
    one that could be a national id number (an `iss` of 13 digits must not come back)."""
    if _ECHOABLE.fullmatch(value) and not contains_national_id(value) and not value.isdigit():
        return f"`{value}`"
    return "(unprintable)"
