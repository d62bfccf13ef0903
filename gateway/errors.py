"""The gateway's error hierarchy; each error maps to one RFC 9457 problem type.

Messages follow one style: one line, lowercase, no trailing period, names in backticks,
context chained with colons, and never a secret, a key or a raw personal identifier.
"""

from __future__ import annotations

PROBLEM_BASE = "https://gateway.example-holdings.co.kr/problems/"


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    status: int = 500
    type_slug: str = "internal"
    title: str = "internal error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.log_index: int | None = None  # set once the refusal itself is recorded

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.type_slug


# --- configuration and start-up -------------------------------------------------------------
class ConfigError(GatewayError):
    type_slug = "configuration"
    title = "configuration error"


class PolicyError(GatewayError):
    """The policy set is invalid; the gateway refuses to start or to switch to it."""

    type_slug = "policy-invalid"
    title = "policy set is invalid"


class KeyLoadError(GatewayError):
    type_slug = "key-load"
    title = "key could not be loaded"


# --- request validation (4xx) ------------------------------------------------------------------
class BadRequest(GatewayError):
    status = 400
    type_slug = "bad-request"
    title = "bad request"


class MalformedJson(BadRequest):
    type_slug = "malformed-json"
    title = "request body is not valid json"


class ValidationFailed(GatewayError):
    status = 422
    type_slug = "validation"
    title = "request does not match the schema"


class MalformedIdentifier(ValidationFailed):
    type_slug = "malformed-rrn"
    title = "national id number is malformed"


class UnknownPurpose(ValidationFailed):
    type_slug = "unknown-purpose"
    title = "purpose is not in the policy"


class UnknownAttribute(ValidationFailed):
    type_slug = "unknown-attribute"
    title = "attribute is not in the catalogue"


class UnknownView(ValidationFailed):
    type_slug = "unknown-view"
    title = "view is not defined for the attribute"


class UnknownChannel(ValidationFailed):
    type_slug = "unknown-channel"
    title = "contact channel is not in the policy"


class DuplicateAttribute(ValidationFailed):
    type_slug = "duplicate-attribute"
    title = "an attribute is asked for twice"


class UnknownPseudonym(ValidationFailed):
    type_slug = "unknown-pseudonym"
    title = "pseudonym is not valid for the caller"


class PayloadTooLarge(GatewayError):
    status = 413
    type_slug = "payload-too-large"
    title = "request body too large"


class UnsupportedMediaType(GatewayError):
    status = 415
    type_slug = "unsupported-media-type"
    title = "request body must be application/json"


class NotFound(GatewayError):
    status = 404
    type_slug = "not-found"
    title = "not found"


# --- authentication and authorization -----------------------------------------------------------
class AuthError(GatewayError):
    status = 401
    type_slug = "unauthenticated"
    title = "authentication failed"


class MissingToken(AuthError):
    type_slug = "token-missing"
    title = "bearer token missing"


class MalformedToken(AuthError):
    type_slug = "token-malformed"
    title = "token is not a well-formed jwt"


class UnknownSystem(AuthError):
    type_slug = "token-unknown-system"
    title = "token issuer is not a registered system"


class AlgorithmNotAllowed(AuthError):
    type_slug = "token-algorithm"
    title = "token algorithm is not the one pinned for the system"


class BadSignature(AuthError):
    type_slug = "token-signature"
    title = "token signature does not verify"


class TokenExpired(AuthError):
    type_slug = "token-expired"
    title = "token has expired"


class TokenLifetimeTooLong(AuthError):
    type_slug = "token-lifetime"
    title = "token lifetime exceeds the maximum"


class WrongAudience(AuthError):
    type_slug = "token-audience"
    title = "token audience is not this gateway"


class MissingClaim(AuthError):
    type_slug = "token-claims"
    title = "token lacks a required claim"


class TokenReplayed(AuthError):
    type_slug = "token-replayed"
    title = "token id was already used"


class Forbidden(GatewayError):
    status = 403
    type_slug = "forbidden"
    title = "the calling system may not do this"


# --- fail closed (5xx) ---------------------------------------------------------------------------
class Unavailable(GatewayError):
    status = 503
    type_slug = "unavailable"
    title = "service unavailable"


class LogWriteFailed(Unavailable):
    """The access record could not be made durable: nothing is released."""

    type_slug = "log-unavailable"
    title = "access log unavailable; nothing was released"


class StoreUnavailable(Unavailable):
    type_slug = "store-unavailable"
    title = "a data store is unavailable; nothing was released"
