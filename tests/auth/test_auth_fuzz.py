"""Fuzzing token parsing: whatever the `Authorization` header holds, the answer is an `AuthError`
(a 401) or a caller — never another exception, and never an echo of what was sent.

Three layers, each bounded for CI by tests/fuzzing.py (`--hypothesis-profile=long` to run more):
- the header itself: any text, any scheme, any number of dots;
- the JOSE header and claims of an unsigned token: `alg`, `kid`, `typ`, `crit`, `iss` of every
  json type, segments that are not base64url json, non-canonical base64url, huge segments,
  deep nesting; a synthetic national id number planted in each string;
- the claims of a token that verifies (signed with the system's own Ed25519 key), so the
  checks after the signature are reached: huge or fractional times, wrong types, long texts.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from gateway.auth import Authenticator
from gateway.errors import AuthError
from pseudonymizer.rrn import generate_rrn
from tests.auth.conftest import (
    AUDIENCE,
    MAX_LIFETIME_S,
    NOW,
    SKEW_S,
    FakeSystem,
    SessionKeys,
    claims_for,
    open_store,
)
from tests.fuzzing import fuzz

# a synthetic number, planted in the token: it must never come back in a message
RRN = generate_rrn(random.Random(13), date(1984, 2, 29), 2)
SPELLINGS = (RRN, f"{RRN[:6]}-{RRN[6:]}", RRN.translate(str.maketrans("0123456789",
                                                                       "０１２３４５６７８９")))
RAW = "\x00raw\x00"  # stands for raw json text spliced in after encoding
RAW_TEXTS = ("[" * 3000 + "]" * 3000, '{"a":' * 1500 + "1" + "}" * 1500, "1" * 4000,
             "1e999", "-1e999", "NaN", "Infinity", '"\\ud800"', "9" * 400)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats()
    | st.sampled_from([2**63, 10**400, -(10**400), 0.5, 1e308]) | st.text(max_size=16)
    | st.sampled_from([*SPELLINGS, "EdDSA", "Ed25519", "ES256", "none", "HS256", "RS256",
                       "bank-callcenter", "card-risk", "exp", "b64"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8,
)
HEADER_NAMES = ("alg", "kid", "typ", "crit", "cty", "jku", "x5u", "b64")
CLAIM_NAMES = ("iss", "sub", "aud", "exp", "iat", "nbf", "jti")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def encode(doc: Any, raw: str) -> bytes:
    text = json.dumps(doc, separators=(",", ":"), allow_nan=True)
    return text.replace(json.dumps(RAW), raw).encode("utf-8", "surrogatepass")


@st.composite
def documents(draw: st.DrawFn, names: tuple[str, ...], base: dict[str, Any]) -> bytes:
    """`base` with some members replaced by any json value, dropped or added; or raw json."""
    doc: Any = dict(base)
    for name in draw(st.lists(st.sampled_from(names), max_size=4, unique=True)):
        if draw(st.booleans()) and name in doc:
            del doc[name]
        else:
            doc[name] = draw(json_values | st.just(RAW))
    if draw(st.integers(0, 9)) == 0:  # not an object at all
        doc = draw(json_values | st.just(RAW))
    return encode(doc, draw(st.sampled_from(RAW_TEXTS)))


@st.composite
def segments(draw: st.DrawFn, document: st.SearchStrategy[bytes]) -> str:
    """A base64url segment of `document`, or a broken spelling of one."""
    text = b64url(draw(document))
    how = draw(st.sampled_from(["plain", "plain", "padded", "non-canonical", "cut", "junk"]))
    if how == "padded":
        return text + "=" * (-len(text) % 4)  # `=` is outside the compact alphabet
    if how == "non-canonical" and text and text[-1] in "AQgw":  # unused low bits set
        return text[:-1] + {"A": "B", "Q": "R", "g": "h", "w": "x"}[text[-1]]
    if how == "cut":
        return text[: draw(st.integers(0, len(text)))]
    if how == "junk":
        return draw(st.text(alphabet="ABCxyz019_-=+/. \u00e9", max_size=30))
    return text


def assert_no_echo(message: str, sent: str) -> None:
    for spelling in SPELLINGS:
        assert spelling not in message
    assert RRN not in message.replace("-", "").replace(" ", "")
    for part in sent.replace(" ", ".").split("."):
        assert len(part) < 12 or part not in message  # no piece of the token comes back


@pytest.fixture(scope="module")
def auth(systems: dict[str, FakeSystem],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Authenticator]:
    engine: Engine
    engine, store = open_store(Path(tmp_path_factory.mktemp("auth-fuzz")) / "gateway.db")
    yield Authenticator(systems.get, store, audience=AUDIENCE, max_lifetime_s=MAX_LIFETIME_S,
                        skew_s=SKEW_S)
    engine.dispose()


def refused_or_caller(auth: Authenticator, header: str) -> None:
    """`verify` answers with a caller or an `AuthError` (401) that echoes nothing."""
    try:
        auth.verify(header, now=NOW, source="10.0.0.1")
    except AuthError as exc:
        assert exc.status == 401
        assert_no_echo(str(exc), header)


@fuzz(200)
@given(header=st.text(max_size=200) | st.builds(
    "{} {}".format, st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", "Bearer\t", ""]),
    st.text(alphabet="ABCabc0189_-.=+/ \u00e9\u200b", max_size=120)))
def test_any_authorization_header_is_refused_cleanly(auth: Authenticator, header: str) -> None:
    refused_or_caller(auth, header)


@fuzz(300)
@given(data=st.data())
def test_any_jose_header_and_claims_are_refused_cleanly(auth: Authenticator,
                                                        data: st.DataObject) -> None:
    header = data.draw(segments(documents(HEADER_NAMES, {"alg": "EdDSA", "typ": "JWT"})))
    claims = data.draw(segments(documents(CLAIM_NAMES, claims_for("bank-callcenter"))))
    signature = data.draw(st.sampled_from(["", "AAAA", b64url(bytes(64))])
                          | st.text(alphabet="AZaz09_-", max_size=100))
    token = f"{header}.{claims}.{signature}"
    if data.draw(st.booleans()):  # huge: over the size limit, or just under it
        token += "A" * data.draw(st.sampled_from([8192, 8192 - len(token), 100_000]))
    refused_or_caller(auth, f"Bearer {token}")


@fuzz(300)
@given(data=st.data())
def test_signed_tokens_with_any_claims_are_refused_cleanly(
        auth: Authenticator, keys: SessionKeys, data: st.DataObject) -> None:
    """Signed with the system's own key, so every check after the signature is reached."""
    header = data.draw(documents(("kid", "typ", "cty", "x5u"), {"alg": "EdDSA"})
                       .filter(lambda h: h.startswith(b'{"alg":"EdDSA"')))
    claims = data.draw(documents(CLAIM_NAMES, claims_for("bank-callcenter")))
    signing_input = f"{b64url(header)}.{b64url(claims)}"
    signature = keys.bank_callcenter.sign(signing_input.encode("ascii"))
    refused_or_caller(auth, f"Bearer {signing_input}.{b64url(signature)}")


