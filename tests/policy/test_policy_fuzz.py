"""Fuzzing the policy loader: a broken policy set is a list of coded problems, never a crash.

Every example starts from the shipped policies/*.yaml and breaks one file: a value anywhere
replaced by one of another type (huge numbers, dates, long or odd unicode text, a synthetic
national id number in any notation), an entry dropped or added; or YAML itself abused —
anchors and aliases (self-referring, "billion laughs"), merge keys, tags (`!!python/object`,
`!!int` on a key, impossible timestamps), several documents, deep nesting, tabs, control
characters, a byte-order mark, cut or flipped bytes. `load_policy` must return a policy or
raise `PolicyLoadError` whose problems each carry a stable code (`P0xx`…), one line in
English and Korean, and no national id number; and it must answer within seconds.

Bounded for CI by tests/fuzzing.py; run longer with `--hypothesis-profile=long`.
"""

from __future__ import annotations

import random
import re
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from gateway.policy import Policy, PolicyLoadError, Problem, load_policy
from gateway.policy.loader import FILES
from gateway.policy.yamlmarks import MAX_VALUES
from pseudonymizer.rrn import contains_national_id, generate_rrn
from tests.fuzzing import fuzz, paths
from tests.policy.conftest import SHIPPED

RRN = generate_rrn(random.Random(11), date(1979, 5, 17), 1)
SPELLINGS = (RRN, f"{RRN[:6]}-{RRN[6:]}", f"{RRN[:6]} - {RRN[6:]}", f"{RRN[:7]}******",
             RRN.translate(str.maketrans("0123456789", "０１２３４５６７８９")))
ORIGINAL = {name: (SHIPPED / name).read_text("utf-8") for name in FILES}
PARSED = {name: yaml.safe_load(text) for name, text in ORIGINAL.items()}
CODE = re.compile(r"P[0-9]{3}")
SECONDS = 10.0  # far above a normal load (~0.15 s): what "never hangs" means here

# YAML that a careless or hostile edit could leave, spliced in at a line boundary
LAUGHS = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10 if i else ['x'] * 10)}]\n"
                 for i in range(9))
