"""`gateway-verify`: check an export archive, or two checkpoints for a fork, offline.

    gateway-verify ARCHIVE --key VKEY [--key VKEY ...] [--key-file F] [--previous-checkpoint F]
    gateway-verify consistency OLD_CHECKPOINT NEW_CHECKPOINT PROOF --key VKEY [...]
    gateway-verify report ARCHIVE --by customer|employee|system --key VKEY [...]
    gateway-verify history FILE --key VKEY [...]        (a saved customer access history)

Exit status: 0 when everything holds, 1 when a check fails (each failure is named on
stderr), 2 when the command itself is wrong (no trusted key, unreadable key file).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import sys
from pathlib import Path

from gateway_verify.access_report import BY, AccessReport
from gateway_verify.checks import fork_between, load_trusted, verify_archive
from gateway_verify.errors import MalformedNote, VerifyError
from gateway_verify.korean import translate
from gateway_verify.note import VerifierKey, check_note, parse_checkpoint
from gateway_verify.render import LANGS, finding, print_findings, print_report

OK, FAILED, USAGE = 0, 1, 2


def _key_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lang", choices=LANGS, default="en",
                        help="language of findings and summary: en (default) or ko "
                        "(Korean, times in KST)")
    parser.add_argument("--key", action="append", default=[], metavar="VKEY",
                        help="a trusted log verifier key `name+hash+base64` (repeatable)")
    parser.add_argument("--key-file", action="append", default=[], type=Path, metavar="FILE",
                        help="a file of trusted verifier keys, one per line (repeatable)")


def archive_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway-verify",
        description="Verify an access-log export archive offline (docs/EXPORT-FORMAT.md). "
        "Use `gateway-verify consistency OLD NEW PROOF` to check two checkpoints for a fork, "
        "`gateway-verify report ARCHIVE --by customer|employee|system` for who looked at whom.")
    parser.add_argument("archive", type=Path, help="the export archive (.tar or .tar.gz)")
    _key_options(parser)
    parser.add_argument("--previous-checkpoint", type=Path, metavar="FILE",
                        help="the checkpoint of the previous export, to prove no fork since")
    parser.add_argument("--quiet", action="store_true", help="print no summary")
    return parser


def report_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway-verify report",
        description="Who looked at whom, when and why: the archive's records that verify, "
        "grouped by customer, employee or system (records that do not verify are left out).")
    parser.add_argument("archive", type=Path, help="the export archive (.tar or .tar.gz)")
    parser.add_argument("--by", choices=BY, required=True, help="how to group the accesses")
    _key_options(parser)
    parser.add_argument("--previous-checkpoint", type=Path, metavar="FILE",
                        help="the checkpoint of the previous export, to prove no fork since")
    return parser


def report_command(argv: list[str]) -> int:
    args = report_parser().parse_args(argv)
    trusted = _trusted(args)
    if trusted is None:
        return USAGE
    read, previous = _previous(args)
    if not read:
        return USAGE
    accesses = AccessReport(args.by)
    report = verify_archive(args.archive, trusted, previous, verified=accesses.add)
    print_findings(report, args.lang)
    print("\n".join(accesses.lines(args.lang, report.tally.count)))
    return OK if report.ok else FAILED


def consistency_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway-verify consistency",
        description="Say whether NEW extends OLD (same log, no fork), by RFC 9162 §2.1.4.")
    parser.add_argument("old", type=Path, help="older signed checkpoint")
    parser.add_argument("new", type=Path, help="newer signed checkpoint")
    parser.add_argument("proof", type=Path, nargs="?",
                        help="consistency proof: base64 hashes one per line, or consistency.json")
    _key_options(parser)
    return parser


def _usage_error(message: str, lang: str) -> None:
    print(f"gateway-verify: {message if lang == 'en' else translate(message)}", file=sys.stderr)


def _trusted(args: argparse.Namespace) -> list[VerifierKey] | None:
    try:
        trusted = load_trusted(args.key, args.key_file)
    except VerifyError as exc:
        _usage_error(str(exc), args.lang)
        return None
    if not trusted:
        _usage_error("no trusted key given: use --key or --key-file", args.lang)
        return None
    return trusted


def _previous(args: argparse.Namespace) -> tuple[bool, str | None]:
    """The `--previous-checkpoint` text, if given; False when it was given but unreadable."""
    if args.previous_checkpoint is None:
        return True, None
    text = _read_text(args.previous_checkpoint, args.lang)
    return text is not None, text


def _read_text(path: Path, lang: str = "en") -> str | None:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _usage_error(f"cannot read `{path}`: {exc}", lang)
        return None


def verify_command(argv: list[str]) -> int:
    args = archive_parser().parse_args(argv)
    trusted = _trusted(args)
    if trusted is None:
        return USAGE
    read, previous = _previous(args)
    if not read:
        return USAGE
    report = verify_archive(args.archive, trusted, previous)
    print_report(report, args.quiet, args.lang)
    return OK if report.ok else FAILED


def _proof_hashes(text: str) -> list[bytes]:
    import json

    stripped = text.strip()
    if stripped.startswith("{"):
        items = json.loads(stripped).get("hashes", [])
    else:
        items = [line.strip() for line in stripped.splitlines() if line.strip()]
    hashes = [base64.b64decode(item, validate=True) for item in items]
    if any(len(h) != 32 for h in hashes):
        raise ValueError("a proof hash is not 32 bytes")
    return hashes


def consistency_command(argv: list[str]) -> int:
    args = consistency_parser().parse_args(argv)
    trusted = _trusted(args)
    if trusted is None:
        return USAGE
    lang = args.lang
    texts = [_read_text(p, lang) for p in (args.old, args.new)]
    proof_text = "" if args.proof is None else _read_text(args.proof, lang)
    if None in texts or proof_text is None:
        return USAGE
    problems = []
    checkpoints = []
    for label, text in zip(("old checkpoint", "new checkpoint"), texts):
        try:
            check = check_note(text or "", trusted)
            checkpoint = parse_checkpoint(check.text)
        except MalformedNote as exc:
            print(finding(f"{label} is malformed: {exc}", lang), file=sys.stderr)
            return FAILED
        checkpoints.append(checkpoint)
        problem = check.problem(label) or check.origin_problem(checkpoint.origin, label)
        if problem:
            problems.append(problem)
    try:
        proof = _proof_hashes(proof_text)
    except (ValueError, AttributeError, binascii.Error):
        print(finding("the proof is not base64 hashes or a consistency.json", lang),
              file=sys.stderr)
        return FAILED
    old, new = checkpoints
    fork = fork_between(old, new, proof)
    if fork:
        problems.append(fork)
    for problem in problems:
        print(finding(problem, lang), file=sys.stderr)
    if problems:
        return FAILED
    if lang == "en":
        print(f"OK: tree size {new.size:,} extends tree size {old.size:,} of `{old.origin}`")
    else:
        print(f"확인 완료: 트리 크기 {new.size:,}은(는) `{old.origin}`의 트리 크기 "
              f"{old.size:,}을(를) 이어 갑니다 (분기 없음)")
    return OK


def campaign_command(argv: list[str]) -> int:
    """`gateway-verify campaign PROOF.json`: one customer's inclusion in a campaign, checked
    against the `campaign.close` record the proof file carries (docs/CAMPAIGN-COMMITMENT.md).
    The closing record's own inclusion in the signed log is checked with an export."""
    import json

    from gateway_verify.campaign import MalformedCampaignProof, verify_campaign_inclusion

    parser = argparse.ArgumentParser(
        prog="gateway-verify campaign",
        description="check a campaign inclusion proof: a json file with `closing_record` (the "
                    "campaign.close record exactly as hashed), `leaf`, `index` and `proof` "
                    "(hex hashes)")
    parser.add_argument("proof", type=Path)
    args = parser.parse_args(argv)
    text = _read_text(args.proof)
    if text is None:
        return USAGE
    try:
        given = json.loads(text)
        result = verify_campaign_inclusion(given["closing_record"].encode(),
                                           given["leaf"].encode(), int(given["index"]),
                                           list(given["proof"]))
    except (ValueError, KeyError, TypeError, AttributeError, MalformedCampaignProof) as exc:
        print(f"FAILED: the proof file is malformed: {type(exc).__name__}", file=sys.stderr)
        return FAILED
    if not result.ok:
        print(f"FAILED: {result.problem}", file=sys.stderr)
        return FAILED
    print(f"OK: `{result.pseudonym}` was in campaign `{result.campaign}` with "
          f"{', '.join(result.fields)}")
    return OK


