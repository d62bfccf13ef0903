"""A policy set to compare: a folder, or `policies/` at a git revision, loaded without its keys.

`policy diff` compares what rules release, not who can sign tokens, so each side is loaded
against throwaway public keys of the algorithm each system pins: an old revision whose keys
were since rotated still loads. The real keys are checked by `policy check`, never here.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from gateway.errors import PolicyError
from gateway.policy.loader import FILES, load_policy
from gateway.auth.algorithms import pinned_name
from gateway.policy.model import Policy
from gateway.policy.problems import PolicyLoadError


class SnapshotError(PolicyError):
    type_slug = "policy-snapshot"
    title = "policy set could not be read"


def _throwaway_public_key(algorithm: Any) -> bytes:
    key = (ec.generate_private_key(ec.SECP256R1()) if pinned_name(algorithm) == "ES256"
           else ed25519.Ed25519PrivateKey.generate())
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def write_throwaway_keys(policy_dir: Path, keys_dir: Path) -> None:
    """A fresh public key for every system `affiliates.yaml` declares (read leniently: the
    loader reports whatever is wrong with the file itself)."""
    try:
        doc = yaml.safe_load((policy_dir / "affiliates.yaml").read_text("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return
    entries = doc.get("affiliates") if isinstance(doc, dict) else None
    for affiliate in entries if isinstance(entries, list) else ():
        systems = affiliate.get("systems") if isinstance(affiliate, dict) else None
        for system in systems if isinstance(systems, list) else ():
            relative = system.get("public_key") if isinstance(system, dict) else None
            if not isinstance(relative, str):
                continue
            rel = PurePosixPath(relative)
            if rel.is_absolute() or ".." in rel.parts or not rel.parts:
                continue  # the loader refuses it with a position
            target = keys_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_throwaway_public_key(system.get("algorithm")))


def _git_show(repo: Path, rev: str, path: str) -> bytes | None:
    """The file's bytes at `rev`, None when the revision has no such file."""
    spec = f"{rev}:{path}"
    try:
        done = subprocess.run(["git", "-C", str(repo), "show", spec], capture_output=True,
                              timeout=30, check=False,
                              env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except (OSError, subprocess.SubprocessError) as exc:
        raise SnapshotError(f"git could not be run: {type(exc).__name__}") from None
    if done.returncode == 0:
        return done.stdout
    message = done.stderr.decode("utf-8", "replace")
    if "does not exist in" in message or "exists on disk, but not in" in message:
        return None
    first = message.strip().splitlines()[0][:200] if message.strip() else "failed"
    raise SnapshotError(f"git revision `{rev}` could not be read: {first}")


def _extract(repo: Path, spec: str, default_path: str, into: Path) -> None:
    rev, sep, path = spec.partition(":")
    if not rev:
        raise SnapshotError(f"`{spec}` names no git revision")
    folder = (path if sep else default_path).strip("/") or "."
    if not folder.startswith("./") and not sep:
        folder = "./" + folder  # relative to the working directory, like the folder form
    found = 0
    for name in FILES:
        data = _git_show(repo, rev, f"{folder}/{name}")
        if data is not None:
            (into / name).write_bytes(data)
            found += 1
    if not found:
        raise SnapshotError(f"no policy file at `{rev}:{folder}`")


@contextmanager
def snapshot(spec: str, *, repo: Path = Path("."),
             default_path: str = "policies") -> Iterator[tuple[str, Policy]]:
    """(label, policy) for a folder or a git revision (`HEAD~1`, `main:policies`).

    A spec that names an existing folder is that folder; otherwise it is a git revision,
    optionally `REV:path` (else `default_path` at that revision, relative to `repo`).
    """
    with tempfile.TemporaryDirectory(prefix="policy-snapshot-") as tmp:
        work = Path(tmp)
        keys = work / "keys"
        folder = Path(spec)
        if folder.is_dir():
            label = str(folder)
        else:
            folder = work / "policies"
            folder.mkdir()
            _extract(repo, spec, default_path, folder)
            label = spec if ":" in spec else f"{spec}:{default_path}"
        write_throwaway_keys(folder, keys)
        try:
            policy = load_policy(folder, keys)
        except PolicyLoadError as exc:
            # Name the side as given, not the temporary folder a revision was extracted into.
            raise PolicyLoadError([replace(p, file=f"{label}/{Path(p.file).name}")
                                   for p in exc.problems]) from None
        yield label, policy
