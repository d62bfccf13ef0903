"""One group commit per host: a log writer process that the server processes of a host feed.

With several server processes each ran its own writer thread, and the writers took turns on
the one log (`flock` on SQLite, the head row's lock on PostgreSQL): each process committed its
own smaller batches, re-read the head every turn, and held the turn while its thread competed
for its process's GIL with the event loop, so the processes waited on each other. Here one
writer process (`HostWriter`) takes the batches of every server process of the host over a
Unix socket, writes what arrived together in one transaction (`AccessLog.write_batch`, the
very code a writer thread runs) and answers each process with its records' outcomes. A server
process's own writer thread still gathers its records (lingering for those under way) and then
hands the batch over (`RemoteWriter`) instead of writing it.

INVARIANT: the host writer answers only after COMMIT returned, exactly as a writer thread
settles its callers; any failure (the transaction's, the socket's, a writer that is gone, an
answer that does not fit the batch) fails every record of the batch in the server process,
which then releases nothing. A record whose batch failed on the socket may still have been
written: an access record of an answer never sent, which the log already allows (a caller
that gave up waiting).

The socket lies in a folder only the gateway's user can open (0700): no other local user can
append to the log. The messages are length-prefixed JSON, never pickle.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gateway.accesslog.canonical import CanonicalObject
from gateway.accesslog.contacts import ContactClaim
from gateway.accesslog.customer_index import IndexEntry
from gateway.accesslog.usage import Measure, RateLimited, Subject, Usage
from gateway.errors import LogWriteFailed

if TYPE_CHECKING:
    from gateway.accesslog.log import AccessLog, BatchResult, _Pending

logger = logging.getLogger("gateway.accesslog.remote")

_LENGTH = struct.Struct(">I")
MAX_MESSAGE = 256 * 1024 * 1024  # a batch of 256 records of ≤ 1 MiB each: far above any real one
REPLY_TIMEOUT_S = 60.0  # a server process gives up on the host writer after this (then 503s)
SEND_TIMEOUT_S = 10.0  # the host writer drops a server process that does not read its answer
ACTIVE_S = 0.05  # a process answered this recently is expected to send again soon
POLL_S = 0.5  # the host writer looks at its stop flag and its parent this often when idle


class HostWriterUnavailable(LogWriteFailed):
    """The host's log writer could not be reached, failed the batch, or answered wrongly."""


# --- the messages -------------------------------------------------------------------------------
def _time(value: datetime) -> str:
    return value.isoformat()


def _encode_pending(p: _Pending) -> list[Any]:
    record = None if p.record is None else [
        [k.decode("latin-1") for k in p.record.sort_keys],
        [m.decode("utf-8") for m in p.record.members]]
    token = None if p.token is None else [
        p.token.jti, p.token.system, _time(p.token.expires_at)]
    contacts = [[c.customer_key, c.channel, _time(c.at), _time(c.window_start), c.max]
                for c in p.contacts]
    customer = None if p.customer is None else [
        p.customer.customer_key, _time(p.customer.at), p.customer.purpose]
    usage = None if p.usage is None else [
        [[s.key, s.affiliate, s.system, s.employee,
          [[m.name, m.bucket, m.limit, m.alert] for m in s.measures]] for s in p.usage.subjects],
        p.usage.customer, p.usage.at, p.usage.request_id, p.usage.employee,
        p.usage.policy_version]
    return [record, token, contacts, customer, usage]


def _decode_pending(item: list[Any]) -> _Pending:
    from gateway.accesslog.log import TokenClaim, _Pending

    record, token, contacts, customer, usage = item
    return _Pending(
        record=None if record is None else CanonicalObject(
            tuple(k.encode("latin-1") for k in record[0]),
            tuple(m.encode("utf-8") for m in record[1])),
        token=None if token is None else TokenClaim(
            token[0], token[1], datetime.fromisoformat(token[2])),
        contacts=tuple(ContactClaim(c[0], c[1], datetime.fromisoformat(c[2]),
                                    datetime.fromisoformat(c[3]), c[4]) for c in contacts),
        customer=None if customer is None else IndexEntry(
            customer[0], datetime.fromisoformat(customer[1]), customer[2]),
        usage=None if usage is None else Usage(
            tuple(Subject(s[0], s[1], s[2], s[3], tuple(Measure(*m) for m in s[4]))
                  for s in usage[0]),
            usage[1], usage[2], usage[3], usage[4], usage[5]),
    )


def _encode_outcomes(batch: Sequence[_Pending], result: BatchResult) -> list[Any]:
    """Per pending, in batch order: [index or None, token id new, contact counts at the cap
    or None, rate-limit refusal or None]."""
    written, fresh, capped, limited = result
    out: list[Any] = []
    for p in batch:
        counts = capped.get(id(p))
        refusal = limited.get(id(p))
        out.append([
            written.get(id(p)), id(p) in fresh,
            None if counts is None else [[k, ch, n] for (k, ch), n in counts.items()],
            None if refusal is None else [
                str(refusal), refusal.measure, refusal.scope, refusal.retry_after,
                refusal.subject, list(refusal.window)]])
    return out


