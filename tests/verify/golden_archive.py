"""Build the golden export archive (tests/verify/golden/): the format pinned by a committed file.

    .venv/bin/python -m tests.verify.golden_archive      # rewrite tests/verify/golden/

The archive comes from the current gateway's own export of a synthetic log: 12 records under
log key v1, a checkpoint, a key rotation to v2 (a co-signed hand-over), 6 more records, and an
export signed by v2 alone that proves consistency with the v1 checkpoint. Only public material
is written to the golden folder: the archive, the old (v1) verifier key a regulator trusts
and the previous checkpoint. The signing keys live in a temporary folder that is deleted
when the build ends, so no private key can reach the repository.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine

from gateway.accesslog import AccessLog
from gateway.accesslog import keyring as kr
from gateway.accesslog.bulk import bulk_append
from gateway.accesslog.export import export_archive
from gateway.accesslog.keyring import LogKeyring
from gateway.keyrotation import rotate_log_key
from tests.verify.conftest import ORIGIN, make_record

GOLDEN = Path(__file__).resolve().parent / "golden"
ARCHIVE = "export.tar.gz"
TRUSTED_KEY = "trusted-key.vkey"  # the v1 verifier key: what the regulator was given
PREVIOUS = "previous-checkpoint"  # the v1 checkpoint the export proves consistency from
NOW = datetime(2026, 11, 23, tzinfo=UTC)
BEFORE, AFTER = 12, 6  # records before and after the rotation


@dataclass(frozen=True)
class Golden:
    archive: Path
    trusted_key: Path
    previous_checkpoint: Path


def build(out: Path) -> Golden:
    """Write the archive and its public notes into `out` (created; existing files replaced)."""
    out.mkdir(parents=True, exist_ok=True)
    golden = Golden(out / ARCHIVE, out / TRUSTED_KEY, out / PREVIOUS)
    for path in (golden.archive, golden.trusted_key, golden.previous_checkpoint):
        path.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="golden-export-") as scratch:
        work = Path(scratch)
        secrets = work / "secrets"  # INVARIANT: signing keys never leave this folder
        secrets.mkdir(mode=0o700)
        kr.create_first_key(secrets, ORIGIN)
        keyring = LogKeyring(secrets, ORIGIN)
        engine = create_engine(f"sqlite:///{work / 'golden.db'}")
        try:
            with AccessLog(engine, keyring, origin=ORIGIN) as log:
                bulk_append(engine, (make_record(n) for n in range(BEFORE)))
                previous = log.checkpoint()
                rotation = rotate_log_key(log, keyring, work / "public", now=NOW,
                                          trigger="golden archive", operator="officer",
                                          reason="annual rotation")
                bulk_append(engine, (make_record(n) for n in range(BEFORE, BEFORE + AFTER)))
                built = work / ARCHIVE
                export_archive(log, engine, built,
                               verifier_keys=[rotation.old_key, rotation.new_key],
                               exported_by="auditor@fsc.example", now=NOW,
                               previous_checkpoint=previous)
        finally:
            engine.dispose()
        shutil.copyfile(built, golden.archive)
        golden.trusted_key.write_text(rotation.old_key + "\n", "utf-8")
        golden.previous_checkpoint.write_text(previous, "utf-8")
    return golden


if __name__ == "__main__":
    made = build(GOLDEN)
    print(f"wrote {made.archive}, {made.trusted_key.name}, {made.previous_checkpoint.name}",
          file=sys.stderr)
