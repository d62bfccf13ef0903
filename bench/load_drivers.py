"""Load drivers for bench_gateway.py: wrk with bench/each_request_once.lua, or a Python fallback.

Both read the same requests file (one request per line: `PATH<TAB>TOKEN<TAB>JSON BODY`), hand
each request out once (or cycle through them), use keep-alive HTTP/1.1 connections, and return
the same `Outcome`: completed requests, those with the expected status (and body substring),
p50/p99 latency, every status seen, and how many requests were wanted after the file ran out.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

LUA_SCRIPT = Path(__file__).resolve().parent / "each_request_once.lua"
RESULT_PREFIX = "BENCH-RESULT "
INSTALL_HINT = "apt-get install wrk"


@dataclass(frozen=True)
class Outcome:
    """What one timed run of one scenario measured."""

    requests: int  # completed responses, whatever their status
    seconds: float
    ok: int  # responses with the expected status (and body substring)
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int] = field(default_factory=dict)
    socket_errors: int = 0  # connect, read, write errors and timeouts
    exhausted: int = 0  # requests wanted after the pre-built ones ran out (sentinels sent)
    sample: str = ""  # the first answer that was not ok: status and start of the body

    @property
    def ok_per_s(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def not_ok(self) -> int:
        return self.requests - self.ok + self.socket_errors


def write_requests(path: Path, lines: list[tuple[str, str, str]]) -> None:
    """Write (path, token or "", JSON body) triples, one request per line."""
    with path.open("w", encoding="utf-8") as out:
        for target, token, body in lines:
            if "\t" in body or "\n" in body:
                raise ValueError("a request body must be one line without tabs")
            out.write(f"{target}\t{token}\t{body}\n")


def wrk_path() -> str | None:
    return shutil.which("wrk")


def wrk_version(wrk: str) -> str:
    text = subprocess.run([wrk, "--version"], capture_output=True, text=True).stdout
    return text.split(" [")[0].strip() or "wrk"


def run_wrk(wrk: str, url: str, requests_file: Path, *, connections: int, duration: float,
            cycle: bool, expected_status: int = 200, expected_body: str = "") -> Outcome:
    """One wrk run: one thread, `connections` connections, the Lua script's JSON line parsed."""
    command = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "30s",
               "-s", str(LUA_SCRIPT), url, "--", str(requests_file),
               "cycle" if cycle else "once", str(expected_status), expected_body]
    done = subprocess.run(command, capture_output=True, encoding="utf-8", errors="replace")
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith(RESULT_PREFIX)), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[-2000:]}")
    raw = json.loads(line[len(RESULT_PREFIX):])
    errors = raw["errors"]
    return Outcome(
        requests=raw["requests"], seconds=raw["duration_us"] / 1e6, ok=raw["ok"],
        p50_ms=raw["p50_us"] / 1000, p99_ms=raw["p99_us"] / 1000,
        statuses={int(k): v for k, v in raw["statuses"].items()},
        socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        exhausted=raw["exhausted"], sample=raw.get("sample", ""),
    )


def _raw_request(host: str, line: str) -> bytes:
    target, token, body = line.rstrip("\n").split("\t", 2)
    payload = body.encode()
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (f"POST {target} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"{auth}Content-Length: {len(payload)}\r\n\r\n")
    return head.encode() + payload


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("server closed the connection")
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return int(status_line.split()[1]), await reader.readexactly(length)


async def _drive(host: str, port: int, requests: list[bytes], *, connections: int,
                 duration: float, cycle: bool, expected_status: int,
                 expected_body: bytes) -> Outcome:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    ok = errors = exhausted = cursor = 0
    sample = ""
    sentinel = f"GET /__bench_out_of_requests__ HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    started = time.perf_counter()
    deadline = started + duration

    async def client() -> None:
        nonlocal cursor, ok, errors, exhausted, sample
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            errors += 1
            return
        try:
            while time.perf_counter() < deadline:
                if cursor >= len(requests) and cycle:
                    cursor = 0
                if cursor < len(requests):
                    request, cursor = requests[cursor], cursor + 1
                else:
                    request, exhausted = sentinel, exhausted + 1
                t0 = time.perf_counter()
                writer.write(request)
                status, body = await _read_response(reader)
                latencies.append(time.perf_counter() - t0)
                statuses[status] += 1
                if status == expected_status and expected_body in body:
                    ok += 1
                elif not sample:
                    sample = f"{status} {body[:200].decode(errors='replace')}"
        except (OSError, ConnectionError, asyncio.IncompleteReadError):
            errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    seconds = time.perf_counter() - started
    latencies.sort()
    n = len(latencies)
    return Outcome(
        requests=n, seconds=seconds, ok=ok,
        p50_ms=latencies[n // 2] * 1000 if n else 0.0,
        p99_ms=latencies[max(0, int(n * 0.99) - 1)] * 1000 if n else 0.0,
        statuses=dict(statuses), socket_errors=errors, exhausted=exhausted, sample=sample,
    )


def run_python(host: str, port: int, requests_file: Path, *, connections: int, duration: float,
               cycle: bool, expected_status: int = 200, expected_body: str = "") -> Outcome:
    """The fallback when wrk is missing: asyncio keep-alive clients in this process.

    It shares this process's one core with its own bookkeeping, so it saturates far earlier
    than wrk; its figures are not comparable with wrk's.
    """
    with requests_file.open(encoding="utf-8") as lines:
        requests = [_raw_request(host, line) for line in lines]
    return asyncio.run(_drive(host, port, requests, connections=connections, duration=duration,
                              cycle=cycle, expected_status=expected_status,
                              expected_body=expected_body.encode()))
