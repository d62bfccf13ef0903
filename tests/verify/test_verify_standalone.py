"""The verifier as a regulator installs it: `pip install ./verifier` into a fresh venv, alone."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.verify.conftest import Gateway

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_ONLY = ("fastapi", "presidio_analyzer", "presidio_anonymizer", "sqlalchemy", "gateway",
                "pseudonymizer", "pydantic", "typer")


@pytest.mark.slow
def test_pip_install_verifier_alone_in_a_fresh_venv(
    make_gateway: Callable[..., Gateway], tmp_path: Path
) -> None:
    env_dir = tmp_path / "regulator-venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    # a copy of the folder, as a regulator receives it: the install must not reach the checkout
    copy = tmp_path / "verifier"
    subprocess.run(["cp", "-r", str(ROOT / "verifier"), str(copy)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # the folder's own lock first (hash-checked, what CI pins), then the regulator's command
    pinned = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--require-hashes", "-r",
         str(copy / "requirements.lock")], capture_output=True, text=True, cwd=tmp_path, env=env,
        timeout=600, check=False)
    assert pinned.returncode == 0, pinned.stderr[-2000:]
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(copy)], capture_output=True,
        text=True, cwd=tmp_path, env=env, timeout=600, check=False)
    assert installed.returncode == 0, installed.stderr[-2000:]

    helped = subprocess.run([str(bin_dir / "gateway-verify"), "--help"], capture_output=True,
                            text=True, cwd=tmp_path, env=env, timeout=60, check=False)
    assert helped.returncode == 0, helped.stderr
    assert "usage: gateway-verify" in helped.stdout

    gw = make_gateway(30)
    archive = gw.export("small.tar.gz")
    done = subprocess.run(
        [str(bin_dir / "gateway-verify"), str(archive), "--key", gw.signer.verifier_key()],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "OK: every check holds" in done.stdout

    probe = ("import importlib.util, sys; "
             "print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m)))")
    found = subprocess.run([str(python), "-c", probe, *GATEWAY_ONLY], capture_output=True,
                           text=True, cwd=tmp_path, env=env, timeout=60, check=True)
    assert found.stdout.split() == [], f"importable in the regulator's venv: {found.stdout}"
    where = "import gateway_verify; print(gateway_verify.__file__)"
    origin = subprocess.run([str(python), "-c", where], capture_output=True, text=True,
                            cwd=tmp_path, env=env, timeout=60, check=True)
    assert str(env_dir) in origin.stdout  # the installed copy, not the checkout's


def test_verifier_distribution_depends_on_cryptography_only() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "verifier" / "pyproject.toml").read_text())["project"]
    assert [d.split(">")[0].split("=")[0] for d in project["dependencies"]] == ["cryptography"]
    assert project["scripts"] == {"gateway-verify": "gateway_verify.cli:main"}
