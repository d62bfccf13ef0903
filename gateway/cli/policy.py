"""`gateway policy`: tools for privacy officers over the policy files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.common import settings_from_env

policy_app = typer.Typer(help="Policy files: check, test, explain and diff them.")


@policy_app.command("check")
def policy_check(
    directory: Annotated[Path | None, typer.Argument(help="policy folder")] = None,
) -> None:
    """Validate the policy set; exits non-zero on any error, naming file and line."""
    from gateway.policy import PolicyLoadError, load_policy

    settings = settings_from_env()
    folder = directory or Path(settings.policy_dir)
    try:
        policy = load_policy(folder, Path(settings.public_keys_dir))
    except PolicyLoadError as exc:
        for problem in exc.problems:
            typer.echo(f"{problem.file}:{problem.line}:{problem.column}: {problem.message}",
                       err=True)
        typer.secho(f"{len(exc.problems)} problem(s) in {folder}", err=True,
                    fg=typer.colors.RED)
        raise typer.Exit(code=1) from None
    typer.echo(f"policy ok: {policy.version} ({len(policy.rules)} rules, "
               f"{len(policy.attributes)} attributes, {len(policy.purposes)} purposes, "
               f"{len(policy.systems)} systems)")
