"""`gateway policy explain` and `gateway policy diff`: one decision's trail; one change's effect."""

from __future__ import annotations

import enum
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.common import fail, login_name, settings_from_env
from gateway.cli.policy import policy_app
from gateway.domain import Caller, ConsentRecord, ContactStop, PurposeId
from gateway.errors import GatewayError
from gateway.policy import Policy, PolicyLoadError, load_policy
from gateway.policy.explain import (
    CustomerInfo,
    ExplainInputError,
    WhatIfConsent,
    caller_for,
    explain,
    load_consents_file,
    parse_attribute,
    parse_consent_option,
    to_text,
    what_if_records,
)


class ExplainFormat(str, enum.Enum):
    text = "text"
    json = "json"


class DiffFormat(str, enum.Enum):
    markdown = "markdown"
    json = "json"


def _problems(exc: PolicyLoadError, code: int) -> typer.Exit:
    for problem in exc.problems:
        typer.echo(f"{problem.file}:{problem.line}:{problem.column}: {problem.message}", err=True)
    typer.secho(f"{len(exc.problems)} problem(s) in the policy set", err=True,
                fg=typer.colors.RED)
    return typer.Exit(code=code)


def _time(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ExplainInputError(f"`--at` is not an iso 8601 time: `{value[:40]}`") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ExplainInputError("`--at` must carry a time zone, e.g. `+09:00` or `Z`")
    return parsed


def _stored_customer(policy: Policy, caller: Caller, rrn: str | None, pseudonym: str | None,
                     purpose: str) -> tuple[CustomerInfo, list[ConsentRecord], list[ContactStop]]:
    """Resolve and read consents (and, for marketing, contact stops) exactly as
    `pipeline._decide_and_fetch` does before `decide`.

    Reading a real customer's consents is itself an access: it is recorded in the access log
    before anything is shown, and nothing is shown if it cannot be recorded (fail closed).
    """
    import uuid

    from gateway.record import event_record
    from gateway.resolve import CustomerRef, resolve
    from gateway.services import Services
    from pseudonymizer.rrn import InvalidNationalId, parse_national_id

    shown = pseudonym
    if rrn is not None:
        try:
            shown = parse_national_id(rrn).masked()
        except InvalidNationalId as exc:
            from gateway.errors import MalformedIdentifier
            raise MalformedIdentifier(f"national id number is malformed: {exc}") from None
    svc = Services.build(settings_from_env(), policy=policy)
    try:
        resolved = resolve(
            CustomerRef(rrn=rrn, pseudonym=pseudonym), caller, registry=svc.registry,
            pseudonymizer=svc.pseudonymizer,
            sees_group_customers=policy.affiliates[caller.affiliate].sees_group_customers,
        )
        consents: list[ConsentRecord] = []
        if resolved.known and resolved.customer_key is not None:
            consents = svc.consents.for_customer(resolved.customer_key,
                                                 recipient=caller.affiliate)
        stops: list[ContactStop] = []
        if resolved.known and resolved.customer_key is not None \
                and policy.is_marketing(PurposeId(purpose)):
            stops = svc.contact_stops.for_customer(resolved.customer_key)  # `--at` decides
        # the actor is the officer who ran the command, from the command line; the system
        # whose request was replayed is named apart (it asked for nothing)
        svc.access_log.append(event_record(
            "policy.explain", request_id=uuid.uuid4().hex, now=datetime.now(UTC),
            caller=None, source="cli", policy_version=policy.version, status=200,
            customer=resolved.customer_key if resolved.known else None, purpose=purpose,
            operator=login_name("policy-explain"),
            simulated={"affiliate": caller.affiliate, "system": caller.system},
            consents_read=len(consents), **({"stops_read": len(stops)} if stops else {}),
        ))
    finally:
        svc.close()
    info = CustomerInfo(given_as="rrn" if rrn is not None else "pseudonym", shown=shown,
                        known=resolved.known, pseudonym=resolved.pseudonym)
    return info, consents, stops


@policy_app.command("explain")
def policy_explain(
    system: Annotated[str, typer.Option(help="calling system, e.g. `card-marketing`")],
    purpose: Annotated[str, typer.Option(help="declared purpose, e.g. `marketing_sms`")],
    attribute: Annotated[list[str], typer.Option(
        "--attribute", "-a", help="attribute, or `attribute:view`; repeat for more")],
    employee: Annotated[str, typer.Option(
        help="who is asking (recorded in the access log when a real customer is read; "
             "default: your login name)")] = "",
    rrn: Annotated[str | None, typer.Option(
        help="demo customer's RRN; `-` reads it from stdin (keeps it out of shell history)")
    ] = None,
    pseudonym: Annotated[str | None, typer.Option(
        help="the calling affiliate's pseudonym of the customer")] = None,
    consent: Annotated[list[str] | None, typer.Option(
        help="what-if consent: `categories=contact+identity,channel=sms,expires=...`; "
             "recipient, purpose, channel default to the request's")] = None,
    consents_file: Annotated[Path | None, typer.Option(
        "--consents", help="YAML file of what-if consents (`consents:` list)")] = None,
    customer_unknown: Annotated[bool, typer.Option(
        help="what-if: the caller's affiliate does not hold the customer")] = False,
    at: Annotated[str | None, typer.Option(
        help="decision time, ISO 8601 with zone (default: now)")] = None,
    policy_dir: Annotated[Path | None, typer.Option(help="policy folder")] = None,
    output: Annotated[ExplainFormat, typer.Option("--format")] = ExplainFormat.text,
) -> None:
    """Explain one decision: rules, views and consents, by the same `decide` as the API.

    With --rrn or --pseudonym the customer and their consents come from the gateway's
    database; otherwise it is a what-if run on the given consents only.
    """
    settings = settings_from_env()
    try:
        policy = load_policy(policy_dir or Path(settings.policy_dir),
                             Path(settings.public_keys_dir))
    except PolicyLoadError as exc:
        raise _problems(exc, 1) from None
    try:
        if rrn is not None and pseudonym is not None:
            raise ExplainInputError("give `--rrn` or `--pseudonym`, not both")
        if rrn == "-":
            rrn = sys.stdin.readline().strip()
        now = _time(at)
        caller = caller_for(policy, system, employee or login_name("policy-explain"))
        wanted = [parse_attribute(a) for a in attribute]
        hypothetical: list[WhatIfConsent] = [parse_consent_option(c) for c in consent or ()]
        if consents_file is not None:
            hypothetical += load_consents_file(consents_file)
        extra = what_if_records(hypothetical, caller, policy, PurposeId(purpose), now)
        if rrn is not None or pseudonym is not None:
            if customer_unknown:
                raise ExplainInputError("`--customer-unknown` is for what-if runs only")
            customer, stored, stops = _stored_customer(policy, caller, rrn, pseudonym, purpose)
        else:
            customer = CustomerInfo("what-if", None, not customer_unknown, None)
            stored, stops = [], []
        result = explain(policy, caller, PurposeId(purpose), wanted, stored + extra, now=now,
                         customer=customer, policy_source=str(policy_dir or settings.policy_dir),
                         stops=stops)
    except GatewayError as exc:
        fail(exc)
    if output is ExplainFormat.json:
        typer.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
    else:
        typer.echo(to_text(result), nl=False)


@policy_app.command("diff")
def policy_diff(
    old: Annotated[str, typer.Argument(help="old policy: a folder, or a git revision "
                                            "(`HEAD~1`, `main:policies`)")],
    new: Annotated[str, typer.Argument(help="new policy: a folder or a git revision")],
    repo: Annotated[Path, typer.Option(help="git working tree for revisions")] = Path("."),
    output: Annotated[DiffFormat, typer.Option("--format")] = DiffFormat.markdown,
    fail_on_widening: Annotated[bool, typer.Option(
        help="exit 1 when the change widens any access (for CI)")] = False,
) -> None:
    """List every access the change opens, closes, widens or narrows, per recipient × purpose.

    Exit 0 (1 with --fail-on-widening and a widening; 2 when a side cannot be loaded).
    """
    from gateway.policy.diff import diff_policies, to_markdown
    from gateway.policy.snapshot import snapshot

    settings = settings_from_env()
    default_path = Path(settings.policy_dir)
    if default_path.is_absolute():
        default_path = Path(os.path.relpath(default_path, repo.resolve()))
    try:
        with snapshot(old, repo=repo, default_path=default_path.as_posix()) as (la, a), \
                snapshot(new, repo=repo, default_path=default_path.as_posix()) as (lb, b):
            result = diff_policies(a, b, labels=(la, lb))
    except PolicyLoadError as exc:
        raise _problems(exc, 2) from None
    except GatewayError as exc:
        fail(exc)
    if output is DiffFormat.json:
        typer.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
    else:
        typer.echo(to_markdown(result), nl=False)
    if fail_on_widening and result.widenings:
        typer.secho(f"{result.widenings} widening(s)", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1)
