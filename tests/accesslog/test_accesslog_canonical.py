"""Canonical JSON (RFC 8785 style) of access records."""

from __future__ import annotations

import enum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.accesslog import RecordNotCanonical, canonical, canonical_json
from gateway.accesslog.canonical import CanonicalObject


class Kind(str, enum.Enum):
    QUERY = "query"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1, "a": [True, False, None]}, b'{"a":[true,false,null],"b":1}'),
        ({"이름": "홍길동", "a": "x"}, '{"a":"x","이름":"홍길동"}'.encode()),  # UTF-8, not \u escapes
        ({"s": "tab\there \"q\" \\ \x01 \x7f \u2028"},  # JSON.stringify escapes only these
         b'{"s":"tab\\there \\"q\\" \\\\ \\u0001 \x7f \xe2\x80\xa8"}'),
        # RFC 8785 §3.2.3 sorts by UTF-16 code units: U+1F600 (D83D…) sorts before U+FB33
        ({"\ufb33": 1, "\U0001f600": 2}, '{"\U0001f600":2,"\ufb33":1}'.encode()),
        ({"n": -(2**53 - 1)}, b'{"n":-9007199254740991}'),  # the I-JSON safe bound itself
        ({"k": Kind.QUERY, "t": (1, 2)}, b'{"k":"query","t":[1,2]}'),  # str enums and tuples
        ({}, b"{}"),
    ],
)
def test_canonical_bytes(value: Any, expected: bytes) -> None:
    assert canonical_json(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"amount": 1.5}, r"float at `\$\.amount` is not allowed"),
        ({"x": [float("nan")]}, r"float at `\$\.x\[0\]`"),
        ({1: "a"}, r"object key at `\$` is not a string"),
        ({"big": 2**53}, r"integer at `\$\.big` is outside the i-json safe range"),
        ({"s": "\ud800"}, r"string that is not valid unicode"),  # lone surrogate
        ({"b": b"bytes"}, r"value at `\$\.b` has unsupported type `bytes`"),
    ],
)
def test_non_canonical_values_are_refused(value: Any, message: str) -> None:
    with pytest.raises(RecordNotCanonical, match=message):
        canonical_json(value)


@pytest.mark.parametrize(
    "record",
    [
        {},  # index becomes the only member
        {"a": 1, "z": {"y": [1, "x"]}},
        {"i": 1, "in": 2, "indexa": 3, "indew": 4, "J": 5},  # neighbours of "index" in the order
        {"한": "가", "\U0001f600": None, "\ufb33": True},  # sort keys above U+FFFF
    ],
)
def test_adding_the_index_member_equals_canonicalizing_again(record: dict[str, Any]) -> None:
    prepared = CanonicalObject.of(record)
    assert prepared.with_member("index", 42) == canonical_json({**record, "index": 42})


def test_adding_an_existing_member_is_refused() -> None:
    with pytest.raises(RecordNotCanonical, match="already has a member `a`"):
        CanonicalObject.of({"a": 1}).with_member("a", 2)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"amount": 0.1}, r"float at `\$\.amount`"),
        ({2: "x"}, r"object key at `\$` is not a string"),
        ({"s": ["\udfff"]}, "not valid unicode"),
    ],
)
def test_prepared_records_are_validated(record: dict[Any, Any], message: str) -> None:
    with pytest.raises(RecordNotCanonical, match=message):
        CanonicalObject.of(record)


# Values a record can hold, with the awkward corners drawn often: control characters, quotes,
# backslashes, non-BMP characters and U+E000..U+FFFF in keys (UTF-16 and code-point order differ
# there), lone surrogates, integers at the I-JSON limit, floats (refused), str subclasses.
_TEXT = st.text(alphabet=st.characters(), max_size=8) | st.sampled_from(
    ["\x00", "\x1f", "\x7f", '"', "\\", "\u2028", "\ud800", "\U0001f600", "\ue000", "ｚ", "é"])
_SCALARS = (st.none() | st.booleans() | _TEXT
            | st.integers(min_value=-(2**53) - 2, max_value=2**53 + 2)
            | st.sampled_from([0.5, Kind.QUERY]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(_TEXT, inner, max_size=4), max_leaves=20)


def _slow(value: Any) -> bytes | str:
    """The member-by-member writer alone (the checked path), or the error it raises."""
    parts: list[str] = []
    try:
        canonical._write(value, parts, "$")
        return canonical._utf8("".join(parts))
    except RecordNotCanonical as exc:
        return f"refused: {type(exc).__name__}"


@settings(max_examples=400, deadline=None)
@given(_VALUES)
def test_fast_path_prints_exactly_what_the_checked_writer_prints(value: Any) -> None:
    try:
        fast: bytes | str = canonical_json(value)
    except RecordNotCanonical as exc:
        fast = f"refused: {type(exc).__name__}"
    assert fast == _slow(value)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_TEXT.filter(lambda k: k != "index"), _VALUES, max_size=6),
       st.integers(min_value=0, max_value=2**53 - 1))
def test_member_by_member_equals_whole_on_both_paths(record: dict[str, Any], index: int) -> None:
    # plain records take the encoder's path, the others the checked one; both must agree
    try:
        whole: bytes | str = canonical_json({**record, "index": index})
    except RecordNotCanonical as exc:
        whole = f"refused: {type(exc).__name__}"
    try:
        joined: bytes | str = CanonicalObject.of(record).with_member("index", index)
    except RecordNotCanonical as exc:
        joined = f"refused: {type(exc).__name__}"
    assert joined == whole
    # and as the log takes a record: split where `index` goes (two encoder calls when plain)
    try:
        split: bytes | str = canonical.UnindexedRecord.of(record).with_index(index)
    except RecordNotCanonical as exc:
        split = f"refused: {type(exc).__name__}"
    assert split == whole


# --- the record as the log takes it: split where `index` goes (`UnindexedRecord`) -------------
@pytest.mark.parametrize(
    "record",
    [
        {},  # index becomes the only member
        {"a": 1},  # members before `index` only
        {"z": [1, {"y": None}]},  # after it only
        {"a": 1, "z": {"y": [1, "x"]}},
        {"i": 1, "in": 2, "indexa": 3, "indew": 4, "J": 5, "inde": 6},  # its neighbours
        {"한": "가", "\U0001f600": None, "\ufb33": True},  # sort keys above U+FFFF
        {"kind": "query", "amount_band": Kind.QUERY, "customer": "c" * 32},  # a str subclass
    ],
)
def test_the_split_record_with_its_index_equals_canonicalizing_again(
        record: dict[str, Any]) -> None:
    for index in (0, 7, 2**53 - 1):
        assert canonical.UnindexedRecord.of(record).with_index(index) == canonical_json(
            {**record, "index": index})


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"index": 3}, "must not set `index`"),
        ({"amount": 0.1}, r"float at `\$\.amount`"),
        ({2: "x"}, r"object key at `\$` is not a string"),
        ({"s": ["\udfff"]}, "not valid unicode"),
        ({"n": 2**53}, "outside the i-json safe range"),
    ],
)
def test_the_split_record_is_validated(record: dict[Any, Any], message: str) -> None:
    with pytest.raises(RecordNotCanonical, match=message):
        canonical.UnindexedRecord.of(record)


@pytest.mark.parametrize("index", [-1, 2**53, True, "3"])
def test_only_a_log_position_is_an_index(index: Any) -> None:
    with pytest.raises(RecordNotCanonical, match="i-json safe range"):
        canonical.UnindexedRecord.of({"a": 1}).with_index(index)
