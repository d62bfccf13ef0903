"""Canonical JSON of access records: the exact bytes that are hashed into the log.

Follows RFC 8785 (JSON Canonicalization Scheme) for the values records may hold: object
members sorted by the UTF-16 code units of their names (§3.2.3), no insignificant
whitespace (§3.2.1), strings escaped as ECMAScript JSON.stringify does (§3.2.2.2), UTF-8
output (§3.2.4). Numbers are restricted to integers in the I-JSON safe range (RFC 7493
§2.2) so every JCS implementation prints them identically; floats, NaN and infinities are
refused rather than silently rounded.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.accesslog.errors import RecordNotCanonical

MAX_SAFE_INTEGER = 2**53 - 1  # RFC 7493 §2.2: beyond this, JSON numbers lose precision

# Python's encoder escapes exactly what JSON.stringify escapes (", \, \b \f \n \r \t and other
# C0 controls as lowercase \u00xx) when ensure_ascii is off; everything else stays literal.
_encode_string = json.JSONEncoder(ensure_ascii=False).encode


def _dump_plain(obj: Any) -> bytes:
    """The canonical bytes of a value `_plain` accepts, by orjson with sorted keys: ASCII keys
    sort the same by code point as by UTF-16 code unit, strings are escaped as JSON.stringify
    escapes them, and plain ints, booleans and null print as JCS prints them (the property
    tests hold it to the checked writer below, byte for byte). orjson refuses what is not
    valid unicode (a lone surrogate), as the checked path does."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as exc:
        raise RecordNotCanonical("record holds a string that is not valid unicode") from exc


def _plain(obj: Any) -> bool:
    """Whether `obj` holds only exact str, safe int, bool, None, list, tuple and dict with
    ASCII keys (no subclasses, no floats): the values the fast path prints canonically.

    Strings, None and booleans (most of a record) are accepted in the loops without a call."""
    kind = type(obj)
    if kind is dict:
        for key, value in obj.items():
            if type(key) is not str or not key.isascii():
                return False
            if type(value) is not str and value is not None and not _plain(value):
                return False
        return True
    if kind is list or kind is tuple:
        for value in obj:
            if type(value) is not str and value is not None and not _plain(value):
                return False
        return True
    if kind is str or obj is None or kind is bool:
        return True
    if kind is int:
        return bool(-MAX_SAFE_INTEGER <= obj <= MAX_SAFE_INTEGER)
    return False


