"""SIGKILL under load: every answer a client got survives, and the log stays one tree."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from gateway.accesslog import (
    leaf_hash,
    parse_checkpoint,
    verify_consistency,
    verify_inclusion,
    verify_note,
)
from gateway.accesslog.canonical import canonical_json
from tests.accesslog.servers import (
    ClientResults,
    GatewayData,
    Server,
    auth,
    check_log,
    check_received,
    http_get,
    naive_root,
    prepare,
    read_log,
    run_client,
    workload,
)

pytestmark = pytest.mark.slow

CLIENTS = 8
KILL_AFTER = 200  # responses received before the kill: the server is well into its load


def poll_checkpoints(data: GatewayData, port: int, notes: list[str],
                     stop: threading.Event) -> None:
    """Fetch the signed checkpoint every few ms until the server dies; keep each one read."""
    while not stop.is_set():
        try:  # a fresh token each time: a token id is accepted once
            status, body, _ = http_get(port, "/v1/log/checkpoint", auth(data), timeout=5)
        except OSError:
            return
        if status == 200:
            notes.append(body.decode())
        time.sleep(0.05)


def get_json(port: int, path: str, data: GatewayData, **params: int) -> dict[str, object]:
    status, body, _ = http_get(port, f"{path}?{urlencode(params)}", auth(data))
    assert status == 200, (path, status)
    return dict(json.loads(body))


def b64list(items: object) -> list[bytes]:
    assert isinstance(items, list)
    return [base64.b64decode(h) for h in items]


def test_sigkill_under_load_loses_no_answered_record(tmp_path: Path) -> None:
    data = prepare(tmp_path / "data")
    key = data.verifier_key()
    queries = workload(data, CLIENTS * 300)

    # --- load, then SIGKILL while clients are mid-request ------------------------------------
    server = Server(data)
    server.wait_ready()
    before = ClientResults()
    notes: list[str] = []
    stop = threading.Event()
    clients = [threading.Thread(target=run_client,
                                args=(data, [server.port], queries[c::CLIENTS], before, stop))
               for c in range(CLIENTS)]
    poller = threading.Thread(target=poll_checkpoints, args=(data, server.port, notes, stop))
    for t in [*clients, poller]:
        t.start()
    deadline = time.monotonic() + 60
    while len(before.received) < KILL_AFTER and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()
    stop.set()
    for t in [*clients, poller]:
        t.join(timeout=60)
    assert len(before.received) >= KILL_AFTER, "the server never reached its load"
    assert before.failures, "the kill interrupted no client: the test proved nothing"
    assert len(before.received) < len(queries), "every query finished before the kill"
    assert notes, "no checkpoint was fetched before the kill"
    old = parse_checkpoint(verify_note(notes[-1], [key]))
    assert old.size > 0, "the last checkpoint before the kill is of the empty log"

    # --- restart on the same data; more traffic ----------------------------------------------
    server = Server(data)
    try:
        server.wait_ready()
        after = ClientResults()
        run_client(data, [server.port], queries[-20:], after)
        assert not after.failures, dict(after.failures)
        seen = {r.log_index for r in before.received}
        assert not seen & {r.log_index for r in after.received}, "an index was handed out twice"

        status, body, _ = http_get(server.port, "/v1/log/checkpoint", auth(data))
        assert status == 200
        new = parse_checkpoint(verify_note(body.decode(), [key]))
        assert new.size > old.size
        # the checkpoint from before the crash is a prefix of the one after it
        proof = get_json(server.port, "/v1/log/proofs/consistency", data,
                         first=old.size, second=new.size)
        assert verify_consistency(old.size, new.size, b64list(proof["hashes"]), old.root,
                                  new.root)
        # a client can prove its pre-crash answer is in the new tree (a sample: HTTP per proof)
        for r in before.received[-25:]:
            got = get_json(server.port, "/v1/log/proofs/inclusion", data,
                           index=r.log_index, tree_size=new.size)
            leaf = base64.b64decode(str(got["leaf_hash"]))
            assert verify_inclusion(leaf, r.log_index, new.size, b64list(got["hashes"]),
                                    new.root)
    finally:
        running = server.stop()
    assert running, server.stderr_tail()

    # --- the database itself -----------------------------------------------------------------
    engine = data.engine()
    try:
        log = read_log(engine)
    finally:
        engine.dispose()
    check_log(log, key)  # every checkpoint, before and after the crash, is a prefix of the leaves
    assert naive_root(log.leaf_hashes[: new.size]) == new.root
    check_received(log, [*before.received, *after.received])
    for r in before.received:  # the stored bytes are those whose hash the proofs commit to
        assert leaf_hash(canonical_json(log.records[r.log_index])) == log.leaf_hashes[r.log_index]
