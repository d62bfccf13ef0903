"""`gateway keys`: the gateway's own secrets, log-key rotation and the demo systems' keys."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.common import built_services, fail, login_name, settings_from_env
from gateway.errors import GatewayError

keys_app = typer.Typer(help="Key material: the gateway's secrets and the demo systems' keys.")


@keys_app.command("init")
def keys_init(
    systems: Annotated[bool, typer.Option(help="also generate demo key pairs for every "
                                          "system in the policy")] = True,
) -> None:
    """Generate the gateway's master key, log-signing key and consent-receipt key (and demo
    system keys)."""
    from gateway.keys import generate_system_keys
    from gateway.services import ensure_secrets

    settings = settings_from_env()
    try:
        ensure_secrets(settings, create=True)
        made: list[str] = []
        if systems:
            made = list(generate_system_keys(Path(settings.policy_dir),
                                             Path(settings.public_keys_dir),
                                             settings.secrets_path))
    except GatewayError as exc:
        fail(exc)
    typer.echo(f"gateway secrets in {settings.secrets_path}")
    if made:
        typer.echo(f"generated demo keys for {len(made)} systems "
                   f"(public: {settings.public_keys_dir}/systems, private: "
                   f"{settings.secrets_path}/systems)")


ReasonOption = Annotated[str | None, typer.Option(help="why the key is rotated (recorded)")]
OperatorOption = Annotated[str | None, typer.Option(
    help="who rotates it (recorded; default: the login name)")]


@keys_app.command("rotate-log-key")
def keys_rotate_log_key(
    reason: ReasonOption = None,
    operator: OperatorOption = None,
) -> None:
    """Introduce a new log-signing key; the switch is an access record, co-signed by both keys."""
    from gateway.keyrotation import rotate_log_key

    settings = settings_from_env()
    with built_services(settings) as services:
        done = rotate_log_key(
            services.access_log, services.signer, Path(settings.public_keys_dir),
            now=datetime.now(UTC), trigger="cli", operator=operator or login_name("unknown"),
            reason=reason, policy_version=services.policy.current.version,
        )
    typer.echo(f"log-signing key rotated: version {done.old_version} -> {done.new_version} "
               f"(recorded at log index {done.log_index})")
    typer.echo(f"old verifier key: {done.old_key}")
    typer.echo(f"new verifier key: {done.new_key}")
    typer.echo(f"published in {Path(settings.public_keys_dir) / 'log'}; hand-over checkpoint "
               "(signed by both keys):")
    typer.echo(done.checkpoint, nl=False)


@keys_app.command("rotate-master")
def keys_rotate_master(
    reason: ReasonOption = None,
    operator: OperatorOption = None,
) -> None:
    """New master key version for pseudonyms and RRN encryption; recorded in the access log."""
    from gateway.keyrotation import rotate_master_key

    settings = settings_from_env()
    with built_services(settings) as services:
        done = rotate_master_key(
            services.access_log, services.keys, now=datetime.now(UTC), trigger="cli",
            grace_days=settings.pseudonym_grace_days, operator=operator or login_name("unknown"),
            reason=reason, policy_version=services.policy.current.version,
        )
    typer.echo(f"master key rotated: version {done.old_version} -> {done.new_version} "
               f"(recorded at log index {done.log_index}); pseudonyms of version "
               f"{done.old_version} resolve for {settings.pseudonym_grace_days} more days")


@keys_app.command("log-keys")
def keys_log_keys() -> None:
    """List the log-signing key versions (active, pending, retired) and published verifier keys."""
    from gateway.accesslog import keyring as kr

    settings = settings_from_env()
    secrets, public = settings.secrets_path, Path(settings.public_keys_dir)
    try:
        published = kr.published_verifier_keys(public)
    except GatewayError as exc:
        fail(exc)
    states = {**{v: "retired" for v in kr.retired_keys(secrets)},
              **{v: "pending" for v in kr.pending_keys(secrets)},
              **{v: "standby" for v in kr.active_keys(secrets)}}
    active = max(kr.active_keys(secrets), default=None)
    if active is not None:
        states[active] = "signing"
    for version in sorted({*states, *published}):
        state = states.get(version, "no private key here")
        typer.echo(f"v{version}\t{state}\t{published.get(version, '(not published)')}")


@keys_app.command("receipt-key")
def keys_receipt_key() -> None:
    """Where the consent-receipt public key is published, and its key id (the JWS `kid`)."""
    from gateway.rights import receipt_keys as rk

    settings = settings_from_env()
    try:
        signer = rk.load_receipt_signer(settings.secrets_path)
        path = rk.publish(Path(settings.public_keys_dir), signer)  # idempotent
    except GatewayError as exc:
        fail(exc)
    typer.echo(f"receipt key id (kid): {signer.kid}")
    typer.echo(f"public key: {path}")
    typer.echo(f"verify a receipt: gateway-verify receipt FILE --key {path}")