def _decode_outcomes(batch: Sequence[_Pending], outcomes: Any) -> BatchResult:
    if not isinstance(outcomes, list) or len(outcomes) != len(batch):
        raise HostWriterUnavailable("the host log writer answered for a different batch")
    written: dict[int, int] = {}
    fresh: set[int] = set()
    capped: dict[int, dict[tuple[str, str], int]] = {}
    limited: dict[int, RateLimited] = {}
    for p, (index, new, counts, refusal) in zip(batch, outcomes, strict=True):
        if index is not None:
            written[id(p)] = index
        if new:
            fresh.add(id(p))
        if counts is not None:
            capped[id(p)] = {(k, ch): n for k, ch, n in counts}
        if refusal is not None:
            detail, measure, scope, retry_after, subject, window = refusal
            limited[id(p)] = RateLimited(detail, measure=measure, scope=scope,
                                         retry_after=retry_after, subject=subject,
                                         window=(window[0], window[1]))
    return written, fresh, capped, limited


def _frame(message: Any) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode("utf-8")
    return _LENGTH.pack(len(body)) + body


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise ConnectionError("the host log writer closed the connection")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


# --- a server process's side --------------------------------------------------------------------
class RemoteWriter:
    """A server process's connection to its host's log writer, used by its writer thread only.

    Opened on first use, again in a forked child, and again after any failure (the host writer
    may have been restarted meanwhile: the batch that met the failure fails, the next one
    connects anew)."""

    def __init__(self, path: str, *, timeout: float = REPLY_TIMEOUT_S) -> None:
        self.path = path
        self._timeout = timeout
        self._sock: tuple[int, socket.socket] | None = None
        # how many server processes the host writer saw sending lately, this one included:
        # alone, this process's writer lingers for its own records under way (as a writer
        # thread does); with others, the host writer gathers everyone's records instead
        self.peers = 1

    def _connected(self) -> socket.socket:
        held = self._sock
        if held is not None and held[0] == os.getpid():
            return held[1]
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self._timeout)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        self._sock = (os.getpid(), sock)
        return sock

    def write(self, batch: Sequence[_Pending]) -> BatchResult:
        """Have the host writer write `batch` in its next transaction; the outcomes as
        `AccessLog.write_batch` gives them. Raises `HostWriterUnavailable` on any failure."""
        try:
            sock = self._connected()
            sock.sendall(_frame([_encode_pending(p) for p in batch]))
            (length,) = _LENGTH.unpack(_read_exactly(sock, _LENGTH.size))
            if length > MAX_MESSAGE:
                raise HostWriterUnavailable("the host log writer's answer is too large")
            reply = json.loads(_read_exactly(sock, length))
        except HostWriterUnavailable:
            self.close()
            raise
        except (OSError, ValueError) as exc:  # refused, reset, timed out, garbled
            self.close()
            raise HostWriterUnavailable(
                f"the host log writer is unavailable: `{type(exc).__name__}`") from exc
        if not isinstance(reply, dict) or "error" in reply:
            self.close()
            failure = reply.get("error") if isinstance(reply, dict) else None
            raise HostWriterUnavailable(
                f"the host log writer failed the batch: `{failure or 'unexpected answer'}`")
        peers = reply.get("peers")
        self.peers = peers if isinstance(peers, int) else 1
        try:
            return _decode_outcomes(batch, reply.get("outcomes"))
        except (TypeError, ValueError) as exc:
            self.close()
            raise HostWriterUnavailable("the host log writer's answer is malformed") from exc

    def close(self) -> None:
        held, self._sock = self._sock, None
        if held is not None and held[0] == os.getpid():
            with contextlib.suppress(OSError):
                held[1].close()


# --- the host writer's side ---------------------------------------------------------------------
class _Peer:
    """One server process's connection: bytes read so far, and its complete message if any."""

    __slots__ = ("sock", "buffer", "message", "answered")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.answered = 0.0  # monotonic time of its latest answer
        self.buffer = bytearray()
        self.message: list[Any] | None = None

    def feed(self) -> bool:
        """Read what is there; False when the peer is gone or broke the protocol."""
        try:
            chunk = self.sock.recv(1 << 20)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not chunk:
            return False
        self.buffer += chunk
        if len(self.buffer) < _LENGTH.size:
            return True
        (length,) = _LENGTH.unpack_from(self.buffer)
        if length > MAX_MESSAGE:
            return False
        if len(self.buffer) < _LENGTH.size + length:
            return True
        if len(self.buffer) > _LENGTH.size + length or self.message is not None:
            return False  # one batch at a time: a peer never sends before its answer
        try:
            message = json.loads(bytes(self.buffer[_LENGTH.size:]))
        except ValueError:
            return False
        if not isinstance(message, list):
            return False
        self.buffer.clear()
        self.message = message
        return True

    def answer(self, reply: Any) -> bool:
        try:
            self.sock.settimeout(SEND_TIMEOUT_S)
            self.sock.sendall(_frame(reply))
            self.sock.setblocking(False)
            self.answered = time.monotonic()
            return True
        except OSError:
            return False


