"""Token signatures checked on a spare core: a service in the host's helper process.

One server process runs its requests on one event loop, and that loop is the limit of its
speed: checking a token's signature (ES256, ≈ 70–120 µs of CPU) was the largest single step
on it. While `serve` runs fewer server processes than the machine has cores, the host's log
writer process (`gateway.host_writer`) also answers signature checks on a socket of its own
(`SignatureService`, a thread there: the check itself releases that process's GIL), and each
server process's loop sends its tokens there (`RemoteSignatures`) instead of checking them
itself. A thread of the server process would not do: it waits for the busy loop's GIL after
every check (the interpreter's 5 ms switch interval), which measured slower than no thread.

Only the signature moves. Everything that decides which key and algorithm apply (the issuer,
the pinned algorithm, the key's type) and every claim check stays in `Authenticator`; the
service answers exactly one question: does this signature verify over this input with this
public key under this algorithm (the same `VERIFIERS` the authenticator uses). It holds no
key of its own and no state but the keys it has parsed.

Fail closed, and never weaker: a service that says "does not verify" refuses the token; one
that cannot answer (not started, gone, restarting, too slow, an answer that does not parse)
gets no say, and the server process checks the signature itself, as without the service.
The socket lies in the log writer's private folder (0700): no other local user can reach it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import os
import selectors
import socket
import time
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
)

from gateway.accesslog.remote import (
    FramedProtocol,
    _frame,
    _loads,
    accepted,
    listen_private,
    received,
)
from gateway.auth.algorithms import VERIFIERS, pinned_name, public_key_fits
from gateway.auth.authenticator import signature_bytes, signature_verifies
from gateway.errors import MalformedToken

logger = logging.getLogger("gateway.auth.offload")

ANSWER_TIMEOUT_S = 1.0  # a check unanswered this long is made in the server process instead
RECONNECT_PAUSE_S = 1.0  # after a failed connection, checks stay local this long
SEND_TIMEOUT_S = 2.0  # the service drops a server process that does not read its answers
_KEYS_KEPT = 1024  # public keys remembered (by either side); a policy holds far fewer
_POLL_S = 0.5

def check(alg: str, key: Any, signing_input: str, signature_text: str) -> bool | None:
    """Whether the base64url `signature_text` over `signing_input` verifies with `key` under
    `alg`, by the authenticator's own steps; None where it cannot tell (an algorithm or key
    that does not fit, a signature segment that is not canonical base64url, a key the
    verifier refuses): the server process then decides."""
    if alg not in VERIFIERS or not public_key_fits(key, str(pinned_name(alg))):
        return None
    try:
        return signature_verifies(alg, key, signing_input, signature_bytes(signature_text))
    except (MalformedToken, ValueError, TypeError, jwt.InvalidKeyError):
        return None


# --- the service, in the host's log writer process ----------------------------------------------
class SignatureService:
    """Answers signature checks on a Unix socket: a message is a list of
    `[id, alg, public key (base64 DER), signing input, signature (base64url)]`, its answer
    the list of `[id, verified]` (verified: true, false, or null for a request it could not
    read, which the server process then checks itself)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.checked = 0
        self._keys: dict[str, Any] = {}
        self._listener = listen_private(path)

    def serve(self, stopped: Callable[[], bool]) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ, None)
        try:
            while not stopped():
                for key, _ in selector.select(_POLL_S):
                    if key.data is None:
                        self._accept(selector)
                    elif not self._feed(key.fileobj, key.data):  # type: ignore[arg-type]
                        selector.unregister(key.fileobj)
                        key.fileobj.close()  # type: ignore[union-attr]
        finally:
            for key in list(selector.get_map().values()):
                with contextlib.suppress(OSError):
                    key.fileobj.close()  # type: ignore[union-attr]
            selector.close()
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    def _accept(self, selector: selectors.BaseSelector) -> None:
        for sock in accepted(self._listener):
            selector.register(sock, selectors.EVENT_READ, bytearray())

    def _feed(self, sock: socket.socket, buffer: bytearray) -> bool:
        """Read what arrived and answer every whole message; False when the peer is gone or
        broke the protocol (it is then disconnected: it checks locally until it reconnects)."""
        messages = received(sock, buffer)
        if messages is None or not all(isinstance(m, list) for m in messages):
            return False
        answers = [self._answers(message) for message in messages]
        try:
            sock.settimeout(SEND_TIMEOUT_S)  # a peer that does not read is dropped
            for answer in answers:
                sock.sendall(_frame(answer))
            sock.setblocking(False)
        except OSError:
            return False
        return True

    def _answers(self, message: list[Any]) -> list[list[Any]]:
        return [[item[0] if isinstance(item, list) and item else None, self._verified(item)]
                for item in message]

    def _verified(self, item: Any) -> bool | None:
        try:
            _id, alg, key_text, signing_input, signature_text = item
            if not all(type(v) is str for v in (alg, key_text, signing_input, signature_text)):
                return None
            key = self._keys.get(key_text)
            if key is None:
                key = load_der_public_key(base64.b64decode(key_text, validate=True))
                if len(self._keys) >= _KEYS_KEPT:
                    self._keys.clear()
                self._keys[key_text] = key
            verified = check(alg, key, signing_input, signature_text)
        except (ValueError, TypeError, UnicodeError):
            return None
        if verified is not None:
            self.checked += 1
        return verified


