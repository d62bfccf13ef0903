"""Policy fixtures: real system keys generated per session, copies of the policy set to break."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.policy import Policy, PolicyLoadError, Problem, load_policy
from gateway.policy.snapshot import write_throwaway_keys

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "policies"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def public_keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh key per system of the shipped affiliates.yaml, of the algorithm pinned there."""
    root = tmp_path_factory.mktemp("public-keys")
    write_throwaway_keys(SHIPPED, root)
    return root


@pytest.fixture(scope="session")
def shipped_dir() -> Path:
    return SHIPPED


@pytest.fixture(scope="session")
def shipped_policy(public_keys_dir: Path) -> Policy:
    return load_policy(SHIPPED, public_keys_dir)


@dataclass
class PolicySet:
    """A writable copy of the shipped policy set and its own copy of the public keys."""

    dir: Path
    keys: Path

    def path(self, name: str) -> Path:
        return self.dir / name

    def edit(self, name: str, old: str, new: str) -> int:
        """Replace the one occurrence of `old`; returns the 1-based line where it started."""
        text = self.path(name).read_text("utf-8")
        assert text.count(old) == 1, f"`{old}` must occur once in {name}"
        self.path(name).write_text(text.replace(old, new), "utf-8")
        return text[: text.index(old)].count("\n") + 1

    def overlay(self, case: str) -> None:
        """Replace files with those of `fixtures/<case>/` (each may be a minimal file)."""
        for source in sorted((FIXTURES / case).glob("*.yaml")):
            shutil.copyfile(source, self.path(source.name))

    def load(self) -> Policy:
        return load_policy(self.dir, self.keys)

    def problems(self) -> list[Problem]:
        with pytest.raises(PolicyLoadError) as info:
            self.load()
        return info.value.problems


@pytest.fixture
def policy_set(tmp_path: Path, public_keys_dir: Path) -> PolicySet:
    shutil.copytree(SHIPPED, tmp_path / "policies")
    shutil.copytree(public_keys_dir, tmp_path / "keys")
    return PolicySet(tmp_path / "policies", tmp_path / "keys")


EXPECT = re.compile(r"#\s*expect:\s*(.+?)\s*$")


def expectations(case: str) -> list[tuple[str, int, str]]:
    """(file name, line, message fragment) for each `# expect: ...` comment in a fixture case."""
    found = []
    for source in sorted((FIXTURES / case).glob("*.yaml")):
        for number, line in enumerate(source.read_text("utf-8").splitlines(), start=1):
            match = EXPECT.search(line)
            if match:
                found.append((source.name, number, match.group(1)))
    return found


@pytest.fixture
def expected() -> Callable[[str], list[tuple[str, int, str]]]:
    return expectations
