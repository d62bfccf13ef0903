"""`gateway policy`: tools for privacy officers over the policy files (check and test here;
explain and diff register themselves from `policy_tools`)."""

from __future__ import annotations

import json
import tempfile
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli.common import settings_from_env

policy_app = typer.Typer(help="Policy files: check, test, explain and diff them.")


class Format(str, Enum):
    text = "text"
    json = "json"


FolderArg = Annotated[Path | None, typer.Argument(
    help="policy folder (default: GATEWAY_POLICY_DIR, else `policies`)")]
FormatOpt = Annotated[Format, typer.Option("--format", help="`text` for people, `json` for tools")]


def _folder(directory: Path | None) -> Path:
    return directory or Path(settings_from_env().policy_dir)


def _emit_json(payload: dict[str, Any]) -> None:
    typer.echo(json.dumps(payload, ensure_ascii=False, indent=2, sort_keys=True))


@policy_app.command("check")
def policy_check(
    directory: FolderArg = None,
    keys: Annotated[Path | None, typer.Option(
        "--keys", help="public keys folder (default: GATEWAY_PUBLIC_KEYS_DIR, else `keys`)")] = None,
    fmt: FormatOpt = Format.text,
) -> None:
    """Check the policy set: every problem at once, each with file, line, column, a stable code,
    severity and an English and a Korean explanation. Exits 1 on any error; warnings alone
    exit 0.

    JSON (`--format json`): {"policy_dir", "version", "ok", "errors", "warnings", "problems":
    [{"code", "severity", "file", "line", "column", "message_en", "message_ko"}]}.
    """
    from gateway.policy.loader import inspect_policy

    folder = _folder(directory)
    keys_dir = keys or Path(settings_from_env().public_keys_dir)
    inspection = inspect_policy(folder, keys_dir)
    errors, warnings = len(inspection.errors), len(inspection.warnings)
    if fmt is Format.json:
        _emit_json({"policy_dir": str(folder), "version": inspection.version,
                    "ok": errors == 0, "errors": errors, "warnings": warnings,
                    "problems": [p.as_dict() for p in inspection.problems]})
    else:
        for problem in inspection.problems:
            colour = typer.colors.RED if problem.is_error else typer.colors.YELLOW
            typer.secho(f"{problem.file}:{problem.line}:{problem.column}: "
                        f"{problem.severity} {problem.code}: {problem.message}", fg=colour)
            typer.echo(f"    {problem.message_ko}")
        policy = inspection.policy
        if policy is None:
            typer.secho(f"policy check failed: {errors} error(s), {warnings} warning(s) in "
                        f"{folder}", fg=typer.colors.RED, err=True)
        else:
            typer.echo(f"policy ok: {policy.version} ({len(policy.rules)} rules, "
                       f"{len(policy.attributes)} attributes, {len(policy.purposes)} purposes, "
                       f"{len(policy.systems)} systems; {warnings} warning(s))")
    if errors:
        raise typer.Exit(code=1)


@policy_app.command("test")
def policy_test(
    directory: FolderArg = None,
    cases: Annotated[Path | None, typer.Option(
        "--cases", help="folder of test case files (default: <policy folder>/tests)")] = None,
    fmt: FormatOpt = Format.text,
) -> None:
    """Run the officers' test cases (`<policy folder>/tests/*.yaml`) through the same decision
    the API makes; list each case as pass or fail with a diff (`-` expected, `+` actual).
    Exits 1 on any failure, on an unreadable case file or when the policy does not load.
    System keys play no part in a decision: the set is loaded with throwaway keys (`policy
    check` checks the real ones).

    JSON (`--format json`): {"policy_dir", "version", "ok", "passed", "failed", "problems":
    [...as in `policy check`], "cases": [{"name", "file", "line", "passed", "expected",
    "actual", "diff", "rules", "consents"}]}; "expected"/"actual" are {"released": {attribute:
    view}, "withheld": {attribute: reason}} or {"error": type}.
    """
    from gateway.policy.loader import inspect_policy
    from gateway.policy.snapshot import write_throwaway_keys
    from gateway.policy.testing import run_tests

    folder = _folder(directory)
    with tempfile.TemporaryDirectory(prefix="policy-test-keys-") as tmp:
        write_throwaway_keys(folder, Path(tmp))
        inspection = inspect_policy(folder, Path(tmp))
    policy = inspection.policy
    if policy is None:
        if fmt is Format.json:
            _emit_json({"policy_dir": str(folder), "version": inspection.version, "ok": False,
                        "passed": 0, "failed": 0, "cases": [],
                        "problems": [p.as_dict() for p in inspection.errors]})
        else:
            for problem in inspection.errors:
                typer.echo(f"{problem.file}:{problem.line}:{problem.column}: error "
                           f"{problem.code}: {problem.message}")
            typer.secho("policy does not load: run `gateway policy check` first",
                        fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)

    suite = run_tests(policy, cases or folder / "tests")
    passed = len(suite.results) - len(suite.failed)
    if fmt is Format.json:
        _emit_json({"policy_dir": str(folder), "version": policy.version, "ok": suite.ok,
                    "passed": passed, "failed": len(suite.failed),
                    "problems": [p.as_dict() for p in suite.problems],
                    "cases": [r.as_dict() for r in suite.results]})
    else:
        for problem in suite.problems:
            typer.secho(f"{problem.file}:{problem.line}:{problem.column}: error "
                        f"{problem.code}: {problem.message}", fg=typer.colors.RED)
        for result in suite.results:
            where = f"{Path(result.case.file).name}:{result.case.line}"
            if result.passed:
                typer.echo(f"PASS {where} {result.case.spec.name}")
                continue
            typer.secho(f"FAIL {where} {result.case.spec.name}", fg=typer.colors.RED)
            typer.echo("  --- expected\n  +++ actual")
            for line in result.diff():
                typer.secho(f"  {line}", fg=typer.colors.GREEN if line.startswith("+")
                            else typer.colors.RED)
        summary = (f"{passed} passed, {len(suite.failed)} failed, "
                   f"{len(suite.problems)} unreadable ({policy.version})")
        typer.secho(summary, fg=typer.colors.GREEN if suite.ok else typer.colors.RED)
    if not suite.ok:
        raise typer.Exit(code=1)


@policy_app.command("codes")
def policy_codes(
    out: Annotated[Path | None, typer.Option(
        "--out", help="write the document here (e.g. docs/POLICY-CODES.md) instead of printing")
    ] = None,
) -> None:
    """Every policy problem code in Korean and English, as a Markdown document for officers."""
    from gateway.policy.codebook import render

    text = render()
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, "utf-8")
        typer.echo(f"wrote {out}")
