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

import asyncio
import collections
import contextlib
import json
import logging
import os
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from gateway.accesslog.canonical import UnindexedRecord
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
        p.record.before.decode("utf-8"), p.record.after.decode("utf-8")]
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
        record=None if record is None else UnindexedRecord(
            record[0].encode("utf-8"), record[1].encode("utf-8")),
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


def _answer_of(batch: Sequence[_Pending], reply: Any) -> tuple[BatchResult, int]:
    """The outcomes of `batch` in the host writer's answer, and how many processes it saw
    sending; `HostWriterUnavailable` when it failed the batch or answered wrongly."""
    if not isinstance(reply, dict) or "error" in reply:
        failure = reply.get("error") if isinstance(reply, dict) else None
        raise HostWriterUnavailable(
            f"the host log writer failed the batch: `{failure or 'unexpected answer'}`")
    peers = reply.get("peers")
    try:
        result = _decode_outcomes(batch, reply.get("outcomes"))
    except (TypeError, ValueError) as exc:
        raise HostWriterUnavailable("the host log writer's answer is malformed") from exc
    return result, peers if isinstance(peers, int) else 1


def _frame(message: Any) -> bytes:
    """`message` as JSON behind its length: by orjson, or by `json` for what orjson refuses
    (a string that is not valid unicode, which `json` escapes)."""
    try:
        body = orjson.dumps(message)
    except orjson.JSONEncodeError:
        body = json.dumps(message, separators=(",", ":")).encode("utf-8")
    return _LENGTH.pack(len(body)) + body