def test_a_valid_token_still_verifies(auth: Authenticator, keys: SessionKeys) -> None:
    """The fuzzers' baseline: the unbroken token of the generators is accepted."""
    signing_input = (f"{b64url(encode({'alg': 'EdDSA', 'typ': 'JWT'}, ''))}."
                     f"{b64url(encode(claims_for('bank-callcenter'), ''))}")
    signature = b64url(keys.bank_callcenter.sign(signing_input.encode("ascii")))
    caller, _ = auth.verify(f"Bearer {signing_input}.{signature}", now=NOW, source=None)
    assert caller.system == "bank-callcenter" and caller.employee == "emp-20931"


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
def test_a_signed_time_beyond_any_float_is_refused(auth: Authenticator, keys: SessionKeys,
                                                   claim: str) -> None:
    """Found by the fuzzer: `exp: 1000…0` (400 digits) raised OverflowError, a 500."""
    signing_input = (f"{b64url(encode({'alg': 'EdDSA'}, ''))}."
                     f"{b64url(encode(claims_for('bank-callcenter', **{claim: 10**400}), ''))}")
    signature = b64url(keys.bank_callcenter.sign(signing_input.encode("ascii")))
    with pytest.raises(AuthError, match=f"token claim `{claim}` is not a numeric date"):
        auth.verify(f"Bearer {signing_input}.{signature}", now=NOW, source=None)


def test_a_deeply_nested_segment_is_refused(auth: Authenticator) -> None:
    """Found by the fuzzer: a header of 3,000 nested arrays raised RecursionError, a 500."""
    token = f"{b64url(b'[' * 3000 + b']' * 3000)}.{b64url(b'{}')}.AAAA"
    with pytest.raises(AuthError, match="not a well-formed jwt"):
        auth.verify(f"Bearer {token}", now=NOW, source=None)
