"""The evaluation corpus and harness, and the RRN precision/recall gate on our analyzer."""

from __future__ import annotations

import importlib.util
import json
import re
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from pseudonymizer.rrn import InvalidNationalId, parse_national_id
from pseudonymizer.scrub import ENTITIES, PersonRecognizer, build_analyzer
from pseudonymizer.scrub.evaluate import (
    CorpusError,
    Found,
    Report,
    Sample,
    Span,
    evaluate,
    load_corpus,
    markdown_table,
    parse_markup,
    presidio_detector,
    to_markup,
)

CORPUS = Path(__file__).resolve().parent / "corpus"

# Notations the issue names; each must be in the corpus at least once.
RRN_NOTATIONS = {"hyphen", "none", "spaced", "space", "fullwidth", "dot", "endash", "masked",
                 "post2020", "child", "glued"}
LOOK_ALIKES = {"order-number", "date", "amount", "tracking-number", "time", "product-code",
               "policy-number", "invalid-rrn", "receipt-number", "birth-date-6"}


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    return load_corpus(CORPUS, entities=ENTITIES)


@pytest.fixture(scope="module")
def build_corpus() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scrub_build_corpus", CORPUS / "build_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ours(samples: list[Sample]) -> Report:
    detect = presidio_detector(
        build_analyzer(),
        ENTITIES,
        per_sample_kwargs=lambda s: {"ad_hoc_recognizers": [PersonRecognizer([s.name])]},
    )
    return evaluate(samples, detect, ENTITIES)


# --- the corpus ---------------------------------------------------------------------------


def test_corpus_is_large_and_covers_every_entity(samples: list[Sample]) -> None:
    assert len(samples) >= 300
    assert sum(s.id.startswith("h") for s in samples) >= 50  # hand-written verbatim
    assert len({s.id.split("-")[0] for s in samples if s.id.startswith("g")}) >= 150  # templates
    kinds = Counter(span.entity for s in samples for span in s.spans)
    assert set(ENTITIES) <= set(kinds), f"entities missing: {set(ENTITIES) - set(kinds)}"
    assert kinds["KR_RRN"] >= 80
    rrn = {span.variant for s in samples for span in s.spans if span.entity == "KR_RRN"}
    assert RRN_NOTATIONS <= rrn, f"notations missing: {RRN_NOTATIONS - rrn}"
    decoys = {d.entity for s in samples for d in s.decoys}
    assert LOOK_ALIKES <= decoys, f"look-alikes missing: {LOOK_ALIKES - decoys}"
    assert all(s.name for s in samples)


