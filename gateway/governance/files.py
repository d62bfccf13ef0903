"""A policy set as bytes: read once from the folder, kept in the store, built from there.

A set is read into memory once and built from that copy, so the version hash and the rules
always describe the same bytes, even while an editor is still saving (and an approved set is
rebuilt from the bytes that were approved, never from whatever the folder holds now).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from gateway.policy import Policy
from gateway.policy.loader import FILES, Inspection, inspect_policy, load_policy

PolicyFiles = Mapping[str, bytes]  # file name → exact bytes; a missing file is left out


def read_files(policy_dir: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for name in FILES:
        try:
            files[name] = (policy_dir / name).read_bytes()
        except OSError:
            continue  # reported by the loader as P001 when the copy is checked
    return files


@contextmanager
def materialized(files: PolicyFiles) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="policy-set-") as tmp:
        folder = Path(tmp)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        yield folder


def inspect_files(files: PolicyFiles, public_keys_dir: Path, *, shown_as: Path) -> Inspection:
    """Every problem of the set, each naming its file as in `shown_as` (the officer's folder),
    not the temporary copy that was checked."""
    with materialized(files) as folder:
        inspection = inspect_policy(folder, public_keys_dir)
    problems = tuple(replace(p, file=str(shown_as / Path(p.file).name))
                     for p in inspection.problems)
    return Inspection(problems=problems, policy=inspection.policy, version=inspection.version)


def load_files(files: PolicyFiles, public_keys_dir: Path) -> Policy:
    with materialized(files) as folder:
        return load_policy(folder, public_keys_dir)


def encode(files: PolicyFiles) -> str:
    """As stored: a JSON object of the texts (a policy set is UTF-8, or it would not load)."""
    return json.dumps({name: data.decode("utf-8") for name, data in sorted(files.items())},
                      ensure_ascii=False)


def decode(stored: str) -> dict[str, bytes]:
    return {name: text.encode("utf-8") for name, text in json.loads(stored).items()}
