"""C2SP signed notes, verifier keys, checkpoint bodies and log key files."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.accesslog import (
    EMPTY_ROOT,
    InvalidNoteSignature,
    LogSigner,
    MalformedCheckpoint,
    MalformedNote,
    MalformedVerifierKey,
    UnverifiedNote,
    format_checkpoint,
    parse_checkpoint,
    parse_verifier_key,
    verify_note,
)
from gateway.errors import KeyLoadError

# The example of golang.org/x/mod/sumdb/note (the signed-note reference implementation).
GO_SKEY_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
GO_NOTE = GO_TEXT + ("\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1"
                     "FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")
# The example of the C2SP signed-note specification.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = ("This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnag"
             "v1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n")


def test_signer_reproduces_the_reference_note_byte_for_byte() -> None:
    go = LogSigner(Ed25519PrivateKey.from_private_bytes(GO_SKEY_SEED), "PeterNeumann")
    assert go.verifier_key() == GO_VKEY
    assert go.sign_note(GO_TEXT) == GO_NOTE
    assert "PRIVATE" not in repr(go) and "c74f20a3" in repr(go)


@pytest.mark.parametrize(("note", "vkey"), [(GO_NOTE, GO_VKEY), (SPEC_NOTE, SPEC_VKEY)])
def test_reference_notes_verify(note: str, vkey: str) -> None:
    assert verify_note(note, [vkey]) == note[: note.rindex("\n\n") + 1]


def test_own_checkpoint_round_trip(signer: LogSigner) -> None:
    body = format_checkpoint("log.example/a", 7, EMPTY_ROOT)
    assert body == "log.example/a\n7\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    note = signer.sign_note(body)
    body = verify_note(note, [signer.verifier_key()])
    assert parse_checkpoint(body) == ("log.example/a", 7, EMPTY_ROOT)


def test_unknown_cosignatures_are_ignored_next_to_a_known_one(signer: LogSigner) -> None:
    other = LogSigner(Ed25519PrivateKey.generate(), "witness.example")
    note = signer.sign_note("o\n1\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n")
    cosigned = note + other.sign_note(note[: note.rindex("\n\n") + 1]).split("\n\n")[1]
    assert verify_note(cosigned, [signer.verifier_key()]).startswith("o\n1\n")
    assert verify_note(cosigned, [other.verifier_key(), signer.verifier_key()])


def _tamper_sig(note: str) -> str:
    head, sig = note.rsplit(" ", 1)
    blob = bytearray(base64.b64decode(sig))
    blob[10] ^= 1  # flip one bit of the signature, keep the key hash
    return head + " " + base64.b64encode(bytes(blob)).decode() + "\n"


@pytest.mark.parametrize(
    ("tamper", "error", "message"),
    [
        # the size changed after signing
        (lambda n: n.replace("\n7\n", "\n8\n"), InvalidNoteSignature, "by `.*` does not verify"),
        (_tamper_sig, InvalidNoteSignature, "does not verify"),
        (lambda n: n.replace("\u2014 ", "- "), MalformedNote, "does not start with an em dash"),
        (lambda n: n.replace("\n\n", "\n"), MalformedNote, "no blank line"),
        (lambda n: n[:-1], MalformedNote, "lacks its final newline"),
        (lambda n: n.rsplit(" ", 1)[0] + " AQID\n", MalformedNote, "too short"),  # 3-byte blob
        (lambda n: n.rsplit(" ", 1)[0] + " !!\n", MalformedNote, "not valid base64"),
        (lambda n: "\x00" + n, MalformedNote, "control character"),
    ],
)
def test_tampered_notes_are_refused(
    signer: LogSigner, tamper: object, error: type[Exception], message: str
) -> None:
    note = signer.sign_note(format_checkpoint("log.example/a", 7, EMPTY_ROOT))
    with pytest.raises(error, match=message):
        verify_note(tamper(note), [signer.verifier_key()])  # type: ignore[operator]


def test_note_by_an_unknown_key_is_unverified(signer: LogSigner) -> None:
    stranger = LogSigner(Ed25519PrivateKey.generate(), signer.name)  # same name, other key
    note = stranger.sign_note("o\n0\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n")
    with pytest.raises(UnverifiedNote, match="no signature by a known key"):
        verify_note(note, [signer.verifier_key()])
    with pytest.raises(UnverifiedNote, match="no signature by a known key"):
        verify_note(note, [])


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        ("PeterNeumann+c74f20a3", "must be `name\\+hash\\+key`"),
        # key hash off by one
        (GO_VKEY.replace("+c74f20a3+", "+c74f20a4+"), "hash does not match"),
        ("PeterNeumann+c74f20a3+AgID", "not an ed25519 key"),  # 3 bytes, algorithm 2
        ("Peter " + GO_VKEY, "bad name"),  # a space in the name
        (GO_VKEY.replace("+c74f", "+zz4f"), "not valid hex"),
    ],
)
def test_malformed_verifier_keys(vkey: str, message: str) -> None:
    with pytest.raises(MalformedVerifierKey, match=message):
        parse_verifier_key(vkey)


def test_sign_refuses_text_without_final_newline(signer: LogSigner) -> None:
    with pytest.raises(MalformedNote, match="must end with a newline"):
        signer.sign_note("abc")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("o\n7\n", "needs origin, size and root"),
        ("\n7\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n", "origin is empty"),
        ("o\n07\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n", "not a decimal"),  # leading 0
        ("o\n-1\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n", "not a decimal"),
        ("o\n7\n" + base64.b64encode(b"short").decode() + "\n", "not a 32-byte hash"),
        ("o\n7\n%%%\n", "not valid base64"),
        ("o\n7\n" + base64.b64encode(EMPTY_ROOT).decode(), "must end with a newline"),
        ("o\n7\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n\n", "empty extension line"),
    ],
)
def test_malformed_checkpoints(body: str, message: str) -> None:
    with pytest.raises(MalformedCheckpoint, match=message):
        parse_checkpoint(body)


def test_checkpoint_extension_lines_are_accepted() -> None:
    body = format_checkpoint("o", 3, EMPTY_ROOT) + "— witness extension\n"
    assert parse_checkpoint(body).size == 3


# --- key files ------------------------------------------------------------------------------------
def test_generated_key_is_owner_only_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "log.pem"
    made = LogSigner.generate(path, "log.example")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert LogSigner.load(path, "log.example").verifier_key() == made.verifier_key()
    assert LogSigner.load_or_generate(path, "log.example").verifier_key() == made.verifier_key()
    with pytest.raises(KeyLoadError, match="already exists"):
        LogSigner.generate(path, "log.example")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read log key file"),  # missing file
        (b"not a key", "is not an unencrypted pem key"),
        # a valid PEM of another key type
        ("ec", "does not hold an ed25519 key"),
    ],
)
def test_bad_key_files(tmp_path: Path, content: bytes | str | None, message: str) -> None:
    path = tmp_path / "log.pem"
    if content == "ec":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        content = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    if isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(KeyLoadError, match=message):
        LogSigner.load(path, "log.example")


@pytest.mark.parametrize("name", ["", "has space", "a+b"])
def test_bad_key_names(name: str) -> None:
    with pytest.raises(KeyLoadError, match="must be non-empty, without spaces or `\\+`"):
        LogSigner(Ed25519PrivateKey.generate(), name)
