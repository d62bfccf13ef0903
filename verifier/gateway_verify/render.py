"""What `gateway-verify` prints: findings first, then the summary, then the verdict; en or ko."""

from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, datetime

from gateway_verify.checks import Report
from gateway_verify.filters import LIST_FILTERS, Filters
from gateway_verify.korean import kst, translate

LANGS = ("en", "ko")
_FILTER_KO = {"affiliates": "제휴사", "customers": "고객", "purposes": "목적"}


def finding(message: str, lang: str) -> str:
    """One failed check as printed: `FAILED: …` or `실패: …`."""
    return f"FAILED: {message}" if lang == "en" else f"실패: {translate(message)}"


def summary_en(report: Report) -> list[str]:
    manifest, cp = report.manifest, report.checkpoint
    lines = [f"archive: {report.archive}"]
    if cp is not None:
        signed = ", ".join(report.signed_by) or "no trusted key"
        lines.append(f"log: {cp.origin}, tree size {cp.size:,}, signed by {signed}")
    if manifest:
        lines.append(f"exported by {manifest.get('exported_by')} at "
                     f"{manifest.get('exported_at')}")
    lines += report.handovers
    lines += [f"keys in the archive: {k}" for k in report.archive_keys]
    if report.export_record is not None:
        er = report.export_record
        lines.append(f"export record: log index {er.index:,}, covers tree size "
                     f"{er.covers_tree_size:,}, {er.selected:,} records selected")
    if report.filters is not None:
        lines += [f"filter {line}" for line in report.filters.describe()]
    lines += report.tally.lines()
    if report.previous is not None:
        lines.append(f"previous checkpoint: tree size {report.previous.size:,}")
    return lines


def _when(t: datetime | None) -> str:
    return "…" if t is None else kst(t.astimezone(UTC).isoformat())


def _filters_ko(filters: Filters) -> list[str]:
    lines = [f"필터 기간: {_when(filters.since)} ~ {_when(filters.until)} (끝 시각 제외)"]
    for name in LIST_FILTERS:
        values = getattr(filters, name)
        if values is None:
            lines.append(f"필터 {_FILTER_KO[name]}: 전체")
        elif name == "customers":  # customer keys stay out of printed summaries
            lines.append(f"필터 {_FILTER_KO[name]}: 고객 키 {len(values)}개")
        else:
            lines.append(f"필터 {_FILTER_KO[name]}: {', '.join(sorted(values))}")
    return lines


def _table(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v:,}건" for k, v in sorted(counter.items())) or "없음"


def summary_ko(report: Report) -> list[str]:
    manifest, cp, tally = report.manifest, report.checkpoint, report.tally
    lines = [f"아카이브: {report.archive}"]
    if cp is not None:
        signed = ", ".join(report.signed_by) or "신뢰하는 키 없음"
        lines.append(f"로그: {cp.origin}, 트리 크기 {cp.size:,}, 서명한 키: {signed}")
    if manifest:
        exported_at = manifest.get("exported_at")
        lines.append(f"반출자: {manifest.get('exported_by')}, 반출 시각: "
                     f"{kst(exported_at if isinstance(exported_at, str) else None)}")
    for handover in report.handover_steps:
        old, new, size = handover
        lines.append(f"키 인계: `{old}`에서 `{new}`(으)로, 트리 크기 {size:,}, 두 키가 공동 서명함")
    for key in report.archive_keys:
        text, _, state = key.rpartition(" (")
        trusted = "신뢰함" if state.startswith("trusted") else "신뢰하지 않음"
        lines.append(f"아카이브에 든 키: {text} ({trusted})")
    if report.export_record is not None:
        er = report.export_record
        lines.append(f"반출 기록: 로그 색인 {er.index:,}, 대상 트리 크기 "
                     f"{er.covers_tree_size:,}, 선택된 기록 {er.selected:,}건")
    if report.filters is not None:
        lines += _filters_ko(report.filters)
    lines += [
        f"기록: {tally.count:,}건 (로그 색인 {tally.first_index} ~ {tally.last_index})",
        f"기록 기간: {kst(tally.first_time)} ~ {kst(tally.last_time)}",
        f"제휴사별: {_table(tally.by_affiliate)}",
        f"목적별: {_table(tally.by_purpose)}",
        f"결정별: {_table(tally.by_decision)}",
        f"종류별: {_table(tally.by_kind)}",
        f"거부: {tally.denials:,}건",
    ]
    if report.previous is not None:
        lines.append(f"이전 체크포인트: 트리 크기 {report.previous.size:,}")
    return lines


def print_findings(report: Report, lang: str) -> None:
    """Each failed check on its own line on stderr."""
    for problem in report.problems:
        print(finding(problem, lang), file=sys.stderr)
    if report.unlisted:
        print(f"FAILED: ... and {report.unlisted} more problems" if lang == "en" else
              f"실패: ... 그 밖에 문제 {report.unlisted}건", file=sys.stderr)
    sys.stderr.flush()


def print_report(report: Report, quiet: bool, lang: str = "en") -> None:
    """Findings (stderr) before the summary (stdout), then the verdict."""
    print_findings(report, lang)
    if not quiet:
        print("\n".join(summary_en(report) if lang == "en" else summary_ko(report)))
    total = len(report.problems) + report.unlisted
    if lang == "en":
        verdict = "OK: every check holds" if report.ok else f"FAILED: {total} problem(s)"
    else:
        verdict = "확인 완료: 모든 검사를 통과했습니다" if report.ok else \
            f"실패: 문제 {total}건"
    sys.stdout.flush()
    print(verdict, file=sys.stdout if report.ok else sys.stderr)
