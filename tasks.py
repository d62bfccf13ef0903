#!/usr/bin/env python3
"""The README's two commands, with nothing but Python 3.11 on the machine.

    python3 tasks.py demo   # set up, create keys, seed the embedded demo, serve on 127.0.0.1
    python3 tasks.py test   # set up and run the whole test suite (PostgreSQL too when it answers)
    python3 tasks.py lock   # refresh the lock files after a change of pyproject.toml

Set-up installs every dependency, direct and transitive, from `requirements.lock`: exact
versions, each checked against its sha256 (`pip install --require-hashes`), then the project
itself in editable mode without dependencies. `pyproject.toml` keeps its version ranges; the
lock is the one set of versions inside them that CI and every machine install. The lock is for
Python 3.11 on Linux x86_64, the machine the project runs on.

`lock` compiles both lock files with pip-tools (pip-compile, installed at development time into
its own venv, `.venv/lock-tools`, so it cannot move the project's own pins) through the package
index pip is configured with: `requirements.lock` for the gateway with its `test` extras and
build backend, and `verifier/requirements.lock` for the regulator's verifier (cryptography).
Pins still inside the ranges are kept; `python3 tasks.py lock --upgrade` moves every pin to the
newest release, `--upgrade-package NAME` moves one.
"""

from __future__ import annotations

import hashlib
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
LOCK = ROOT / "requirements.lock"
VERIFIER_LOCK = ROOT / "verifier" / "requirements.lock"
# the lock command's own tools, pinned and kept apart from the project's venv
LOCK_TOOLS = VENV / "lock-tools"
LOCK_TOOLS_PINS = ["pip==26.3", "pip-tools==7.6.2"]


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def setup() -> None:
    if sys.version_info < (3, 11):
        sys.exit("python 3.11 or newer is needed")
    if not LOCK.exists():
        sys.exit(f"no lock file `{LOCK.name}`: run `python3 tasks.py lock`")
    if not PY.exists():
        say(f"creating virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / ".installed"
    # the stamp covers what the install reads: a changed lock or pyproject installs again
    spec = hashlib.sha256(LOCK.read_bytes() + (ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == spec:
        return
    say(f"installing the dependencies from {LOCK.name}, hash-checked (first run takes a minute)")
    # pip stays the one this Python ships (ensurepip): an upgrade would fetch an unpinned release
    run([str(PY), "-m", "pip", "install", "--quiet", "--require-hashes", "-r", str(LOCK)])
    say("installing the gateway itself (editable, its dependencies are the locked ones above)")
    # the build backend (setuptools) comes from the lock too: no isolated build env to fill
    run([str(PY), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "-e", str(ROOT)])
    stamp.write_text(spec)


def lock(args: list[str]) -> None:
    """Refresh both lock files from the pyproject ranges (development time, needs the index)."""
    compile_bin = LOCK_TOOLS / BIN.name / "pip-compile"
    if not compile_bin.exists():
        say(f"installing pip-tools into {LOCK_TOOLS}")
        venv.EnvBuilder(with_pip=True, clear=True).create(LOCK_TOOLS)
        run([str(LOCK_TOOLS / BIN.name / "python"), "-m", "pip", "install", "--quiet",
             *LOCK_TOOLS_PINS])
    # the header names this command; index and find-links options stay out of the files, so
    # pip reads them from its own configuration wherever the lock is installed
    env = dict(os.environ, CUSTOM_COMPILE_COMMAND="python3 tasks.py lock")
    common = ["--generate-hashes", "--allow-unsafe", "--strip-extras", "--no-emit-index-url",
              "--no-emit-find-links", "--quiet", *args]
    say(f"compiling {LOCK.name}: pyproject.toml with the test extras and the build backend")
    run([str(compile_bin), "pyproject.toml", "--extra", "test", "--build-deps-for", "editable",
         *common, "-o", str(LOCK.relative_to(ROOT))], env=env)
    say(f"compiling verifier/{VERIFIER_LOCK.name}: the verifier alone, pinned as in {LOCK.name}")
    run([str(compile_bin), "verifier/pyproject.toml", "-c", str(LOCK.relative_to(ROOT)),
         *common, "-o", str(VERIFIER_LOCK.relative_to(ROOT))], env=env)
    say("done: commit the lock files; the next `tasks.py test` or `demo` installs from them")


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
    commands = {"demo": demo, "test": test, "lock": lock}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
