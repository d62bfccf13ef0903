"""The lock files agree with pyproject: each declared requirement pinned in range, with hashes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
VERIFIER_LOCK = ROOT / "verifier" / "requirements.lock"
REFRESH = "run `python3 tasks.py lock` and commit the lock files"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}\b")


def read_lock(path: Path) -> dict[NormalizedName, tuple[Version, int]]:
    """Name → (pinned version, number of sha256 hashes), from pip-compile's output."""
    pins: dict[NormalizedName, tuple[Version, int]] = {}
    current: NormalizedName | None = None
    for line in path.read_text().splitlines():
        pinned = PIN.match(line)
        if pinned:
            current = canonicalize_name(pinned[1])
            assert current not in pins, f"`{current}` pinned twice in {path.name}"
            pins[current] = (Version(pinned[2]), len(HASH.findall(line)))
        elif current is not None and line.startswith(" "):
            version, hashes = pins[current]
            pins[current] = (version, hashes + len(HASH.findall(line)))
        elif line.strip() and not line.startswith("#"):
            current = None
    return pins


def declared(pyproject: Path, extras: tuple[str, ...] = ()) -> list[Requirement]:
    """Runtime requirements, the named extras and the build backend, as pyproject states them."""
    data = tomllib.loads(pyproject.read_text())
    project = data["project"]
    texts = [*project["dependencies"], *data["build-system"]["requires"]]
    for extra in extras:
        texts += project["optional-dependencies"][extra]
    return [Requirement(text) for text in texts]


def project_requirements() -> list[Requirement]:
    return declared(ROOT / "pyproject.toml", ("test",))


def check_pinned(req: Requirement, pins: dict[NormalizedName, tuple[Version, int]],
                 lock: Path) -> None:
    if req.marker is not None and not req.marker.evaluate({"extra": "test"}):
        return  # not for this machine (Python 3.11, Linux x86_64): the lock need not hold it
    name = canonicalize_name(req.name)
    where = f"{lock.relative_to(ROOT)}"
    assert name in pins, f"`{req}` is declared but not pinned in {where}: {REFRESH}"
    version, hashes = pins[name]
    assert req.specifier.contains(version, prereleases=True), (
        f"`{name}=={version}` in {where} is outside the declared `{req}`: {REFRESH}")
    assert hashes >= 1, f"`{name}` has no --hash in {where}: {REFRESH}"


@pytest.mark.parametrize("req", project_requirements(), ids=str)
def test_every_declared_requirement_is_pinned_in_range_with_a_hash(req: Requirement) -> None:
    check_pinned(req, read_lock(LOCK), LOCK)


def test_every_verifier_requirement_is_pinned_in_range_with_a_hash() -> None:
    pins = read_lock(VERIFIER_LOCK)
    for req in declared(ROOT / "verifier" / "pyproject.toml"):
        if canonicalize_name(req.name) == "setuptools":
            continue  # the regulator's `pip install ./verifier` builds in pip's own isolated env
        check_pinned(req, pins, VERIFIER_LOCK)


def test_every_pin_carries_a_hash() -> None:
    # pip --require-hashes refuses a lock with one unhashed line; say which one, and say it here
    for lock in (LOCK, VERIFIER_LOCK):
        pins = read_lock(lock)
        assert pins, f"{lock.name} pins nothing: {REFRESH}"
        unhashed = sorted(name for name, (_, hashes) in pins.items() if hashes == 0)
        assert unhashed == [], f"pinned without --hash in {lock.name}: {unhashed}: {REFRESH}"


def test_the_verifier_lock_pins_what_the_gateway_lock_pins() -> None:
    # one cryptography for the gateway's `log verify` and the regulator's verifier
    gateway = read_lock(LOCK)
    differ = sorted(f"{name}: {version} vs {gateway[name][0] if name in gateway else 'absent'}"
                    for name, (version, _) in read_lock(VERIFIER_LOCK).items()
                    if name not in gateway or gateway[name][0] != version)
    assert differ == [], f"the two lock files pin differently: {differ}: {REFRESH}"


def test_the_locks_name_no_index() -> None:
    # pip's own configuration picks the index wherever the lock is installed; a path or host
    # written into the lock would tie it to one machine
    for lock in (LOCK, VERIFIER_LOCK):
        options = [line.split()[0] for line in lock.read_text().splitlines()
                   if line.startswith("-")]
        assert options == [], f"{lock.name} carries pip options {options}: {REFRESH}"


def test_a_range_the_lock_leaves_is_caught() -> None:
    # the check itself: a pyproject raised past the pinned version fails with the command to run
    pins = read_lock(LOCK)
    version, _ = pins[canonicalize_name("fastapi")]
    raised = Requirement(f"fastapi>{version}")
    with pytest.raises(AssertionError, match=r"outside the declared .*python3 tasks\.py lock"):
        check_pinned(raised, pins, LOCK)
    with pytest.raises(AssertionError, match=r"not pinned in requirements\.lock: run"):
        check_pinned(Requirement("a-package-nobody-declared>=1"), pins, LOCK)