ODDITIES = (
    "loop: &loop [*loop]\n", "loopmap: &m {a: *m}\n", LAUGHS,
    "base: &b {id: x}\nmerged: {<<: *b}\n", "<<: {a: 1}\n",
    "bad: !!python/object:os.system echo\n", "bad: !!python/name:os.system\n",
    "!!int key: 1\n", "2026-13-45: 1\n", "when: 2026-13-45\n", "when: !!timestamp x\n",
    "bin: !!binary '%%%'\n", "n: !!int 0x_\n", "n: !!float nan\n", "set: !!set {a, b}\n",
    "omap: !!omap [a: 1, a: 2]\n", f"custom: !{RRN} x\n", f"{RRN}: x\n", f"*{RRN}\n",
    "---\nsecond: document\n", "%YAML 1.1\n---\n", "...\n", "\ufeffbom: 1\n",
    "\tindented: with a tab\n", "ctrl: \"\\x00\\x1b[2J\"\n", "key: [unclosed\n",
    "deep: " + "[" * 3000 + "]" * 3000 + "\n", "big: " + "9" * 5000 + "\n",
    "long: " + "가" * 20_000 + "\n", "? [complex, key]\n: 1\n", "? {a: 1}\n: 2\n",
    "dup: 1\ndup: 2\n", f"note: {RRN[:6]}-{RRN[6:]}\n",
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats()
    | st.sampled_from([2**63, 10**100, -1, 0, 1e308, date(2026, 2, 28)])
    | st.text(max_size=16) | st.sampled_from([*SPELLINGS, "", " ", "\u202e", "~", "null"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.text(max_size=8) | st.sampled_from(SPELLINGS), inner, max_size=3),
    max_leaves=6,
)


def replaced(value: Any, at: tuple[Any, ...], new: Any, how: str) -> Any:
    if not at:
        return new
    head, rest = at[0], at[1:]
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    if rest:
        copy[head] = replaced(copy[head], rest, new, how)
    elif how == "drop":
        del copy[head]
    elif how == "add" and isinstance(copy, dict):
        copy[f"{head}_extra"] = new
    elif how == "add":
        copy.append(new)
    else:
        copy[head] = new
    return copy


@pytest.fixture(scope="module")
def policy_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("policy-fuzz")


def load(folder: Path, keys: Path, name: str, content: bytes) -> Policy | list[Problem]:
    """Write the shipped set with `name` replaced by `content`, load it, check the answer."""
    for file in FILES:
        (folder / file).write_bytes(content if file == name else ORIGINAL[file].encode())
    started = time.monotonic()
    try:
        result: Policy | list[Problem] = load_policy(folder, keys)
    except PolicyLoadError as exc:
        assert exc.problems, "refused without a problem"
        assert not any(s in str(exc) for s in SPELLINGS) and not contains_national_id(str(exc))
        result = exc.problems
    assert time.monotonic() - started < SECONDS
    if isinstance(result, list):
        for problem in result:
            assert CODE.fullmatch(problem.code), problem
            assert problem.is_error and problem.message and problem.message_ko
            for text in (problem.message, problem.message_ko):
                assert "\n" not in text, text
                assert not any(s in text for s in SPELLINGS), problem.code
                assert not contains_national_id(text), problem.code
    return result


@fuzz(90)
@given(data=st.data())
def test_any_value_anywhere_is_a_coded_problem(policy_copy: Path, public_keys_dir: Path,
                                               data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(FILES))
    doc = PARSED[name]
    at = data.draw(st.sampled_from(paths(doc)))
    how = data.draw(st.sampled_from(["replace", "replace", "drop", "add"]))
    changed = replaced(doc, at, data.draw(json_values), how)
    text = yaml.safe_dump(changed, allow_unicode=True, sort_keys=False)
    load(policy_copy, public_keys_dir, name, text.encode("utf-8"))


@fuzz(70)
@given(data=st.data())
def test_yaml_oddities_are_coded_problems(policy_copy: Path, public_keys_dir: Path,
                                          data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(FILES))
    lines = ORIGINAL[name].splitlines(keepends=True)
    how = data.draw(st.sampled_from(["splice", "splice", "whole", "cut", "flip"]))
    raw = "".join(lines).encode("utf-8")
    if how == "splice":
        at = data.draw(st.integers(0, len(lines)))
        oddity = data.draw(st.sampled_from(ODDITIES))
        raw = "".join([*lines[:at], oddity, *lines[at:]]).encode("utf-8")
    elif how == "whole":
        raw = data.draw(st.sampled_from(ODDITIES)).encode("utf-8")
    elif how == "cut":
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    else:
        flipped = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 3))):
            flipped[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
        raw = bytes(flipped)
    load(policy_copy, public_keys_dir, name, raw)


def test_the_unbroken_set_loads(policy_copy: Path, public_keys_dir: Path) -> None:
    name = FILES[0]
    assert isinstance(load(policy_copy, public_keys_dir, name, ORIGINAL[name].encode()), Policy)


# --- what the fuzzers found (each crashed or hung the loader before) -------------------------
@pytest.mark.parametrize(("oddity", "fragment"), [
    ("loop: &loop [*loop]\n", "an alias refers to the entry that holds it"),  # RecursionError
    (LAUGHS, f"expands to more than {MAX_VALUES:,} values"),  # ran for minutes
    ("2026-13-45: 1\n", "unknown field `2026-13-45`"),  # a date-like key: ValueError
    ("when: 2026-13-45\n", "not a valid `timestamp`"),  # ValueError
    ("!!int key: 1\n", "unknown field `key`"),  # ValueError from int("key")
    ("<<: {a: 1}\n", "unknown field `<<`"),  # a merge key: ConstructorError
    # seconds in PyYAML's scanner, then RecursionError
    ("deep: " + "[" * 3000 + "]" * 3000 + "\n", "nested more than 64 deep"),
    # not a crash: a key holding a line break made a problem of two lines
    ('"a\\nOK": 1\n', "unknown field `a\\u000aOK`"),
], ids=["self-alias", "billion-laughs", "date-key", "bad-timestamp", "tagged-key", "merge-key",
        "deep-nesting", "line-break-in-a-key"])
def test_yaml_that_crashed_the_loader_is_a_problem(policy_copy: Path, public_keys_dir: Path,
                                                  oddity: str, fragment: str) -> None:
    problems = load(policy_copy, public_keys_dir, "purposes.yaml",
                    (oddity + ORIGINAL["purposes.yaml"]).encode())
    assert isinstance(problems, list)
    assert any(fragment in p.message for p in problems), [p.message for p in problems]


@pytest.mark.parametrize("written", [RRN, f"[{RRN[:6]}-{RRN[6:]}]"],
                         ids=["digits", "hyphenated-in-a-list"])  # ids: never the number
def test_a_national_id_written_as_a_name_is_not_repeated(policy_copy: Path, public_keys_dir: Path,
                                                         written: str) -> None:
    """Found by the fuzzer: `unknown view kind` repeated what was written, a number too."""
    text = ORIGINAL["attributes.yaml"].replace("kind: exact", f"kind: {written}", 1)
    assert text != ORIGINAL["attributes.yaml"]
    problems = load(policy_copy, public_keys_dir, "attributes.yaml", text.encode())
    assert isinstance(problems, list)
    assert any("unknown view kind `(a national id number)`" in p.message for p in problems)
    assert any("(주민등록번호)" in p.message_ko for p in problems)
