"""Per-entity precision/recall of our Korean analyzer next to presidio's defaults, as markdown.

    python bench/eval_scrub.py                       # the corpus shipped with the tests
    python bench/eval_scrub.py --default-threshold 0.5 --misses

"Presidio default" is what presidio 2.2 ships for these entities, with default parameters:
its five Korean recognizers (`KrRrnRecognizer`, `KrFrnRecognizer`, `KrBrnRecognizer`,
`KrPassportRecognizer`, `KrDriverLicenseRecognizer`; present but disabled in its default
registry), `CreditCardRecognizer`, `EmailRecognizer` and `PhoneRecognizer` (default regions),
all with `supported_language="ko"`, on the same offline blank NLP engine as ours (so no lemma
context boost) and presidio's default score threshold 0. Its entity names map onto ours:
`PHONE_NUMBER` → `KR_PHONE`; it has no recognizer for `KR_BANK_ACCOUNT` or a per-call
`PERSON` deny-list (the table prints `—` there). The email recognizer's public-suffix check is
pointed at tldextract's bundled snapshot so that nothing is downloaded.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout

from presidio_analyzer import AnalyzerEngine

from pseudonymizer.scrub import ENTITIES, PersonRecognizer, build_analyzer
from pseudonymizer.scrub.baseline import presidio_analyzer, presidio_recognizers
from pseudonymizer.scrub.evaluate import (
    Report,
    Sample,
    evaluate,
    load_corpus,
    markdown_table,
    presidio_detector,
    variant_table,
)

CORPUS = ROOT / "tests" / "scrub" / "corpus"
DEFAULT_MAP = {"PHONE_NUMBER": "KR_PHONE"}
DEFAULT_COVERS = {"KR_RRN", "KR_FRN", "KR_BRN", "KR_PASSPORT", "KR_DRIVER_LICENSE",
                  "CREDIT_CARD", "EMAIL_ADDRESS", "KR_PHONE"}


def default_analyzer(score_threshold: float) -> AnalyzerEngine:
    return presidio_analyzer(presidio_recognizers(), score_threshold=score_threshold)


def _names(sample: Sample) -> dict[str, object]:
    return {"ad_hoc_recognizers": [PersonRecognizer([sample.name])]}


def _timed(label: str, samples: list[Sample], run: object) -> Report:
    start = time.perf_counter()
    report = run(samples)  # type: ignore[operator]
    print(f"<!-- {label}: {len(samples)} lines in {time.perf_counter() - start:.2f} s -->")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--default-threshold", type=float, default=0.0)
    parser.add_argument("--misses", action="store_true",
                        help="list false negatives and positives by line id (never the text)")
    args = parser.parse_args()

    samples = load_corpus(args.corpus, entities=ENTITIES)
    ours = presidio_detector(build_analyzer(), ENTITIES, per_sample_kwargs=_names)
    default = presidio_detector(default_analyzer(args.default_threshold), ENTITIES,
                                entity_map=DEFAULT_MAP)
    reports = {
        "ours": _timed("ours", samples, lambda s: evaluate(s, ours, ENTITIES)),
        "presidio default": _timed("presidio default", samples,
                                   lambda s: evaluate(s, default, ENTITIES)),
    }
    kinds = Counter(d.entity for s in samples for d in s.decoys)
    print(f"Corpus: {len(samples)} lines, {sum(len(s.spans) for s in samples)} labelled spans, "
          f"{sum(kinds.values())} look-alikes of {len(kinds)} kinds.\n")
    print(markdown_table(reports, covered={"ours": set(ENTITIES),
                                           "presidio default": DEFAULT_COVERS}))
    print()
    print(variant_table(samples, reports, "KR_RRN"))
    for label, report in reports.items():
        fps = Counter(m.variant for m in report.false_positives)
        print(f"\n{label}: false positives by what they hit: "
              + (", ".join(f"{k} {v}" for k, v in fps.most_common()) or "none"))
        if args.misses:
            for m in report.false_negatives:
                print(f"  FN {m.sample_id} {m.entity}#{m.variant}")
            for m in report.false_positives:
                print(f"  FP {m.sample_id} {m.entity} on {m.variant}")


if __name__ == "__main__":
    main()
