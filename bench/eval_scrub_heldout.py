"""Scrubber precision/recall on the held-out set, for the blind first batch and for all lines.

    python bench/eval_scrub_heldout.py            # tables only
    python bench/eval_scrub_heldout.py --misses   # plus misses by line id (never the text)

The held-out set (`tests/scrub/corpus/heldout/`) was written without reading the
recognizers; lines `xNNN` before any evaluation run, lines `yNNN` after the first run had
printed scores and line ids. `bench/eval_scrub.py --corpus <file>` gives the same full table.
"""

from __future__ import annotations

import argparse
import importlib.util
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELDOUT = ROOT / "tests" / "scrub" / "corpus" / "heldout" / "heldout.jsonl"


def _eval_scrub():
    spec = importlib.util.spec_from_file_location("eval_scrub", ROOT / "bench" / "eval_scrub.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=HELDOUT)
    parser.add_argument("--default-threshold", type=float, default=0.0)
    parser.add_argument("--misses", action="store_true")
    args = parser.parse_args()

    es = _eval_scrub()  # also puts the checkout on sys.path
    from pseudonymizer.scrub import ENTITIES, build_analyzer
    from pseudonymizer.scrub.evaluate import (
        evaluate,
        load_corpus,
        markdown_table,
        presidio_detector,
        variant_table,
    )

    samples = load_corpus(args.corpus, entities=ENTITIES)
    ours = presidio_detector(build_analyzer(), ENTITIES, per_sample_kwargs=es._names)
    default = presidio_detector(es.default_analyzer(args.default_threshold), ENTITIES,
                                entity_map=es.DEFAULT_MAP)
    covered = {"ours": set(ENTITIES), "presidio default": es.DEFAULT_COVERS}
    batches = {"blind batch (x)": [s for s in samples if s.id.startswith("x")],
               "all lines": samples}
    for title, batch in batches.items():
        reports = {"ours": evaluate(batch, ours, ENTITIES),
                   "presidio default": evaluate(batch, default, ENTITIES)}
        kinds = Counter(d.entity for s in batch for d in s.decoys)
        print(f"## {title}: {len(batch)} lines, {sum(len(s.spans) for s in batch)} labelled "
              f"spans, {sum(kinds.values())} look-alikes of {len(kinds)} kinds\n")
        print(markdown_table(reports, covered=covered))
        print()
        print(variant_table(batch, reports, "KR_RRN"))
        print()
        if args.misses:
            for label, report in reports.items():
                print(f"{label}: {len(report.false_negatives)} FN, "
                      f"{len(report.false_positives)} FP")
                for m in report.false_negatives:
                    print(f"  FN {m.sample_id} {m.entity}#{m.variant}")
                for m in report.false_positives:
                    print(f"  FP {m.sample_id} {m.entity} on {m.variant}")
            print()


if __name__ == "__main__":
    main()
