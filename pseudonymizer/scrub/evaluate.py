"""Evaluate a PII analyzer on a labelled memo corpus: per-entity TP/FP/FN, precision, recall.

Corpus format (one JSON object per line, see `tests/scrub/corpus/README.md`):
`{"id": "...", "name": "<customer name>", "text": "<markup>"}` where the markup
`[[ENTITY:value]]` or `[[ENTITY#variant:value]]` labels a span and `{{kind:value}}` marks a
look-alike that must not be flagged (kept as plain text, recorded for error attribution).

Span matching (the rule the figures depend on): a prediction matches a gold span when both
name the same entity and their overlap covers at least half of the LONGER of the two spans
(so an exact match always counts, a prediction that swallows a whole sentence never does,
and `010-1234-5678` against a gold `010-1234-5678` plus a trailing particle still does). Each
gold span and each prediction is used at most once, best overlap first. Unmatched gold spans
are false negatives, unmatched predictions false positives. A prediction with the wrong
entity over a gold span is therefore both an FN (gold entity) and an FP (predicted entity).
Precision = TP/(TP+FP), recall = TP/(TP+FN), F1 their harmonic mean (CoNLL-style, relaxed
to partial overlap as in the MUC "partial" scheme).

Nothing here ever prints a span's text: misses are reported by line id, entity and variant.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pseudonymizer.scrub.errors import ScrubError

__all__ = [
    "CorpusError",
    "Detector",
    "EntityScore",
    "Found",
    "Report",
    "Sample",
    "Span",
    "evaluate",
    "load_corpus",
    "markdown_table",
    "parse_markup",
    "presidio_detector",
    "to_markup",
    "variant_table",
]

MIN_OVERLAP = 0.5

_TOKEN = re.compile(
    r"\[\[(?P<entity>[A-Z][A-Z0-9_]*)(?:#(?P<variant>[a-z0-9-]+))?:(?P<value>.+?)\]\]"
    r"|\{\{(?P<decoy>[a-z0-9-]+):(?P<dvalue>.+?)\}\}"
)


class CorpusError(ScrubError, ValueError):
    """A corpus line is malformed (bad JSON, unbalanced markup, unknown entity)."""


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    entity: str  # entity name for PII, look-alike kind for decoys
    variant: str = ""


@dataclass(frozen=True, slots=True)
class Sample:
    id: str
    text: str
    name: str
    spans: tuple[Span, ...]
    decoys: tuple[Span, ...] = ()


@dataclass(frozen=True, slots=True)
class Found:
    start: int
    end: int
    entity: str
    score: float = 1.0


Detector = Callable[[Sample], Sequence[Found]]


def parse_markup(
    markup: str, *, entities: Iterable[str] | None = None
) -> tuple[str, list[Span], list[Span]]:
    """Plain text, labelled spans and look-alike spans of one marked-up line."""
    allowed = frozenset(entities) if entities is not None else None
    out: list[str] = []
    spans: list[Span] = []
    decoys: list[Span] = []
    pos = length = 0
    for m in _TOKEN.finditer(markup):
        plain = markup[pos : m.start()]
        out.append(plain)
        length += len(plain)
        value = m.group("value") if m.group("entity") else m.group("dvalue")
        if m.group("entity"):
            entity = m.group("entity")
            if allowed is not None and entity not in allowed:
                raise CorpusError(f"unknown entity `{entity}`")
            spans.append(Span(length, length + len(value), entity, m.group("variant") or ""))
        else:
            decoys.append(Span(length, length + len(value), m.group("decoy")))
        out.append(value)
        length += len(value)
        pos = m.end()
    out.append(markup[pos:])
    text = "".join(out)
    for marker in ("[[", "]]", "{{", "}}"):
        if marker in text:
            raise CorpusError(f"unbalanced or malformed markup `{marker}`")
    return text, spans, decoys


def to_markup(text: str, spans: Iterable[Span], decoys: Iterable[Span] = ()) -> str:
    """The inverse of `parse_markup` (spans must not overlap)."""
    marks = sorted([(s, False) for s in spans] + [(d, True) for d in decoys],
                   key=lambda m: m[0].start)
    out: list[str] = []
    pos = 0
    for span, is_decoy in marks:
        if span.start < pos:
            raise CorpusError("overlapping spans cannot be written as markup")
        out.append(text[pos : span.start])
        value = text[span.start : span.end]
        if is_decoy:
            out.append("{{" + f"{span.entity}:{value}" + "}}")
        else:
            tag = span.entity + (f"#{span.variant}" if span.variant else "")
            out.append(f"[[{tag}:{value}]]")
        pos = span.end
    out.append(text[pos:])
    return "".join(out)


def load_corpus(path: Path, *, entities: Iterable[str] | None = None) -> list[Sample]:
    """Samples from one `.jsonl` file or every `*.jsonl` file of a folder (sorted by name)."""
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    if not files:
        raise CorpusError(f"no `.jsonl` corpus files under `{path}`")
    allowed = tuple(entities) if entities is not None else None
    samples: list[Sample] = []
    seen: set[str] = set()
    for file in files:
        for lineno, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{file.name}:{lineno}"
            try:
                row = json.loads(line)
                text, spans, decoys = parse_markup(row["text"], entities=allowed)
                sample = Sample(str(row["id"]), text, str(row.get("name", "")),
                                tuple(spans), tuple(decoys))
            except CorpusError as exc:
                raise CorpusError(f"{where}: {exc}") from None
            except (ValueError, KeyError, TypeError) as exc:
                raise CorpusError(f"{where}: not a corpus line: {type(exc).__name__}") from None
            if sample.id in seen:
                raise CorpusError(f"{where}: duplicate id `{sample.id}`")
            seen.add(sample.id)
            samples.append(sample)
    return samples


@dataclass(slots=True)
class EntityScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def support(self) -> int:
        return self.tp + self.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True, slots=True)
class Miss:
    """A false negative or false positive, located without its text."""

    sample_id: str
    entity: str
    variant: str  # gold variant for an FN; for an FP the look-alike kind or gold entity hit


@dataclass(slots=True)
class Report:
    entities: tuple[str, ...]
    scores: dict[str, EntityScore] = field(default_factory=dict)
    false_negatives: list[Miss] = field(default_factory=list)
    false_positives: list[Miss] = field(default_factory=list)

    def score(self, entity: str) -> EntityScore:
        return self.scores.setdefault(entity, EntityScore())


def _overlap(a: Span | Found, b: Span | Found) -> float:
    inter = min(a.end, b.end) - max(a.start, b.start)
    return inter / max(a.end - a.start, b.end - b.start) if inter > 0 else 0.0


def _explain_fp(found: Found, sample: Sample) -> str:
    for decoy in sample.decoys:
        if _overlap(found, decoy) > 0:
            return decoy.entity
    for gold in sample.spans:
        if _overlap(found, gold) > 0:
            return f"on-{gold.entity}"
    return "plain-text"


def evaluate(samples: Iterable[Sample], detect: Detector, entities: Sequence[str]) -> Report:
    """Score `detect` on `samples` for `entities` (predictions of other entities are dropped)."""
    report = Report(tuple(entities))
    wanted = set(entities)
    for entity in entities:
        report.score(entity)
    for sample in samples:
        gold = [s for s in sample.spans if s.entity in wanted]
        found = [f for f in detect(sample) if f.entity in wanted]
        pairs = sorted(
            ((_overlap(g, f), gi, fi) for gi, g in enumerate(gold) for fi, f in enumerate(found)
             if g.entity == f.entity),
            reverse=True,
        )
        used_gold: set[int] = set()
        used_found: set[int] = set()
        for ratio, gi, fi in pairs:
            if ratio < MIN_OVERLAP or gi in used_gold or fi in used_found:
                continue
            used_gold.add(gi)
            used_found.add(fi)
            report.score(gold[gi].entity).tp += 1
        for gi, g in enumerate(gold):
            if gi not in used_gold:
                report.score(g.entity).fn += 1
                report.false_negatives.append(Miss(sample.id, g.entity, g.variant))
        for fi, f in enumerate(found):
            if fi not in used_found:
                report.score(f.entity).fp += 1
                report.false_positives.append(Miss(sample.id, f.entity, _explain_fp(f, sample)))
    return report


def presidio_detector(
    analyzer: object,
    entities: Sequence[str],
    *,
    language: str = "ko",
    entity_map: Mapping[str, str] | None = None,
    score_threshold: float | None = None,
    per_sample_kwargs: Callable[[Sample], dict[str, object]] | None = None,
) -> Detector:
    """Adapt a presidio `AnalyzerEngine` to a `Detector`.

    `entity_map` renames the analyzer's entities onto ours (e.g. `PHONE_NUMBER` → `KR_PHONE`);
    the analyzer is asked for the mapped names it supports. `per_sample_kwargs` adds call
    arguments per line (e.g. the customer's name as an ad-hoc deny-list recognizer).
    """
    mapping = dict(entity_map or {})
    wanted = set(entities)
    ask = sorted({src for src, dst in mapping.items() if dst in wanted}
                 | {e for e in entities if e not in mapping.values()})

    def detect(sample: Sample) -> list[Found]:
        kwargs: dict[str, object] = {"text": sample.text, "language": language, "entities": ask}
        if score_threshold is not None:
            kwargs["score_threshold"] = score_threshold
        if per_sample_kwargs is not None:
            kwargs.update(per_sample_kwargs(sample))
        results = analyzer.analyze(**kwargs)  # type: ignore[attr-defined]
        return [
            Found(r.start, r.end, mapping.get(r.entity_type, r.entity_type), r.score)
            for r in results
        ]

    return detect


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def markdown_table(
    reports: Mapping[str, Report], *, covered: Mapping[str, set[str]] | None = None
) -> str:
    """One row per entity: support, then P/R/F1 for each named report side by side.

    `covered[label]` lists the entities that analyzer has a recognizer for; others print `—`.
    """
    labels = list(reports)
    first = reports[labels[0]]
    head = ["entity", "n"] + [f"{label} {m}" for label in labels for m in ("P", "R", "F1")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    totals = {label: EntityScore() for label in labels}
    for entity in first.entities:
        row = [f"`{entity}`", str(first.scores[entity].support)]
        for label in labels:
            s = reports[label].scores[entity]
            has = covered is None or entity in covered.get(label, set())
            row += [_fmt(s.precision if has else None), _fmt(s.recall if has else None),
                    _fmt(s.f1 if has else None)]
            t = totals[label]
            t.tp, t.fp, t.fn = t.tp + s.tp, t.fp + s.fp, t.fn + s.fn
        lines.append("| " + " | ".join(row) + " |")
    row = ["**all (micro)**", str(totals[labels[0]].support)]
    for label in labels:
        t = totals[label]
        row += [_fmt(t.precision), _fmt(t.recall), _fmt(t.f1)]
    lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def variant_table(samples: Sequence[Sample], reports: Mapping[str, Report], entity: str) -> str:
    """Recall per notation variant of `entity` (e.g. `KR_RRN#fullwidth`), side by side."""
    support: dict[str, int] = {}
    for sample in samples:
        for span in sample.spans:
            if span.entity == entity:
                support[span.variant or "-"] = support.get(span.variant or "-", 0) + 1
    labels = list(reports)
    lines = ["| `" + entity + "` notation | n | " + " | ".join(f"{x} R" for x in labels) + " |",
             "|" + "---|" * (2 + len(labels))]
    for variant in sorted(support):
        row = [variant, str(support[variant])]
        for label in labels:
            missed = sum(1 for m in reports[label].false_negatives
                         if m.entity == entity and (m.variant or "-") == variant)
            row.append(f"{(support[variant] - missed) / support[variant]:.2f}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