def history_command(argv: list[str]) -> int:
    """`gateway-verify history FILE`: a saved access history (docs/CUSTOMER-RIGHTS.md)."""
    from gateway_verify.history import summary, verify_history

    parser = argparse.ArgumentParser(
        prog="gateway-verify history",
        description="check a saved customer access history (gateway-access-history/v1): the "
                    "checkpoint's signature and origin, every entry's inclusion proof and record, "
                    "every campaign inclusion")
    parser.add_argument("file", type=Path, help="the history JSON as the gateway returned it")
    _key_options(parser)
    args = parser.parse_args(argv)
    trusted = _trusted(args)
    if trusted is None:
        return USAGE
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        _usage_error(f"cannot read `{args.file}`: {exc.strerror}", args.lang)
        return USAGE
    report = verify_history(data, trusted)
    for problem in report.findings:
        print(finding(problem, args.lang), file=sys.stderr)
    if not report.ok:
        return FAILED
    print(summary(report, args.lang))
    return OK


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "consistency":
        return consistency_command(argv[1:])
    if argv and argv[0] == "campaign":
        return campaign_command(argv[1:])
    if argv and argv[0] == "report":
        return report_command(argv[1:])
    if argv and argv[0] == "history":
        return history_command(argv[1:])
    return verify_command(argv)
