"""Fuzzing the export-archive reader: a malformed archive is a clear finding, never a crash.

Every example starts from the golden archive (tests/verify/golden/, a real export with a key
rotation and a consistency proof) and breaks it one way: a json value anywhere replaced by a
value of another type, a huge number or deep nesting; lines dropped, doubled, swapped or
garbled; members dropped, doubled, moved, truncated, renamed (path traversal, newlines) or
added as links and folders; the tar or gzip bytes truncated or flipped. The verifier must
answer with exit status 0 or 1 — the same in English and Korean — and when it fails, every
line on stderr is a finding (`FAILED: …` / `실패: …`, translated, one line each). A change to
any byte of a hashed member (a record, the export record) must fail.

Bounded for CI by tests/fuzzing.py; run longer with `--hypothesis-profile=long`.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway_verify.cli import main as verify_main
from gateway_verify.korean import UNTRANSLATED
from tests.fuzzing import fuzz, paths
from tests.verify.golden_archive import ARCHIVE, GOLDEN, PREVIOUS, TRUSTED_KEY

JSON_MEMBERS = ("manifest.json", "consistency.json", "export-record.json", "export-proof.json")
JSONL_MEMBERS = ("handovers.jsonl", "records.jsonl", "proofs.jsonl")
HASHED = ("records.jsonl", "export-record.json")  # leaves of the signed tree: no byte may change
RAW = "\x00raw\x00"  # stands for raw json text spliced in after encoding

# what a tamperer would put where a member name goes
EVIL_NAMES = ("../../etc/passwd", "/etc/passwd", "keys/../manifest.json", "keys/00000000.vkey",
              "manifest.json/", "./records.jsonl", "records.jsonl\nOK: every check holds",
              "keys/\u202egpj.vkey", "", "a" * 300)
# strings that could fake a line of the report or confuse a terminal
EVIL_TEXT = ("\nOK: every check holds", "\r", "\x1b[2J", "`", "\u202e", "2026-10-01T00:00:00Z",
             "NaN", "\ud7a3")
# raw json: deep nesting (a recursion bomb for a recursive parser), numbers beyond any int64
RAW_TEXTS = ("[" * 3000 + "]" * 3000, '{"a":' * 3000 + "1" + "}" * 3000,
             "1" * 5000, "-" + "9" * 40, "1e999999", "-0", "18446744073709551616",
             "9223372036854775808", "NaN", "Infinity", '"\\ud800"')

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.sampled_from([2**63, 2**64 + 1, -(2**63) - 1, 10**40, -1, 0])
    | st.text(max_size=12) | st.sampled_from(EVIL_TEXT),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8,
)


@dataclass
class Entry:
    name: str
    data: bytes
    type: bytes = tarfile.REGTYPE


def golden_entries() -> list[Entry]:
    with tarfile.open(GOLDEN / ARCHIVE, "r:gz") as tar:
        out = []
        for info in tar.getmembers():
            stream = tar.extractfile(info)
            assert stream is not None
            out.append(Entry(info.name, stream.read()))
        return out


GOLDEN_ENTRIES = golden_entries()


def tar_bytes(entries: list[Entry]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type = entry.type
            if entry.type == tarfile.REGTYPE:
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
            else:
                info.linkname = "manifest.json" if entry.type != tarfile.DIRTYPE else ""
                tar.addfile(info)
    return buffer.getvalue()


# --- one way of breaking the archive each -----------------------------------------------------
def replaced(value: Any, at: tuple[Any, ...], new: Any, delete: bool) -> Any:
    if not at:
        return new
    head, rest = at[0], at[1:]
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    if delete and not rest:
        del copy[head]
    else:
        copy[head] = replaced(copy[head], rest, new, delete)
    return copy


def encode(value: Any, raw: str) -> bytes:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return text.replace(json.dumps(RAW), raw).encode("utf-8", "surrogatepass")


def break_json(data: st.DataObject, entries: list[Entry]) -> None:
    """A value anywhere in a json member or line: another type, a huge number, raw text."""
    choices = [i for i, e in enumerate(entries) if e.name in JSON_MEMBERS + JSONL_MEMBERS]
    entry = entries[data.draw(st.sampled_from(choices))]
    rows = entry.data.split(b"\n")[:-1] if entry.name in JSONL_MEMBERS else [entry.data]
    row = data.draw(st.integers(0, len(rows) - 1))
    doc = json.loads(rows[row])
    at = data.draw(st.sampled_from(paths(doc)))
    delete = bool(at) and data.draw(st.booleans())
    new = data.draw(json_values | st.just(RAW))
    rows[row] = encode(replaced(doc, at, new, delete), data.draw(st.sampled_from(RAW_TEXTS)))
    entry.data = b"".join(r.rstrip(b"\n") + b"\n" for r in rows)


def break_lines(data: st.DataObject, entries: list[Entry]) -> None:
    """A line of a jsonl member dropped, doubled, swapped, garbled, or the last newline cut."""
    entry = data.draw(st.sampled_from([e for e in entries if e.name in JSONL_MEMBERS]))
    rows = entry.data.split(b"\n")[:-1]
    i, j = (data.draw(st.integers(0, len(rows) - 1)) for _ in range(2))
    how = data.draw(st.sampled_from(["drop", "double", "swap", "garble", "cut", "blank"]))
    if how == "drop":
        del rows[i]
    elif how == "double":
        rows.insert(i, rows[i])
    elif how == "swap":
        rows[i], rows[j] = rows[j], rows[i]
    elif how == "garble":
        rows[i] = data.draw(st.binary(max_size=40))
    entry.data = b"".join(r + b"\n" for r in rows) + (b"\n" if how == "blank" else b"")
    if how == "cut":
        entry.data = entry.data[:-1]


def break_members(data: st.DataObject, entries: list[Entry]) -> None:
    """A member dropped, doubled, moved, truncated, replaced, renamed, or a link added."""
    i = data.draw(st.integers(0, len(entries) - 1))
    how = data.draw(st.sampled_from(["drop", "double", "move", "truncate", "replace", "rename",
                                     "link", "folder"]))
    if how == "drop":
        del entries[i]
    elif how == "double":
        entries.insert(i, Entry(entries[i].name, entries[i].data))
    elif how == "move":
        entries.insert(data.draw(st.integers(0, len(entries) - 1)), entries.pop(i))
    elif how == "truncate":
        entries[i].data = entries[i].data[: data.draw(st.integers(0, len(entries[i].data)))]
    elif how == "replace":
        entries[i].data = data.draw(st.binary(max_size=200))
    elif how == "rename":
        entries[i].name = data.draw(st.sampled_from(EVIL_NAMES) | st.text(max_size=20))
    else:
        kind = tarfile.SYMTYPE if how == "link" else tarfile.DIRTYPE
        name = data.draw(st.sampled_from([entries[i].name, *EVIL_NAMES[:3]]))
        entries.insert(i, Entry(name, b"", kind))


def break_bytes(data: st.DataObject, archive: bytes) -> bytes:
    """The container itself: truncated, or a few bytes flipped."""
    if data.draw(st.booleans()):
        return archive[: data.draw(st.integers(0, len(archive) - 1))]
    changed = bytearray(archive)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(changed) - 1))
        changed[at] ^= data.draw(st.integers(1, 255))
    return bytes(changed)


# --- running the verifier ----------------------------------------------------------------------
def verify(path: Path, lang: str, previous: Path = GOLDEN / PREVIOUS) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = verify_main([str(path), "--key-file", str(GOLDEN / TRUSTED_KEY),
                            "--previous-checkpoint", str(previous), "--lang", lang])
    return code, out.getvalue(), err.getvalue()


def assert_clear_verdict(path: Path, previous: Path = GOLDEN / PREVIOUS) -> int:
    """Same verdict in both languages; a failure is only findings, each one whole line."""
    code, _, err = verify(path, "en", previous)
    ko_code, _, ko_err = verify(path, "ko", previous)
    assert code == ko_code and code in (0, 1, 2)
    if code == 0:
        assert err == "" and ko_err == ""
        return code
    if code == 2:  # the command is wrong: an unreadable file given to it, named on one line
        assert err.startswith("gateway-verify: cannot read") and len(err.splitlines()) == 1
        assert ko_err.startswith("gateway-verify: ") and UNTRANSLATED not in ko_err
        return code
    lines, ko_lines = err.splitlines(), ko_err.splitlines()
    assert lines and len(lines) == len(ko_lines)
    assert lines[-1].startswith("FAILED: ") and lines[-1].endswith("problem(s)")
    for line in lines:
        assert line.startswith("FAILED: "), line
    for line in ko_lines:
        assert line.startswith("실패: ") and UNTRANSLATED not in line, line
    return code


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "fuzzed.tar"


def test_the_unbroken_archive_verifies(fuzzed: Path) -> None:
    for compressed in (False, True):
        archive = tar_bytes(GOLDEN_ENTRIES)
        fuzzed.write_bytes(gzip.compress(archive) if compressed else archive)
        assert assert_clear_verdict(fuzzed) == 0


@fuzz(300)
@given(data=st.data(), how=st.sampled_from(["json", "json", "lines", "members"]))
def test_a_broken_member_is_a_finding(fuzzed: Path, data: st.DataObject, how: str) -> None:
    entries = [Entry(e.name, e.data) for e in GOLDEN_ENTRIES]
    {"json": break_json, "lines": break_lines, "members": break_members}[how](data, entries)
    archive = tar_bytes(entries)
    fuzzed.write_bytes(gzip.compress(archive) if data.draw(st.booleans()) else archive)
    code = assert_clear_verdict(fuzzed)
    now = {e.name: e.data for e in entries if e.type == tarfile.REGTYPE}
    if any(now.get(name) != e.data for e in GOLDEN_ENTRIES for name in HASHED if e.name == name):
        assert code == 1, "a hashed member changed and the archive still verified"


@fuzz(150)
@given(data=st.data(), compressed=st.booleans())
def test_broken_container_bytes_are_a_finding(fuzzed: Path, data: st.DataObject,
                                              compressed: bool) -> None:
    archive = tar_bytes(GOLDEN_ENTRIES)
    fuzzed.write_bytes(break_bytes(data, gzip.compress(archive) if compressed else archive))
    assert_clear_verdict(fuzzed)


@fuzz(80)
@given(data=st.data())
def test_a_broken_previous_checkpoint_is_a_finding(fuzzed: Path, data: st.DataObject) -> None:
    """`--previous-checkpoint` is the regulator's own file, but it may be damaged too."""
    note = (GOLDEN / PREVIOUS).read_bytes()
    fuzzed.write_bytes(gzip.compress(tar_bytes(GOLDEN_ENTRIES)))
    previous = fuzzed.with_name("previous-checkpoint")
    how = data.draw(st.sampled_from(["flip", "cut", "lines", "bytes"]))
    if how == "flip":
        note = break_bytes(data, note)
    elif how == "cut":
        note = note[: data.draw(st.integers(0, len(note)))]
    elif how == "lines":
        rows = note.split(b"\n")
        at = data.draw(st.integers(0, len(rows) - 1))
        rows[at] = data.draw(st.sampled_from([b"", b"9" * 30, b"-1", b"\xe2\x80\x94 x AAAA",
                                              "\u2028".encode(), b"origin\nmore"]))
        note = b"\n".join(rows)
    else:
        note = data.draw(st.binary(max_size=300))
    previous.write_bytes(note)
    code = assert_clear_verdict(fuzzed, previous)
    # the file is read as text: `\r` and `\r\n` are newlines (a copy saved on Windows verifies)
    same = note.replace(b"\r\n", b"\n").replace(b"\r", b"\n").rstrip(b"\n")
    assert code != 0 or same == (GOLDEN / PREVIOUS).read_bytes().rstrip(b"\n")