class HostWriter:
    """The host's log writer: one transaction for what every server process sent meanwhile.

    `serve` runs until `stopped()` says so; batches that arrived together are written together
    (a commit costs the same for one record as for many, so the processes share it), and each
    process gets the outcomes of its own records. A peer that breaks the protocol (a message
    that is not a batch) is disconnected; its records are not written.
    """

    def __init__(self, log: AccessLog, path: str, *, linger_ms: float = 0.5) -> None:
        self._log = log
        self.path = path
        self.linger = linger_ms / 1000
        self.batches = 0
        self.records = 0
        folder = os.path.dirname(path) or "."
        if os.stat(folder).st_mode & 0o077:
            raise PermissionError(f"{folder} must be private to the gateway's user (0700)")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self._listener.bind(path)
        os.chmod(path, 0o600)
        self._listener.listen(64)
        self._listener.setblocking(False)

    def serve(self, stopped: Callable[[], bool]) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ, None)
        peers: list[_Peer] = []
        try:
            while not stopped():
                self._poll(selector, peers, POLL_S)
                ready = [p for p in peers if p.message is not None]
                if not ready:
                    continue
                # a commit costs the same for one process's records as for every process's:
                # wait briefly for the other processes that are sending now
                deadline = time.monotonic() + self.linger
                while len(ready) < len(peers) and self._expecting(peers):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._poll(selector, peers, left)
                    ready = [p for p in peers if p.message is not None]
                self._write(selector, peers, ready)
        finally:
            for peer in peers:
                with contextlib.suppress(OSError):
                    peer.sock.close()
            selector.close()
            self._listener.close()
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    def _poll(self, selector: selectors.BaseSelector, peers: list[_Peer], timeout: float
              ) -> None:
        for key, _ in selector.select(timeout):
            if key.data is None:
                self._accept(selector, peers)
            elif not key.data.feed():
                self._drop(selector, peers, key.data)

    @staticmethod
    def _expecting(peers: list[_Peer]) -> bool:
        """Whether a process that has not sent yet sent a batch lately (and so is busy)."""
        recent = time.monotonic() - ACTIVE_S
        return any(p.message is None and p.answered > recent for p in peers)

    def _accept(self, selector: selectors.BaseSelector, peers: list[_Peer]) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            sock.setblocking(False)
            peer = _Peer(sock)
            peers.append(peer)
            selector.register(sock, selectors.EVENT_READ, peer)

    @staticmethod
    def _drop(selector: selectors.BaseSelector, peers: list[_Peer], peer: _Peer) -> None:
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(peer.sock)
        with contextlib.suppress(OSError):
            peer.sock.close()
        if peer in peers:
            peers.remove(peer)

    def _write(self, selector: selectors.BaseSelector, peers: list[_Peer],
               ready: list[_Peer]) -> None:
        parts: list[tuple[_Peer, list[_Pending]]] = []
        for peer in ready:
            message, peer.message = peer.message, None
            try:
                parts.append((peer, [_decode_pending(item) for item in message or []]))
            except (TypeError, ValueError, KeyError, IndexError) as exc:
                logger.error("host log writer: a server process sent a malformed batch (%s); "
                             "disconnected", type(exc).__name__)
                self._drop(selector, peers, peer)
        batch = [p for _, part in parts for p in part]
        if not batch:
            return
        try:
            result = self._log.write_batch(batch)
        except Exception as exc:  # noqa: BLE001 - every failure must reach every caller
            for peer, _ in parts:
                if not peer.answer({"error": type(exc).__name__}):
                    self._drop(selector, peers, peer)
            return
        self.batches += 1
        self.records += len(result[0])
        recent = time.monotonic() - ACTIVE_S
        sending = len({id(p) for p, _ in parts} | {id(p) for p in peers if p.answered > recent})
        for peer, part in parts:
            if not peer.answer({"outcomes": _encode_outcomes(part, result), "peers": sending}):
                self._drop(selector, peers, peer)


def serve_in_thread(log: AccessLog, path: str) -> tuple[HostWriter, Callable[[], None]]:
    """A host writer on a thread of this process (tests, tools); returns it and its stop."""
    writer = HostWriter(log, path)
    stop = threading.Event()
    thread = threading.Thread(target=writer.serve, args=(stop.is_set,), name="host-log-writer",
                              daemon=True)
    thread.start()

    def stopper() -> None:
        stop.set()
        thread.join()

    return writer, stopper