def _loads(body: bytes) -> Any:
    """A message's JSON: by orjson, or by `json` for what only `json` reads (escaped lone
    surrogates, as `_frame` may send them); ValueError if neither can."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


class _TooLarge(ValueError):
    """A message announced a length beyond MAX_MESSAGE."""


def _whole_messages(buffer: bytearray) -> Iterator[bytes]:
    """The whole messages at the front of `buffer`, each taken out of it as it is yielded (a
    partial one stays for more bytes); `_TooLarge` on a length beyond MAX_MESSAGE."""
    while len(buffer) >= _LENGTH.size:
        (length,) = _LENGTH.unpack_from(buffer)
        if length > MAX_MESSAGE:
            raise _TooLarge(f"a message of {length} bytes")
        end = _LENGTH.size + length
        if len(buffer) < end:
            return
        body = bytes(buffer[_LENGTH.size:end])
        del buffer[:end]
        yield body


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
            reply = _loads(_read_exactly(sock, length))
        except HostWriterUnavailable:
            self.close()
            raise
        except (OSError, ValueError) as exc:  # refused, reset, timed out, garbled
            self.close()
            raise HostWriterUnavailable(
                f"the host log writer is unavailable: `{type(exc).__name__}`") from exc
        try:
            result, self.peers = _answer_of(batch, reply)
        except HostWriterUnavailable:
            self.close()  # the next batch starts on a fresh connection
            raise
        return result

    def close(self) -> None:
        held, self._sock = self._sock, None
        if held is not None and held[0] == os.getpid():
            with contextlib.suppress(OSError):
                held[1].close()


class FramedProtocol(asyncio.Protocol):
    """An event loop's end of a socket of length-prefixed messages: each whole message's body
    goes to `message`; one announced beyond MAX_MESSAGE calls `too_large`; the end of the
    connection calls `lost` with this protocol (so an earlier connection's end can be told
    from the current one's)."""

    def __init__(self, message: Callable[[bytes], None], too_large: Callable[[], None],
                 lost: Callable[[FramedProtocol], None]) -> None:
        self._message, self._too_large, self._lost = message, too_large, lost
        self._buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            for body in _whole_messages(self._buffer):
                self._message(body)
        except _TooLarge:
            self._too_large()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(self)


class LoopChannel:
    """A server process's event-loop connection to the host's log writer.

    The records that coroutines submit within one turn of the loop leave in one message,
    written by the loop itself; batches are sent one after another without waiting for the
    answers (the host writer answers them in order), and each answer settles its coroutines
    on the loop. No thread hop on the way there or back: a writer thread woken on two busy
    cores had added milliseconds to every record. A lost connection fails every batch still
    unanswered (and those not yet sent); the next record connects anew. An answer missing
    for `REPLY_TIMEOUT_S` breaks the connection, with the same effect.
    """

    def __init__(self, path: str, deliver: Callable[[list[_Pending], BatchResult | Exception],
                                                   None]) -> None:
        self.path = path
        self._deliver = deliver  # on the loop: outcomes to the batch's coroutines
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: asyncio.Transport | None = None
        self._protocol: FramedProtocol | None = None
        self._connecting = False
        self._outgoing: list[_Pending] = []
        self._unanswered: collections.deque[tuple[float, list[_Pending]]] = collections.deque()
        self._flush_at_turn_end = False
        self._watchdog: asyncio.TimerHandle | None = None
        self._closed = False
        self.peers = 1

    def submit(self, pending: _Pending) -> None:
        """Send `pending` (its `waiter` set): at once while other processes send to the
        host writer too, else at the end of this turn of the loop with what else it brings."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or a new loop (a forked child, a test)
            self._reset(loop)
        self._outgoing.append(pending)
        if self.peers > 1 and self._transport is not None and not self._transport.is_closing():
            # other processes are sending: the host writer gathers everyone's records anyway,
            # and waiting for the end of this turn of a busy loop cost each record 1–3 ms
            self._flush()
        elif not self._flush_at_turn_end:  # alone: one message per turn saves CPU here
            self._flush_at_turn_end = True
            loop.call_soon(self._flush)

    def _reset(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start over on `loop`: what the previous loop had sent or queued belongs to
        coroutines of that loop, which is gone (a forked child's, a finished test's)."""
        self._loop = loop
        self._transport = self._protocol = None
        self._connecting = self._flush_at_turn_end = False
        self._outgoing = []
        self._unanswered.clear()
        self._watchdog = None

    def _flush(self) -> None:
        self._flush_at_turn_end = False
        if not self._outgoing:
            return
        if self._transport is None or self._transport.is_closing():
            if not self._connecting:
                self._connecting = True
                assert self._loop is not None
                self._loop.create_task(self._connect())
            return  # sent once connected
        batch = [p for p in self._outgoing if p.waiter is not None and not p.waiter.cancelled()]
        self._outgoing = []
        if not batch:
            return
        try:
            frame = _frame([_encode_pending(p) for p in batch])
        except (TypeError, ValueError) as exc:  # never expected: records are canonical already
            self._deliver(batch, HostWriterUnavailable(f"unsendable batch: `{exc}`"))
            return
        self._unanswered.append((time.monotonic(), batch))
        self._transport.write(frame)
        self._arm_watchdog()

    async def _connect(self) -> None:
        assert self._loop is not None
        loop = self._loop
        try:
            transport, protocol = await loop.create_unix_connection(
                lambda: FramedProtocol(self._answered, self._too_large, self._lost), self.path)
        except OSError as exc:
            self._connecting = False
            waiting, self._outgoing = self._outgoing, []
            if waiting:
                self._deliver(waiting, HostWriterUnavailable(
                    f"the host log writer is unavailable: `{type(exc).__name__}`"))
            return
        self._connecting = False
        if self._loop is not loop or self._closed:
            transport.close()
            return
        self._transport, self._protocol = transport, protocol
        self._flush()

    def _arm_watchdog(self) -> None:
        if self._watchdog is None and self._unanswered and self._loop is not None:
            due = self._unanswered[0][0] + REPLY_TIMEOUT_S - time.monotonic()
            self._watchdog = self._loop.call_later(max(due, 0.0), self._check_overdue)

    def _check_overdue(self) -> None:
        self._watchdog = None
        if self._unanswered and time.monotonic() - self._unanswered[0][0] >= REPLY_TIMEOUT_S:
            self._broken(HostWriterUnavailable("the host log writer did not answer in time"))
            return
        self._arm_watchdog()

    def _answered(self, body: bytes) -> None:
        if not self._unanswered:
            self._broken(HostWriterUnavailable("the host log writer answered a batch never sent"))
            return
        _sent, batch = self._unanswered.popleft()
        try:
            reply = _loads(body)
        except ValueError:
            reply = None
        try:
            result, self.peers = _answer_of(batch, reply)
        except HostWriterUnavailable as exc:
            self._deliver(batch, exc)
            if not (isinstance(reply, dict) and "error" in reply):
                # not an answer the protocol knows: the later ones can no longer be matched
                # to their batches, so they all fail and the next record connects anew
                self._broken(exc)
            return
        self._deliver(batch, result)

    def _broken(self, error: HostWriterUnavailable) -> None:
        """Give up on this connection: every batch not answered fails."""
        transport = self._transport
        self._transport = None
        self._fail_unanswered(error)
        if transport is not None:
            transport.abort()

    def _too_large(self) -> None:
        self._broken(HostWriterUnavailable("the host log writer's answer is too large"))

    def _lost(self, protocol: FramedProtocol) -> None:
        if protocol is not self._protocol:
            return  # an earlier connection's end
        self._transport = self._protocol = None
        self._fail_unanswered(HostWriterUnavailable("the host log writer closed the connection"))

    def _fail_unanswered(self, error: HostWriterUnavailable) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        while self._unanswered:
            _sent, batch = self._unanswered.popleft()
            self._deliver(batch, error)

    def close(self) -> None:
        """Stop: the connection is closed on its loop (at once when called there, as the
        server's shutdown does; from another thread, at the loop's next turn)."""
        self._closed = True
        transport, loop = self._transport, self._loop
        if transport is None or loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            transport.close()
            return
        try:
            loop.call_soon_threadsafe(transport.close)
        except RuntimeError:  # the loop closed meanwhile
            pass


# --- the host writer's side ---------------------------------------------------------------------
class _Peer:
    """One server process's connection: bytes read so far, and its complete message if any."""

    __slots__ = ("sock", "buffer", "messages", "answered")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.answered = 0.0  # monotonic time of its latest answer
        self.buffer = bytearray()
        self.messages: list[list[Any]] = []  # whole batches not yet written, in order

    def feed(self) -> bool:
        """Read what is there; False when the peer is gone or broke the protocol."""
        messages = received(self.sock, self.buffer)
        if messages is None or not all(isinstance(m, list) for m in messages):
            return False
        self.messages += messages
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
        self._listener = listen_private(path)

    def serve(self, stopped: Callable[[], bool]) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ, None)
        peers: list[_Peer] = []
        try:
            while not stopped():
                self._poll(selector, peers, POLL_S)
                ready = [p for p in peers if p.messages]
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
                    ready = [p for p in peers if p.messages]
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
        return any(not p.messages and p.answered > recent for p in peers)

    def _accept(self, selector: selectors.BaseSelector, peers: list[_Peer]) -> None:
        for sock in accepted(self._listener):
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
        # one part per message, in each peer's order: every message gets exactly one answer
        parts: list[tuple[_Peer, list[_Pending]]] = []
        for peer in ready:
            messages, peer.messages = peer.messages, []
            try:
                decoded = [(peer, [_decode_pending(item) for item in message])
                           for message in messages]
            except (TypeError, ValueError, KeyError, IndexError) as exc:
                logger.error("host log writer: a server process sent a malformed batch (%s); "
                             "disconnected", type(exc).__name__)
                self._drop(selector, peers, peer)
                continue
            parts += decoded
        batch = [p for _, part in parts for p in part]
        if not batch:
            for peer, _ in parts:
                if not peer.answer({"outcomes": [], "peers": 1}):
                    self._drop(selector, peers, peer)
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


def listen_private(path: str) -> socket.socket:
    """A non-blocking Unix socket listening at `path` (0600), in a folder only the gateway's
    user can open (0700, else PermissionError): no other local user can connect."""
    folder = os.path.dirname(path) or "."
    if os.stat(folder).st_mode & 0o077:
        raise PermissionError(f"{folder} must be private to the gateway's user (0700)")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(64)
    listener.setblocking(False)
    return listener


def received(sock: socket.socket, buffer: bytearray) -> list[Any] | None:
    """The messages that arrived whole on non-blocking `sock`, parsed (a partial one stays in
    `buffer` for more bytes); None when the peer is gone or sent what is no message (one
    beyond MAX_MESSAGE, or not JSON)."""
    try:
        chunk = sock.recv(1 << 20)
    except BlockingIOError:
        return []
    except OSError:
        return None
    if not chunk:
        return None
    buffer += chunk
    try:
        return [_loads(body) for body in _whole_messages(buffer)]
    except ValueError:  # _TooLarge, or not JSON
        return None


def accepted(listener: socket.socket) -> Iterator[socket.socket]:
    """The connections waiting on a non-blocking `listener`, each made non-blocking."""
    while True:
        try:
            sock, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        sock.setblocking(False)
        yield sock


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
