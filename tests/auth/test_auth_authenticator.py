"""The authenticate step: valid tokens become a `Caller`; every attack has its own refusal."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from gateway.auth import Authenticator, TokenNotYetValid
from gateway.domain import AffiliateId, Caller, SystemId
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
    TokenReplayed,
    UnknownSystem,
    WrongAudience,
)
from gateway.policy.employee_ids import EmployeeIdFormat
from tests.auth.conftest import AUDIENCE, NOW, SKEW_S, FakeSystem, Forge, open_store

T0 = int(NOW.timestamp())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(obj: dict[str, Any]) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


# --- valid tokens -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("system", "affiliate"),
    [("bank-callcenter", "bank"), ("bank-fraud", "bank")],  # EdDSA, ES256
)
def test_valid_token_yields_caller(
    authenticator: Authenticator, forge: Forge, system: str, affiliate: str
) -> None:
    token = forge.token(system, sub="emp-7", jti="jti-valid-1")
    caller = authenticator.authenticate(f"Bearer {token}", now=NOW, source="10.1.2.3")
    assert caller == Caller(
        affiliate=AffiliateId(affiliate),
        system=SystemId(system),
        employee="emp-7",
        token_id="jti-valid-1",
        source="10.1.2.3",
    )


@pytest.mark.parametrize(
    ("header_template", "claims"),
    [
        ("bearer {}", {}),  # the scheme is case-insensitive (RFC 9110 §11.1)
        ("  Bearer   {}  ", {}),  # surrounding and repeated whitespace
        ("Bearer {}", {"aud": ["other-service", AUDIENCE]}),  # `aud` may be a list (§4.1.3)
        ("Bearer {}", {"exp": T0 - SKEW_S + 1, "iat": T0 - 200}),  # expired, within leeway
        ("Bearer {}", {"iat": T0 + SKEW_S, "exp": T0 + SKEW_S + 60}),  # clock ahead, in leeway
        ("Bearer {}", {"iat": T0, "exp": T0 + 300}),  # lifetime exactly the maximum
        ("Bearer {}", {"nbf": T0 - 10}),  # optional `nbf` in the past
    ],
)
def test_valid_edge_cases_accepted(
    authenticator: Authenticator, forge: Forge, header_template: str, claims: dict[str, Any]
) -> None:
    token = forge.token(**claims)
    caller = authenticator.authenticate(header_template.format(token), now=NOW, source=None)
    assert caller.system == "bank-callcenter"


# --- attacks ----------------------------------------------------------------------------------
def _unsigned(forge: Forge) -> str:
    return f"{segment({'alg': 'none', 'typ': 'JWT'})}.{segment(_claims())}."


def _hs256_with_public_pem(forge: Forge) -> str:
    # The classic confusion: HMAC keyed with the public key, which everybody can read.
    pem = forge.keys.bank_callcenter.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{segment({'alg': 'HS256', 'typ': 'JWT'})}.{segment(_claims())}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def _tampered_payload(forge: Forge) -> str:
    header, _, signature = forge.token(sub="emp-7").split(".")
    return f"{header}.{segment(_claims(sub='emp-admin'))}.{signature}"


def _tampered_signature(forge: Forge) -> str:
    header, payload, signature = forge.token().split(".")
    # Flip a character in the middle: the last one may only carry padding bits.
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    return f"{header}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1:]}"


def _claims(**overrides: Any) -> dict[str, Any]:
    from tests.auth.conftest import claims_for

    return claims_for("bank-callcenter", **overrides)


def bearer(build: Callable[[Forge], str]) -> Callable[[Forge], str]:
    return lambda forge: f"Bearer {build(forge)}"


ATTACKS = [
    pytest.param(lambda f: None, MissingToken, "no `authorization` header", id="missing-header"),
    pytest.param(lambda f: "   ", MissingToken, "no `authorization`", id="blank-header"),
    pytest.param(
        lambda f: "Basic ZW1wOnB3", MissingToken, "`bearer` scheme", id="basic-not-bearer"
    ),
    pytest.param(
        lambda f: f"Token {f.token()}", MissingToken, "`bearer` scheme", id="other-scheme"
    ),
    pytest.param(lambda f: "Bearer ", MissingToken, "no `authorization`|empty", id="empty-bearer"),
    pytest.param(
        lambda f: "Bearer not-a-jwt", MalformedToken, "not a compact jws", id="garbage"
    ),
    pytest.param(  # three base64url parts that decode to nothing sensible
        lambda f: "Bearer aaaa.bbbb.cccc", MalformedToken, "not a well-formed jwt", id="garbage-3"
    ),
    pytest.param(
        lambda f: f"Bearer {f.token()} {f.token()}", MalformedToken, "compact jws",
        id="two-tokens",
    ),
    pytest.param(
        lambda f: "Bearer " + "a" * 9000 + ".b.c", MalformedToken, "compact jws", id="oversized"
    ),
    pytest.param(
        bearer(lambda f: f"{segment({'typ': 'JWT'})}.{segment(_claims())}.c2ln"),
        MalformedToken, "lacks a string `alg`", id="no-alg",
    ),
    pytest.param(  # RFC 7515 §4.1.11: an unknown critical extension must be refused
        bearer(lambda f: _with_header(f.token(), crit=["exp-ext"], **{"exp-ext": 1})),
        MalformedToken, "`crit` names extensions", id="unknown-crit",
    ),
    pytest.param(  # PyJWT understands RFC 7797 `b64`; the gateway supports no extension at all
        bearer(lambda f: _with_header(f.token(), crit=["b64"], b64=True)),
        MalformedToken, "`crit` names extensions", id="b64-crit",
    ),
    pytest.param(
        bearer(_unsigned), AlgorithmNotAllowed, "`none` is not `EdDSA`", id="alg-none-unsigned"
    ),
    pytest.param(
        bearer(_hs256_with_public_pem), AlgorithmNotAllowed, "`HS256` is not `EdDSA`",
        id="hs256-keyed-with-public-pem",
    ),
    pytest.param(
        bearer(lambda f: f.token(signer="rsa")), AlgorithmNotAllowed, "`RS256` is not `EdDSA`",
        id="rs256-when-eddsa-pinned",
    ),
    pytest.param(  # the right system's claims, signed with another system's P-256 key
        bearer(lambda f: f.token(signer="card-risk")), AlgorithmNotAllowed,
        "`ES256` is not `EdDSA`", id="es256-when-eddsa-pinned",
    ),
    pytest.param(
        bearer(lambda f: f.token("bank-fraud", signer="card-marketing")), AlgorithmNotAllowed,
        "`EdDSA` is not `ES256`", id="eddsa-when-es256-pinned",
    ),
    pytest.param(  # `alg` values are case-sensitive (RFC 7515 §4.1.1)
        bearer(lambda f: _with_header(f.token(), alg="EDDSA")), AlgorithmNotAllowed,
        "`EDDSA` is not `EdDSA`", id="alg-case-variant",
    ),
    pytest.param(
        bearer(lambda f: f.token(signer="card-marketing")), BadSignature,
        "does not verify with the key of `bank-callcenter`", id="other-systems-eddsa-key",
    ),
    pytest.param(
        bearer(lambda f: f.token("bank-fraud", signer="card-risk")), BadSignature,
        "does not verify with the key of `bank-fraud`", id="other-systems-es256-key",
    ),
    pytest.param(bearer(_tampered_payload), BadSignature, "does not verify", id="tampered-payload"),
    pytest.param(
        bearer(_tampered_signature), BadSignature, "does not verify", id="tampered-signature"
    ),
    pytest.param(  # one second past the leeway
        bearer(lambda f: f.token(iat=T0 - 200, exp=T0 - SKEW_S)), TokenExpired,
        r"`exp` passed 30 s ago \(leeway 30 s\)", id="expired",
    ),
    pytest.param(
        bearer(lambda f: f.token(iat=T0, exp=T0 + 301)), TokenLifetimeTooLong,
        "301 s, over the maximum of 300 s", id="lifetime-over-300",
    ),
    pytest.param(  # a far-future iat would stretch the usable window past the maximum
        bearer(lambda f: f.token(iat=T0 + SKEW_S + 1, exp=T0 + SKEW_S + 61)), TokenNotYetValid,
        "`iat` is 31 s in the future", id="iat-in-future",
    ),
    pytest.param(
        bearer(lambda f: f.token(nbf=T0 + 100)), TokenNotYetValid, "`nbf` is 100 s",
        id="nbf-in-future",
    ),
    pytest.param(
        bearer(lambda f: f.token(aud="other-gateway")), WrongAudience,
        "`aud` does not name `affiliate-gateway`", id="wrong-audience",
    ),
    pytest.param(
        bearer(lambda f: f.token(aud=["a", "b"])), WrongAudience, "`aud`",
        id="wrong-audience-list",
    ),
    pytest.param(
        bearer(lambda f: f.token(sub=None)), MissingClaim, "lacks the `sub` claim", id="no-sub"
    ),
    pytest.param(
        bearer(lambda f: f.token(jti=None)), MissingClaim, "lacks the `jti` claim", id="no-jti"
    ),
    pytest.param(
        bearer(lambda f: f.token(exp=None)), MissingClaim, "lacks the `exp` claim", id="no-exp"
    ),
    pytest.param(
        bearer(lambda f: f.token(iat=None)), MissingClaim, "lacks the `iat` claim", id="no-iat"
    ),
    pytest.param(
        bearer(lambda f: f.token(aud=None)), MissingClaim, "lacks the `aud` claim", id="no-aud"
    ),
    pytest.param(  # without `iss` there is no key to check the signature with
        bearer(lambda f: f.token(iss=None)), MissingClaim, "lacks the `iss` claim", id="no-iss"
    ),
    pytest.param(
        bearer(lambda f: f.token(sub="  ")), MissingClaim, "`sub` is empty", id="blank-sub"
    ),
    pytest.param(
        bearer(lambda f: f.token(iss="nobody")), UnknownSystem,
        "issuer `nobody` is not a registered system", id="unknown-system",
    ),
    pytest.param(  # an unverified issuer that does not look like an id is never echoed
        bearer(lambda f: f.token(iss="x\ny `z`")), UnknownSystem,
        r"issuer \(unprintable\) is not", id="unknown-system-odd-text",
    ),
    pytest.param(
        bearer(lambda f: f.token(iss=["bank-callcenter"])), MalformedToken,
        "`iss` is not a string", id="iss-not-string",
    ),
    pytest.param(
        bearer(lambda f: f.token(sub=7)), MalformedToken, "`sub` is not a string", id="sub-not-string"
    ),
    pytest.param(
        bearer(lambda f: f.token(jti="j" * 256)), MalformedToken, "`jti` is longer than 255",
        id="jti-too-long",
    ),
    pytest.param(  # booleans are ints in Python, not NumericDates
        bearer(lambda f: f.token(exp=True)), MalformedToken, "`exp` is not a numeric date",
        id="exp-boolean",
    ),
    pytest.param(
        bearer(lambda f: f.token(exp="tomorrow")), MalformedToken, "not a numeric date",
        id="exp-string",
    ),
    pytest.param(
        bearer(lambda f: f.token(iat=T0, exp=T0)), MalformedToken, "`exp` is not after `iat`",
        id="exp-equals-iat",
    ),
]


def _with_header(token: str, **changes: Any) -> str:
    header, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    return f"{segment({**decoded, **changes})}.{payload}.{signature}"


@pytest.mark.parametrize(("forge_header", "error", "match"), ATTACKS)
def test_attack_refused(
    authenticator: Authenticator,
    forge: Forge,
    forge_header: Callable[[Forge], str | None],
    error: type[AuthError],
    match: str,
) -> None:
    header = forge_header(forge)
    with pytest.raises(error, match=match) as info:
        authenticator.authenticate(header, now=NOW, source="10.9.9.9")
    assert type(info.value) is error  # its own class, not merely some AuthError
    _assert_no_token_text(info.value, header)


def _assert_no_token_text(exc: BaseException, header: str | None) -> None:
    """Neither the message nor any chained cause quotes the token or a part of it."""
    words = (header or "").replace("Bearer", " ").replace(".", " ").split()
    parts = [word for word in words if len(word) > 8]
    assert "\n" not in str(exc)  # one line
    chain: BaseException | None = exc
    while chain is not None:
        message = str(chain)
        for part in parts:
            assert part not in message
        chain = chain.__cause__


# --- replay -----------------------------------------------------------------------------------
def test_replay_in_same_process_refused(authenticator: Authenticator, forge: Forge) -> None:
    header = f"Bearer {forge.token()}"
    authenticator.authenticate(header, now=NOW, source=None)
    with pytest.raises(TokenReplayed, match="`jti` was already used.*`bank-callcenter`") as info:
        authenticator.authenticate(header, now=NOW, source=None)
    _assert_no_token_text(info.value, header)


def test_replay_after_restart_refused(
    make_authenticator: Callable[[], Authenticator], forge: Forge
) -> None:
    header = f"Bearer {forge.token('bank-fraud')}"
    make_authenticator().authenticate(header, now=NOW, source=None)
    restarted = make_authenticator()  # new engine, store and authenticator on the same file
    with pytest.raises(TokenReplayed, match="replay refused for `bank-fraud`"):
        restarted.authenticate(header, now=NOW, source=None)


def test_replay_refused_even_with_a_new_token_reusing_the_jti(
    authenticator: Authenticator, forge: Forge
) -> None:
    authenticator.authenticate(f"Bearer {forge.token(jti='same', sub='a')}", now=NOW, source=None)
    with pytest.raises(TokenReplayed, match="already used"):
        authenticator.authenticate(
            f"Bearer {forge.token(jti='same', sub='b')}", now=NOW, source=None
        )


def test_concurrent_replays_admit_exactly_one(
    make_authenticator: Callable[[], Authenticator], forge: Forge
) -> None:
    # Separate engines on one file stand in for separate gateway processes.
    authenticators = [make_authenticator() for _ in range(6)]
    header = f"Bearer {forge.token()}"

    def attempt(auth: Authenticator) -> str:
        try:
            auth.authenticate(header, now=NOW, source=None)
        except TokenReplayed:
            return "replayed"
        return "accepted"

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = sorted(pool.map(attempt, authenticators))
    assert outcomes == ["accepted"] + ["replayed"] * 5


@pytest.mark.parametrize(
    ("refused_claims", "error"),
    [
        ({"signer": "card-marketing"}, BadSignature),  # a forger must not burn the real jti
        ({"exp": T0 - 100, "iat": T0 - 200}, TokenExpired),
        ({"aud": "other-gateway"}, WrongAudience),
        ({"iat": T0, "exp": T0 + 3600}, TokenLifetimeTooLong),
    ],
)
def test_refused_token_does_not_consume_its_jti(
    authenticator: Authenticator,
    forge: Forge,
    refused_claims: dict[str, Any],
    error: type[AuthError],
) -> None:
    with pytest.raises(error):
        authenticator.authenticate(
            f"Bearer {forge.token(jti='precious', **refused_claims)}", now=NOW, source=None
        )
    token = forge.token(jti="precious")
    caller = authenticator.authenticate(f"Bearer {token}", now=NOW, source=None)
    assert caller.token_id == "precious"


# --- misconfiguration fails closed ------------------------------------------------------------
@pytest.mark.parametrize(
    ("system", "match"),
    [
        # a registry that pins HMAC must not turn the public key into a shared secret
        (FakeSystem("legacy", "bank", "HS256", b"pem"), "pinned to `HS256`, which is not allowed"),
        # an ES256 pin with an Ed25519 key (or vice versa) is a registry fault
        (None, "does not fit its algorithm `ES256`"),
    ],
)
def test_misconfigured_system_fails_closed(
    db_path: Path, forge: Forge, system: FakeSystem | None, match: str
) -> None:
    if system is None:
        system = FakeSystem("legacy", "bank", "ES256", forge.keys.bank_callcenter.public_key())
    engine, store = open_store(db_path)
    auth = Authenticator(
        {"legacy": system}.get, store, audience=AUDIENCE, max_lifetime_s=300, skew_s=SKEW_S
    )
    token = forge.token("legacy", signer="bank-callcenter")
    with pytest.raises(ConfigError, match=match):
        auth.authenticate(f"Bearer {token}", now=NOW, source=None)
    engine.dispose()


def test_naive_now_is_a_programming_error(authenticator: Authenticator, forge: Forge) -> None:
    with pytest.raises(ValueError, match="`now` must be timezone-aware"):
        authenticator.authenticate(
            f"Bearer {forge.token()}", now=NOW.replace(tzinfo=None), source=None
        )


# --- RFC 9864 names, and what `sub` may hold ---------------------------------------------------
@pytest.mark.parametrize(("system", "alg"), [
    ("bank-callcenter", "Ed25519"),  # pinned EdDSA: its fully specified name
    ("bank-fraud", "ESP256"),  # pinned ES256: likewise
])
def test_fully_specified_algorithm_names_are_accepted(
    authenticator: Authenticator, forge: Forge, system: str, alg: str
) -> None:
    token = forge.token(system, algorithm=alg, jti=f"jti-{alg}")
    assert authenticator.authenticate(f"Bearer {token}", now=NOW, source=None).system == system


def test_the_other_familys_name_is_refused(authenticator: Authenticator, forge: Forge) -> None:
    token = forge.token("bank-fraud", signer="bank-callcenter", algorithm="Ed25519")
    with pytest.raises(AlgorithmNotAllowed, match="is not `ES256`, the one pinned"):
        authenticator.authenticate(f"Bearer {token}", now=NOW, source=None)


@pytest.mark.parametrize(("sub", "match"), [
    ("900101-1234568", "holds a national id number"),  # would sit in the log for ever
    ("kim.risk 9001011234568", "not an employee identifier"),  # spaces: not an identifier
    ("emp\nforged-line", "not an employee identifier"),
    ("card-risk", "names another system than `bank-callcenter`"),  # posing as another system
])
def test_a_subject_that_is_no_employee_id_is_refused(
    authenticator: Authenticator, forge: Forge, sub: str, match: str
) -> None:
    token = forge.token(sub=sub)
    with pytest.raises(MalformedToken, match=match) as info:
        authenticator.authenticate(f"Bearer {token}", now=NOW, source=None)
    assert sub not in str(info.value)  # nothing of it is echoed


@pytest.mark.parametrize("claim", ["jti", "sub"])
def test_a_text_claim_that_is_not_valid_unicode_is_refused(
    authenticator: Authenticator, forge: Forge, claim: str
) -> None:
    token = forge.token(**{claim: "id-\ud800"})  # a lone surrogate, escaped in the JSON
    with pytest.raises(MalformedToken, match=f"`{claim}` is not"):
        authenticator.authenticate(f"Bearer {token}", now=NOW, source=None)


@pytest.mark.parametrize("sub", ["김민수", "kim.risk@bank", "bank-callcenter", "batch_7"])
def test_employee_identifiers_and_the_systems_own_id_are_accepted(
    authenticator: Authenticator, forge: Forge, sub: str
) -> None:
    token = forge.token(sub=sub, jti=f"jti-sub-{len(sub)}-{sub[-1]}")
    assert authenticator.authenticate(f"Bearer {token}", now=NOW, source=None).employee == sub


def test_the_high_s_twin_of_a_valid_signature_is_refused(authenticator: Authenticator,
                                                         forge: Forge) -> None:
    from gateway.auth.algorithms import P256_ORDER

    header, payload, signature = forge.token("bank-fraud", jti="jti-low-s").split(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    s = int.from_bytes(raw[32:], "big")
    assert s <= P256_ORDER // 2  # tokens signed here come out low-S
    twin = raw[:32] + (P256_ORDER - s).to_bytes(32, "big")  # verifies as ECDSA, rewritten
    forged = f"{header}.{payload}.{b64(twin)}"
    with pytest.raises(BadSignature, match="does not verify"):
        authenticator.authenticate(f"Bearer {forged}", now=NOW, source=None)
    caller = authenticator.authenticate(f"Bearer {header}.{payload}.{signature}", now=NOW,
                                        source=None)
    assert caller.token_id == "jti-low-s"  # the low-S original is accepted (and used once)


@dataclass(frozen=True)
class ShapedSystem(FakeSystem):
    """A system whose policy entry declares the shape of its employee ids."""

    employee_ids: EmployeeIdFormat | None = None


@pytest.mark.parametrize(("sub", "accepted"), [
    ("E123456", True),
    ("E12345", False),  # one digit short
    ("e123456", False),  # the format's letter is literal
    ("tester", False),
])
def test_sub_must_have_the_shape_the_policy_declares(
        systems: dict[str, FakeSystem], db_path: Path, forge: Forge, sub: str,
        accepted: bool) -> None:
    plain = systems["bank-callcenter"]
    shaped = ShapedSystem(plain.id, plain.affiliate, plain.algorithm, plain.public_key,
                          EmployeeIdFormat.parse("E######"))
    engine, store = open_store(db_path)
    try:
        authenticator = Authenticator({plain.id: shaped}.get, store, audience=AUDIENCE,
                                      max_lifetime_s=300, skew_s=SKEW_S)
        header = f"Bearer {forge.token('bank-callcenter', sub=sub)}"
        if accepted:
            caller, _ = authenticator.verify(header, now=NOW, source=None)
            assert caller.employee == sub
        else:
            with pytest.raises(MalformedToken, match="not an employee id of the form") as refused:
                authenticator.verify(header, now=NOW, source=None)
            assert sub not in str(refused.value)  # never echoed
    finally:
        engine.dispose()