def canonical_json(obj: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of `obj` (str/int/bool/None/list/dict only)."""
    if _plain(obj):
        return _dump_plain(obj)
    parts: list[str] = []
    _write(obj, parts, "$")
    return _utf8("".join(parts))


@dataclass(frozen=True, slots=True)
class CanonicalObject:
    """A JSON object canonicalized member by member, so one member can be added later cheaply.

    The log canonicalizes a record once, when it is submitted (a snapshot the caller can no
    longer change), and adds the `index` member under the append lock without redoing the
    rest: `CanonicalObject.of(r).with_member("index", i) == canonical_json({**r, "index": i})`.
    """

    sort_keys: tuple[bytes, ...]
    members: tuple[bytes, ...]  # `"name":value` in canonical bytes, in sort order

    @classmethod
    def of(cls, obj: dict[str, Any]) -> CanonicalObject:
        if _plain(obj):  # ASCII keys: sorted as strings, they are in UTF-16 code unit order
            keys = sorted(obj)
            return cls(tuple(_utf16_key(k) for k in keys),
                       tuple(_dump_plain(k) + b":" + _dump_plain(obj[k]) for k in keys))
        pairs = []
        for key in obj:
            if not isinstance(key, str):
                raise RecordNotCanonical("object key at `$` is not a string")
            pairs.append((_utf16_key(key), _member(key, obj[key])))
        pairs.sort()
        return cls(tuple(k for k, _ in pairs), tuple(m for _, m in pairs))

    def with_member(self, name: str, value: Any) -> bytes:
        key = _utf16_key(name)
        at = bisect.bisect_left(self.sort_keys, key)
        if at < len(self.sort_keys) and self.sort_keys[at] == key:
            raise RecordNotCanonical(f"object already has a member `{name}`")
        members = (*self.members[:at], _member(name, value), *self.members[at:])
        return b"{" + b",".join(members) + b"}"


INDEX = "index"  # the member the log adds to each record: its position in the log
_INDEX_KEY = INDEX.encode("utf-16-be")


@dataclass(frozen=True, slots=True)
class UnindexedRecord:
    """An access record's canonical JSON without its `index` member, split where that member
    goes, so the log adds it under the append lock by joining bytes:
    `UnindexedRecord.of(r).with_index(i) == canonical_json({**r, "index": i})`.

    A record of plain values (`_plain`: ASCII keys, which sort by code point as by UTF-16
    code unit) is encoded in two calls of orjson, the members before `index` and those
    after; any other record member by member (`CanonicalObject`).
    """

    before: bytes  # `{` and the members that sort before `index`
    after: bytes  # the members that sort after `index`, and `}`

    @classmethod
    def of(cls, record: dict[str, Any]) -> UnindexedRecord:
        if INDEX in record:
            raise RecordNotCanonical("access record must not set `index`: the log assigns it")
        if _plain(record):
            head = {k: v for k, v in record.items() if k < INDEX}
            tail = {k: v for k, v in record.items() if k > INDEX}
            return cls(_dump_plain(head)[:-1], _dump_plain(tail)[1:])
        obj = CanonicalObject.of(record)
        at = bisect.bisect_left(obj.sort_keys, _INDEX_KEY)
        return cls(b"{" + b",".join(obj.members[:at]), b",".join(obj.members[at:]) + b"}")

    def with_index(self, index: int) -> bytes:
        if type(index) is not int or not 0 <= index <= MAX_SAFE_INTEGER:
            raise RecordNotCanonical("a log index is an integer in the i-json safe range")
        member = b'"index":' + str(index).encode("ascii")
        return b"".join((self.before, b"," if len(self.before) > 1 else b"", member,
                         b"," if len(self.after) > 1 else b"", self.after))


def _member(key: str, value: Any) -> bytes:
    if _plain(value):
        return _dump_plain(key) + b":" + _dump_plain(value)
    parts = [_encode_string(key), ":"]
    _write(value, parts, f"$.{key}")
    return _utf8("".join(parts))


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: not valid UTF-8, not valid I-JSON
        raise RecordNotCanonical("record holds a string that is not valid unicode") from exc


def _utf16_key(name: str) -> bytes:
    # RFC 8785 §3.2.3 sorts by UTF-16 code units; differs from code-point order above U+FFFF
    return name.encode("utf-16-be", "surrogatepass")


def _write(obj: Any, out: list[str], path: str) -> None:
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, str):
        out.append(_encode_string(obj))
    elif isinstance(obj, int):
        if not -MAX_SAFE_INTEGER <= obj <= MAX_SAFE_INTEGER:
            raise RecordNotCanonical(f"integer at `{path}` is outside the i-json safe range")
        out.append(str(int(obj)))  # int() drops IntEnum/bool-like subclass reprs
    elif isinstance(obj, float):
        raise RecordNotCanonical(f"float at `{path}` is not allowed in access records")
    elif isinstance(obj, dict):
        for key in obj:
            if not isinstance(key, str):
                raise RecordNotCanonical(f"object key at `{path}` is not a string")
        out.append("{")
        for n, key in enumerate(sorted(obj, key=_utf16_key)):
            if n:
                out.append(",")
            out.append(_encode_string(key))
            out.append(":")
            _write(obj[key], out, f"{path}.{key}")
        out.append("}")
    elif isinstance(obj, (list, tuple)):
        out.append("[")
        for n, item in enumerate(obj):
            if n:
                out.append(",")
            _write(item, out, f"{path}[{n}]")
        out.append("]")
    else:
        raise RecordNotCanonical(f"value at `{path}` has unsupported type `{type(obj).__name__}`")