def test_markup_round_trips_on_every_line() -> None:
    broken = []
    for file in sorted(CORPUS.glob("*.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            text, spans, decoys = parse_markup(row["text"])
            if to_markup(text, spans, decoys) != row["text"]:
                broken.append(row["id"])
    assert broken == []


def test_labelled_values_are_what_they_claim(samples: list[Sample]) -> None:
    """Synthetic numbers pass the checks a real one would; look-alikes fail them."""
    wrong: list[str] = []
    for s in samples:
        for span in s.spans:
            value = s.text[span.start : span.end]
            if span.entity in {"KR_RRN", "KR_FRN"} and not span.variant.startswith("masked"):
                try:
                    nid = parse_national_id(value)
                except InvalidNationalId:
                    wrong.append(f"{s.id}:{span.entity}")
                    continue
                if (nid.kind == "foreigner") != (span.entity == "KR_FRN"):
                    wrong.append(f"{s.id}:{span.entity}:kind")
            elif span.entity == "CREDIT_CARD" and not _luhn(re.sub(r"\D", "", value)):
                wrong.append(f"{s.id}:CREDIT_CARD")
            elif span.entity == "PERSON" and value.replace(" ", "") not in s.name:
                wrong.append(f"{s.id}:PERSON")
        for decoy in s.decoys:
            digits = re.sub(r"\D", "", s.text[decoy.start : decoy.end])
            if decoy.entity == "invalid-rrn" and _parses(digits):
                wrong.append(f"{s.id}:{decoy.entity}")
            if decoy.entity == "order-number" and _luhn(digits):
                wrong.append(f"{s.id}:{decoy.entity}")
    assert wrong == []


def test_generated_file_matches_its_generator(build_corpus: ModuleType) -> None:
    committed = (CORPUS / "generated.jsonl").read_text(encoding="utf-8").splitlines()
    rebuilt = [json.dumps(row, ensure_ascii=False) for row in build_corpus.build()]
    assert len(build_corpus.load_templates()) >= 150
    assert rebuilt == committed, "run `python tests/scrub/corpus/build_corpus.py` and commit"


# --- the loader ---------------------------------------------------------------------------


def test_parse_markup_turns_markup_into_spans() -> None:
    text, spans, decoys = parse_markup(
        "고객 [[PERSON:김하나]] 주민번호[[KR_RRN#glued:900101-1******]]로, {{date:2024-01-15}} 접수"
    )
    assert text == "고객 김하나 주민번호900101-1******로, 2024-01-15 접수"
    assert spans == [Span(3, 6, "PERSON"), Span(11, 25, "KR_RRN", "glued")]
    assert decoys == [Span(28, 38, "date")]
    assert text[spans[1].start : spans[1].end] == "900101-1******"


@pytest.mark.parametrize(
    ("markup", "message"),
    [
        ("주민번호 [[KR_RRN:900101-1******", r"unbalanced or malformed markup `\[\[`"),
        ("주민번호 [[kr_rrn:900101-1******]]", r"malformed markup `\[\[`"),  # lowercase entity
        ("{{date 2024-01-15}}", r"malformed markup `\{\{`"),  # missing colon
        ("[[NOT_AN_ENTITY:x]]", r"unknown entity `NOT_AN_ENTITY`"),
    ],
)
def test_parse_markup_rejects_malformed_lines(markup: str, message: str) -> None:
    with pytest.raises(CorpusError, match=message):
        parse_markup(markup, entities=ENTITIES)


def test_load_corpus_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "name": "김하나", "text": "ok"}\n{"id": "b"}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"^bad\.jsonl:2: not a corpus line: KeyError$"):
        load_corpus(bad)
    bad.write_text('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"^bad\.jsonl:2: duplicate id `a`$"):
        load_corpus(bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match=r"no `\.jsonl` corpus files"):
        load_corpus(tmp_path / "empty")


# --- the matching rule --------------------------------------------------------------------


def _report(gold: list[Span], found: list[Found]) -> Report:
    sample = Sample("x", "가" * 60, "", tuple(gold))
    return evaluate([sample], lambda _: found, ["KR_RRN", "KR_PHONE"])


@pytest.mark.parametrize(
    ("found", "tp", "fp", "fn"),
    [
        ([Found(10, 24, "KR_RRN")], 1, 0, 0),  # exact
        ([Found(10, 20, "KR_RRN")], 1, 0, 0),  # 10 of 14 characters: ≥ half of the longer
        ([Found(10, 16, "KR_RRN")], 0, 1, 1),  # 6 of 14: too little of the gold span
        ([Found(0, 40, "KR_RRN")], 0, 1, 1),  # swallows the sentence: too little of the pred
        ([Found(10, 24, "KR_PHONE")], 0, 1, 1),  # right span, wrong entity: FN and FP
        ([Found(10, 24, "KR_RRN"), Found(11, 24, "KR_RRN")], 1, 1, 0),  # gold used once
        ([Found(10, 24, "DATE_TIME")], 0, 0, 1),  # entities not evaluated are dropped
    ],
)
def test_matching_rule(found: list[Found], tp: int, fp: int, fn: int) -> None:
    report = _report([Span(10, 24, "KR_RRN")], found)
    total = (sum(s.tp for s in report.scores.values()), sum(s.fp for s in report.scores.values()),
             sum(s.fn for s in report.scores.values()))
    assert total == (tp, fp, fn)


def test_scores_and_table() -> None:
    report = _report(
        [Span(0, 14, "KR_RRN"), Span(20, 34, "KR_RRN")],
        [Found(0, 14, "KR_RRN"), Found(40, 53, "KR_PHONE")],
    )
    rrn = report.scores["KR_RRN"]
    assert (rrn.precision, rrn.recall, round(rrn.f1, 3)) == (1.0, 0.5, 0.667)
    assert report.false_positives[0].variant == "plain-text"
    table = markdown_table({"a": report}, covered={"a": {"KR_RRN"}})
    assert "| `KR_RRN` | 2 | 1.00 | 0.50 | 0.67 |" in table
    assert "| `KR_PHONE` | 0 | — | — | — |" in table


# --- our analyzer on the whole corpus -----------------------------------------------------


def test_our_analyzer_meets_the_rrn_gate(ours: Report) -> None:
    rrn = ours.scores["KR_RRN"]
    misses = [f"{m.sample_id}#{m.variant}" for m in ours.false_negatives if m.entity == "KR_RRN"]
    wrong = [f"{m.sample_id}:{m.variant}" for m in ours.false_positives if m.entity == "KR_RRN"]
    assert rrn.recall >= 0.99, f"KR_RRN recall {rrn.recall:.3f}; missed {misses}"
    assert rrn.precision >= 0.95, f"KR_RRN precision {rrn.precision:.3f}; false hits {wrong}"


def test_our_analyzer_finds_every_entity(ours: Report) -> None:
    # A regression guard well below today's figures (see bench/eval_scrub.py), not a target.
    weak = {e: round(s.f1, 2) for e, s in ours.scores.items() if s.f1 < 0.8}
    assert weak == {}


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _parses(digits: str) -> bool:
    try:
        parse_national_id(digits)
    except InvalidNationalId:
        return False
    return True