# --- a server process's side --------------------------------------------------------------------
class RemoteSignatures:
    """A server process's event-loop client of the host's `SignatureService`.

    `verify` answers True or False as the service found, or None when the service gave no
    answer (the caller then checks the signature itself). The checks asked for within one turn
    of the loop leave in one message; the answers settle their coroutines on the loop.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: asyncio.Transport | None = None
        self._protocol: FramedProtocol | None = None
        self._connecting = False
        self._retry_at = 0.0
        self._ids = itertools.count()
        self._waiting: dict[int, tuple[float, asyncio.Future[bool | None]]] = {}
        self._outgoing: list[list[Any]] = []
        self._flush_soon = False
        self._watchdog: asyncio.TimerHandle | None = None
        self._keys: dict[int, tuple[Any, str]] = {}  # id(key) → (key, base64 DER)

    async def verify(self, alg: str, key: Any, signing_input: str,
                     signature_text: str) -> bool | None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or a new loop (a forked child, a test)
            self._reset(loop)
        if self._transport is None or self._transport.is_closing():
            self._connect_later(loop)
            return None  # this one is checked locally; later ones once connected
        ident = next(self._ids)
        answer: asyncio.Future[bool | None] = loop.create_future()
        self._waiting[ident] = (time.monotonic(), answer)
        self._outgoing.append([ident, alg, self._der(key), signing_input, signature_text])
        if not self._flush_soon:
            self._flush_soon = True
            loop.call_soon(self._flush)
        if self._watchdog is None:
            self._watchdog = loop.call_later(ANSWER_TIMEOUT_S, self._check_overdue)
        try:
            return await answer
        finally:
            self._waiting.pop(ident, None)

    def _der(self, key: Any) -> str:
        held = self._keys.get(id(key))
        if held is None or held[0] is not key:
            if len(self._keys) >= _KEYS_KEPT:
                self._keys.clear()
            der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
            held = self._keys[id(key)] = (key, base64.b64encode(der).decode("ascii"))
        return held[1]

    def close(self) -> None:
        """Close the connection (on its loop); checks still waiting are made locally."""
        transport, self._transport, self._protocol = self._transport, None, None
        watchdog, self._watchdog = self._watchdog, None
        self._give_up()
        with contextlib.suppress(RuntimeError):  # their loop is closed already
            if watchdog is not None:
                watchdog.cancel()
            if transport is not None:
                transport.close()

    def _reset(self, loop: asyncio.AbstractEventLoop) -> None:
        self.close()  # what the previous loop had open belongs to that loop
        self._loop = loop
        self._connecting = self._flush_soon = False

    def _connect_later(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._connecting or time.monotonic() < self._retry_at:
            return
        self._connecting = True
        loop.create_task(self._connect(loop))

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            transport, protocol = await loop.create_unix_connection(
                lambda: FramedProtocol(self._answered, self._broken, self._lost), self.path)
        except OSError as exc:
            self._retry_at = time.monotonic() + RECONNECT_PAUSE_S
            logger.warning("signature service unavailable (%s): tokens are checked in this "
                           "process", type(exc).__name__)
            return
        finally:
            self._connecting = False
        if self._loop is not loop:
            transport.close()
            return
        self._transport, self._protocol = transport, protocol

    def _flush(self) -> None:
        self._flush_soon = False
        outgoing, self._outgoing = self._outgoing, []
        if not outgoing:
            return
        if self._transport is None or self._transport.is_closing():
            self._give_up()
            return
        self._transport.write(_frame(outgoing))

    def _answered(self, body: bytes) -> None:
        try:
            message = _loads(body)
        except ValueError:
            message = None
        if not isinstance(message, list):
            self._broken()
            return
        for item in message:
            if not (isinstance(item, list) and len(item) == 2 and type(item[0]) is int):
                self._broken()
                return
            waiting = self._waiting.pop(item[0], None)
            if waiting is not None and not waiting[1].done():
                verdict = item[1]
                waiting[1].set_result(verdict if type(verdict) is bool else None)

    def _check_overdue(self) -> None:
        self._watchdog = None
        if not self._waiting:
            return
        oldest = min(sent for sent, _ in self._waiting.values())
        if time.monotonic() - oldest >= ANSWER_TIMEOUT_S:
            logger.warning("signature service did not answer in %.1f s: tokens are checked in "
                           "this process until it reconnects", ANSWER_TIMEOUT_S)
            self._broken()
            return
        assert self._loop is not None
        self._watchdog = self._loop.call_later(
            oldest + ANSWER_TIMEOUT_S - time.monotonic(), self._check_overdue)

    def _broken(self) -> None:
        transport, self._transport, self._protocol = self._transport, None, None
        self._retry_at = time.monotonic() + RECONNECT_PAUSE_S
        self._give_up()
        if transport is not None:
            transport.abort()

    def _lost(self, protocol: FramedProtocol) -> None:
        if protocol is self._protocol:
            self._transport = self._protocol = None
            self._give_up()

    def _give_up(self) -> None:
        """Every check not answered yet gets no answer: its caller checks it locally."""
        waiting, self._waiting = self._waiting, {}
        self._outgoing = []
        for _sent, answer in waiting.values():
            if not answer.done():
                answer.set_result(None)