# --- what the fuzzers found (each crashed the verifier or left a finding untranslated) ---------
def entries_with(name: str, data: bytes | None = None, rename: str | None = None,
                 first: bool = False) -> list[Entry]:
    entries = [Entry(e.name, e.data) for e in GOLDEN_ENTRIES]
    for entry in entries:
        if entry.name == name:
            entry.data = entry.data if data is None else data
            entry.name = rename or entry.name
    if first:
        entries.sort(key=lambda e: e.name != name)
    return entries


def manifest_with(change: dict[str, Any]) -> bytes:
    manifest = json.loads(dict((e.name, e.data) for e in GOLDEN_ENTRIES)["manifest.json"])
    return json.dumps({**manifest, **change}).encode() + b"\n"


def records_with(name: str, value: Any) -> bytes:
    """records.jsonl with `name` of its first record set to `value`."""
    rows = dict((e.name, e.data) for e in GOLDEN_ENTRIES)["records.jsonl"].split(b"\n")
    first = json.loads(rows[0])
    rows[0] = json.dumps({**first, name: value}).encode()
    return b"\n".join(rows)


DEEP = b"[" * 3000 + b"]" * 3000
ARCHIVE_BYTES = gzip.compress(tar_bytes(GOLDEN_ENTRIES))
FOUND: list[tuple[str, bytes, str]] = [
    # a member name that would print a line of its own (now escaped as \u000a)
    ("newline-name", tar_bytes(entries_with("records.jsonl", rename="records.jsonl\nOK: fine")),
     "unknown member `records.jsonl\\u000aOK: fine`"),
    ("backtick-name", tar_bytes(entries_with("records.jsonl", rename="`")),  # untranslated
     "unknown member ```"),
    ("deep-manifest", tar_bytes(entries_with("manifest.json", DEEP + b"\n")),  # RecursionError
     "`manifest.json` is not valid json"),
    ("deep-handover", tar_bytes(entries_with("handovers.jsonl", DEEP + b"\n")),  # RecursionError
     "hand-over on line 1 of `handovers.jsonl` is malformed"),
    ("proofs-first", tar_bytes(entries_with("proofs.jsonl", first=True)),  # AssertionError
     "`proofs.jsonl` comes before the checkpoint"),
    ("gzip-cut-in-a-member", ARCHIVE_BYTES[: len(ARCHIVE_BYTES) // 2],  # tarfile.ReadError
     "archive is truncated or corrupt"),
    ("gzip-header-cut", ARCHIVE_BYTES[:3], "is not a readable tar archive"),  # TypeError
    ("checkpoint-not-utf8", tar_bytes(entries_with("checkpoint", b"\xf4\x00\n")),  # untranslated
     "`checkpoint` is not a signed checkpoint: it is not utf-8 text"),
    ("index-beyond-64-bits", tar_bytes(entries_with(  # OverflowError
        "records.jsonl", records_with("index", 2**64))), "`index` is beyond the size of any log"),
    ("time-not-a-text", tar_bytes(entries_with(  # TypeError in the Korean summary
        "records.jsonl", records_with("time", 5))), "record at index 0 was modified"),
    ("proof-index-true", tar_bytes(entries_with(  # `true` read as index 1: untranslated
        "proofs.jsonl", b'{"hashes":[],"index":true}\n')),
     "line 1 of `proofs.jsonl` is not a proof"),
    ("export-proof-index-true", tar_bytes(entries_with(
        "export-proof.json", b'{"hashes":[],"index":true}\n')),
     "`export-proof.json` is not a proof"),
    ("count-not-a-number", tar_bytes(entries_with(  # untranslated
        "manifest.json", manifest_with({"records": {"count": [None, None]}}))),
     "the manifest declares [None, None] records"),
]


@pytest.mark.parametrize(("archive", "fragment"), [(a, f) for _, a, f in FOUND],
                         ids=[name for name, _, _ in FOUND])
def test_archives_that_crashed_the_verifier_are_findings(fuzzed: Path, archive: bytes,
                                                          fragment: str) -> None:
    fuzzed.write_bytes(archive)
    assert assert_clear_verdict(fuzzed) == 1
    _, _, err = verify(fuzzed, "en")
    assert fragment in err
