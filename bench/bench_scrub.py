"""Scrubbed MB/s of call-centre memo text: our `Scrubber` next to a default presidio analyzer.

    python bench/bench_scrub.py              # 5 MB of memos, ~30 % with identifiers
    python bench/bench_scrub.py --mb 0.5     # a quick look

Every row analyzes AND anonymizes every memo, one call per memo, in one process. "Default" is
presidio used as its docs show: one `AnalyzerEngine` with three of its own recognizers
(`KrRrnRecognizer`, `EmailRecognizer` with tldextract's bundled suffix list,
`CreditCardRecognizer`), no entity restriction, no pre-filter, default threshold. It is
measured on two NLP engines, both labelled:

- tokenizing: presidio's `SpacyNlpEngine` on `spacy.blank("ko")` with spaCy's rule-based
  tokenizer (the Korean default needs mecab-ko). This is what a default analyzer does per text
  — run the spaCy pipeline, build tokens and lemmas, use them for context words — minus the
  trained model, which offline we do not have (so no NER). The honest baseline.
- no NLP: our `BlankNlpEngine` (presidio's `NoOpNlpEngine`: no tokens at all). Not presidio's
  default: a flattering lower bound on its cost, which pure regex recognizers allow.

A last row runs every recognizer presidio ships for our entities (the set
`bench/eval_scrub.py` scores: its five Korean ones, card, email, phone), no NLP. Ours: ten
Korean recognizers, engines built once, recognizers restricted by entity, memos with no digit,
no `@` and no deny-listed name skipped, one scan per memo for digit runs that the numeric
patterns then try only at (issue #4).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout

import spacy
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngine, SpacyNlpEngine
from presidio_anonymizer import AnonymizerEngine

from gateway.seed.identities import identities
from gateway.seed.memos import memo_text
from pseudonymizer.scrub import Scrubber
from pseudonymizer.scrub.baseline import presidio_analyzer, presidio_recognizers, presidio_three

IDENTIFIER_SHARE = 0.3


def corpus(megabytes: float, seed: int = 20261123, lines: tuple[int, int] = (1, 8),
           ) -> list[tuple[str, str]]:
    """(memo, customer name) pairs until `megabytes` of UTF-8 text.

    A memo is a customer's call log: `lines` notes, one per call, ~30 % of them carrying
    identifiers; each memo is scrubbed in one call, as the gateway scrubs one attribute value.
    """
    rng = random.Random(seed)
    people = identities(seed)
    out: list[tuple[str, str]] = []
    size, target = 0, int(megabytes * 1_000_000)
    while size < target:
        person = next(people)
        text = "\n".join(
            memo_text(rng, person.name, person.rrn, identifier_share=IDENTIFIER_SHARE)
            for _ in range(rng.randint(*lines))
        )
        out.append((text, person.name))
        size += len(text.encode())
    return out


class BlankSpacyNlpEngine(SpacyNlpEngine):
    """presidio's spaCy engine on a blank Korean pipeline: it tokenizes, nothing is downloaded."""

    def __init__(self) -> None:
        super().__init__(models=[{"lang_code": "ko", "model_name": "blank:ko"}])
        self.load()

    def load(self) -> None:
        # spaCy's Korean default tokenizer needs mecab-ko; its rule-based one needs nothing.
        config = {"nlp": {"tokenizer": {"@tokenizers": "spacy.Tokenizer.v1"}}}
        self.nlp = {"ko": spacy.blank("ko", config=config)}


def default_presidio(nlp_engine: NlpEngine | None = None) -> Callable[[str, str], str]:
    """presidio's analyzer with three recognizers; no NLP unless `nlp_engine` is given."""
    return _presidio_run(presidio_analyzer(presidio_three(), nlp_engine=nlp_engine))


def presidio_all() -> Callable[[str, str], str]:
    """Every recognizer presidio ships for our entities (what `bench/eval_scrub.py` compares)."""
    return _presidio_run(presidio_analyzer(presidio_recognizers()))


def _presidio_run(analyzer: AnalyzerEngine) -> Callable[[str, str], str]:
    anonymizer = AnonymizerEngine()

    def run(text: str, _name: str) -> str:
        results = analyzer.analyze(text=text, language="ko")
        return anonymizer.anonymize(text=text, analyzer_results=results).text  # type: ignore[arg-type]

    return run


def ours() -> Callable[[str, str], str]:
    scrubber = Scrubber()

    def run(text: str, name: str) -> str:
        return scrubber.scrub(text, names=(name,), pseudonym=lambda _t: "p1_pseudonym").text

    return run


def measure(run: Callable[[str, str], str], memos: Sequence[tuple[str, str]], repeat: int = 1,
            ) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of the fastest of `repeat` passes.

    CPU time is the per-core figure on a shared machine; the fastest pass is the one least
    disturbed by other processes on it.
    """
    run(*memos[0])  # warm: lazy recognizer loading, compiled patterns
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        for text, name in memos:
            run(text, name)
        best = min(best, (time.process_time() - cpu, time.perf_counter() - wall))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=5.0, help="megabytes of memo text")
    parser.add_argument("--lines", type=int, nargs=2, default=(1, 8), metavar=("MIN", "MAX"),
                        help="notes per memo (default 1 8)")
    parser.add_argument("--slow-mb", type=float, default=0.5,
                        help="megabytes for the slow all-recognizer presidio row")
    parser.add_argument("--repeat", type=int, default=3,
                        help="passes per row; the fastest counts (default 3)")
    args = parser.parse_args()
    memos = corpus(args.mb, lines=tuple(args.lines))
    megabytes = sum(len(t.encode()) for t, _ in memos) / 1_000_000
    print(f"memos: {len(memos):,}, {megabytes:.2f} MB UTF-8, mean "
          f"{megabytes * 1e6 / len(memos):.0f} B, {args.lines[0]}-{args.lines[1]} notes each, "
          f"~{IDENTIFIER_SHARE:.0%} of notes with identifiers")
    print(f"{'analyzer + anonymizer':<40} {'cpu s':>7} {'MB/s cpu':>9} {'wall s':>7} "
          f"{'MB/s wall':>10} {'memos/s':>8}")
    rates = []
    # presidio's phone recognizer (libphonenumber's matcher) is slow: that row runs on the
    # first `--slow-mb` megabytes only, so the whole benchmark stays a one-minute job.
    slow: list[tuple[str, str]] = []
    for memo in memos:
        if sum(len(t.encode()) for t, _ in slow) >= args.slow_mb * 1_000_000:
            break
        slow.append(memo)
    for label, build, sample in (
        ("ours (Scrubber, 10 Korean recognizers)", ours, memos),
        ("presidio default (3), tokenizing", lambda: default_presidio(BlankSpacyNlpEngine()),
         memos),
        ("presidio default (3), no NLP", default_presidio, memos),
        ("presidio all 8 for our entities, no NLP", presidio_all, slow),
    ):
        mb = sum(len(t.encode()) for t, _ in sample) / 1_000_000
        cpu, wall = measure(build(), sample, args.repeat)
        rates.append(mb / cpu)
        print(f"{label:<40} {cpu:>7.2f} {mb / cpu:>9.2f} {wall:>7.2f} "
              f"{mb / wall:>10.2f} {len(sample) / cpu:>8,.0f}"
              + ("" if sample is memos else f"  (first {mb:.2f} MB)"))
    print(f"ours vs presidio default (3), tokenizing: {rates[0] / rates[1]:.2f}x; "
          f"no NLP: {rates[0] / rates[2]:.2f}x; all 8, no NLP: {rates[0] / rates[3]:.2f}x (cpu)")

if __name__ == "__main__":
    main()
