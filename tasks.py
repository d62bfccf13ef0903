#!/usr/bin/env python3
"""The README's two commands, with nothing but Python 3.11 on the machine.

    python3 tasks.py demo   # set up, create keys, seed the embedded demo, serve on 127.0.0.1
    python3 tasks.py test   # set up and run the whole test suite (PostgreSQL too when it answers)
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def setup() -> None:
    if sys.version_info < (3, 11):
        sys.exit("python 3.11 or newer is needed")
    if not PY.exists():
        say(f"creating virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / ".installed"
    spec = (ROOT / "pyproject.toml").stat().st_mtime_ns
    if stamp.exists() and stamp.read_text() == str(spec):
        return
    say("installing the gateway and its dependencies (first run takes a minute)")
    run([str(PY), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([str(PY), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[test]"])
    stamp.write_text(str(spec))


def run(cmd: list[str], env: dict[str, str] | None = None) -> int:
    code = subprocess.call(cmd, cwd=ROOT, env=env)
    if code != 0:
        sys.exit(code)
    return code


def postgres_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1.0):
            pass
    except OSError:
        return False
    probe = "import psycopg; psycopg.connect('postgresql://postgres@127.0.0.1:5432/test').close()"
    return subprocess.call([str(PY), "-c", probe], stderr=subprocess.DEVNULL) == 0


def demo(args: list[str]) -> None:
    setup()
    env = dict(os.environ, GATEWAY_DEMO="true")
    say("starting the demo (Ctrl-C stops it)")
    run([str(BIN / "gateway"), "demo", *args], env=env)


def test(args: list[str]) -> None:
    setup()
    env = dict(os.environ)
    if "GATEWAY_TEST_POSTGRES_URL" not in env:
        if postgres_answers():
            env["GATEWAY_TEST_POSTGRES_URL"] = PG_URL
            say(f"PostgreSQL answers at 127.0.0.1:5432: database tests run there too")
        else:
            say("no PostgreSQL at 127.0.0.1:5432: PostgreSQL tests are skipped")
    else:
        say("PostgreSQL tests use GATEWAY_TEST_POSTGRES_URL")
    # Go is optional: the interop tests (Go's sumdb/note and sumdb/tlog check our checkpoints
    # and proofs) skip themselves without it; Debian: golang-go golang-golang-x-mod-dev
    if shutil.which("go") and Path("/usr/share/gocode/src/golang.org/x/mod").is_dir():
        say("go and golang.org/x/mod found: the Go interop tests run too")
    else:
        say("no go or golang.org/x/mod: the Go interop tests are skipped")
    if not args:  # the whole suite: the types are checked too (mypy --strict, pyproject)
        say("type check: mypy --strict on gateway, pseudonymizer, gateway_verify")
        run([str(PY), "-m", "mypy", "gateway", "pseudonymizer", "verifier/gateway_verify"],
            env=env)
    run([str(PY), "-m", "pytest", *args], env=env)


def main() -> None:
    commands = {"demo": demo, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
