"""The `gateway` command-line program: serve, demo, seed, keys, tokens, policy, log, db."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from gateway.errors import GatewayError
from gateway.settings import Settings, get_settings

app = typer.Typer(
    help="Affiliate data gateway. Settings come from GATEWAY_* environment variables "
    "(GATEWAY_DATA_DIR, GATEWAY_DATABASE_URL, GATEWAY_POLICY_DIR, ...) or a .env file.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="Key material: the gateway's secrets and the demo systems' keys.")
policy_app = typer.Typer(help="Policy files: check them.")
log_app = typer.Typer(help="The access log: checkpoints and export.")
db_app = typer.Typer(help="The gateway database schema (Alembic migrations).")
app.add_typer(keys_app, name="keys")
app.add_typer(policy_app, name="policy")
app.add_typer(log_app, name="log")
app.add_typer(db_app, name="db")


def _fail(exc: GatewayError) -> None:
    typer.secho(f"error: {exc.detail}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code=2)


def _settings(demo: bool = False) -> Settings:
    settings = get_settings()
    if demo:
        settings = settings.model_copy(update={"demo": True})
    return settings


# --- keys ------------------------------------------------------------------------------------
@keys_app.command("init")
def keys_init(
    systems: Annotated[bool, typer.Option(help="also generate demo key pairs for every "
                                          "system in the policy")] = True,
) -> None:
    """Generate the gateway's master key and log-signing key (and demo system keys)."""
    from gateway.keys import generate_system_keys
    from gateway.services import ensure_secrets

    settings = _settings()
    try:
        ensure_secrets(settings, create=True)
        made: list[str] = []
        if systems:
            made = list(generate_system_keys(Path(settings.policy_dir),
                                             Path(settings.public_keys_dir),
                                             settings.secrets_path))
    except GatewayError as exc:
        _fail(exc)
    typer.echo(f"gateway secrets in {settings.secrets_path}")
    if made:
        typer.echo(f"generated demo keys for {len(made)} systems "
                   f"(public: {settings.public_keys_dir}/systems, private: "
                   f"{settings.secrets_path}/systems)")


# --- database --------------------------------------------------------------------------------
@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the gateway database to the latest schema."""
    from gateway.db.migrate import upgrade

    settings = _settings()
    upgrade(settings.gateway_url)
    typer.echo("gateway database is at the latest schema")


# --- policy ----------------------------------------------------------------------------------
@policy_app.command("check")
def policy_check(
    directory: Annotated[Optional[Path], typer.Argument(help="policy folder")] = None,
) -> None:
    """Validate the policy set; exits non-zero on any error, naming file and line."""
    from gateway.policy import PolicyLoadError, load_policy

    settings = _settings()
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


# --- data ------------------------------------------------------------------------------------
def _seed(settings: Settings, customers: int, force: bool) -> bool:
    """Seed the embedded demo; returns False when it was seeded already."""
    from gateway.affiliates import AffiliateDatabases
    from gateway.db.engine import make_engine
    from gateway.db.migrate import upgrade
    from gateway.seed import AlreadySeeded, seed
    from pseudonymizer.keys import FileKeyProvider

    upgrade(settings.gateway_url)
    engine = make_engine(settings.gateway_url)
    databases = AffiliateDatabases(settings.affiliate_database_urls)
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        rate = done / max(time.perf_counter() - started, 1e-9)
        typer.echo(f"\r  seeded {done:,}/{total:,} customers ({rate:,.0f}/s)", nl=False)

    try:
        seed(engine, databases, FileKeyProvider(settings.secrets_path),
             n_customers=customers, progress=progress, force=force)
    except AlreadySeeded:
        return False
    finally:
        databases.close()
        engine.dispose()
    typer.echo(f"\n  done in {time.perf_counter() - started:.1f} s")
    return True


@app.command("seed")
def seed_cmd(
    customers: Annotated[int, typer.Option(min=1, help="how many synthetic customers")] = 100_000,
    force: Annotated[bool, typer.Option(help="re-seed even if data exists")] = False,
) -> None:
    """Build the synthetic group: affiliates' customers, registry, relationships."""
    settings = _settings()
    try:
        from gateway.services import ensure_secrets

        ensure_secrets(settings, create=True)
        if not _seed(settings, customers, force):
            typer.echo("already seeded (use --force to rebuild)")
    except GatewayError as exc:
        _fail(exc)


# --- tokens ----------------------------------------------------------------------------------
@app.command("token")
def token_cmd(
    system: Annotated[str, typer.Argument(help="system id, e.g. card-marketing")],
    employee: Annotated[str, typer.Option(help="the employee or job behind the call")] = "demo-user",
    lifetime: Annotated[int, typer.Option(min=1, max=300, help="seconds")] = 120,
) -> None:
    """Mint a demo JWT for a demo system (its private key was generated by `keys init`)."""
    import yaml

    from gateway.keys import mint_token

    settings = _settings()
    algorithm = None
    doc = yaml.safe_load((Path(settings.policy_dir) / "affiliates.yaml").read_text("utf-8"))
    for affiliate in doc.get("affiliates", []):
        for entry in affiliate.get("systems", []):
            if entry.get("id") == system:
                algorithm = entry.get("algorithm")
    if algorithm is None:
        typer.secho(f"error: unknown system `{system}`", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2)
    try:
        token = mint_token(settings.secrets_path / "systems" / f"{system}.key.pem",
                           system=system, employee=employee, audience=settings.audience,
                           lifetime_s=lifetime, algorithm=algorithm)
    except GatewayError as exc:
        _fail(exc)
    typer.echo(token)


# --- serving ---------------------------------------------------------------------------------
def _serve(settings: Settings, host: str | None, port: int | None, workers: int) -> None:
    import uvicorn

    from gateway.api.app import create_app

    bind = {"host": host or settings.host, "port": port or settings.port,
            "log_level": "warning", "access_log": False}
    if workers > 1:
        # Each worker builds its own services from the same GATEWAY_* settings; the access
        # log and the token-id store are safe for several processes sharing one database.
        uvicorn.run("gateway.api.app:create_app", factory=True, workers=workers, **bind)
    else:
        uvicorn.run(create_app(settings), **bind)


@app.command("serve")
def serve(
    host: Annotated[Optional[str], typer.Option(help="bind address")] = None,
    port: Annotated[Optional[int], typer.Option(help="port")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="server processes")] = 1,
) -> None:
    """Serve the HTTP API (policy, keys and database must be ready)."""
    settings = _settings()
    try:
        from gateway.db.migrate import upgrade

        upgrade(settings.gateway_url)
        _serve(settings, host, port, workers)
    except GatewayError as exc:
        _fail(exc)


@app.command("demo")
def demo(
    customers: Annotated[int, typer.Option(min=100, help="synthetic customers to seed")] = 100_000,
    serve_api: Annotated[bool, typer.Option("--serve/--no-serve", help="serve after set-up")] = True,
    port: Annotated[Optional[int], typer.Option(help="port")] = None,
) -> None:
    """One-shot demo: keys, schema, synthetic data (if needed), an example request, serve."""
    from gateway.demo import write_example

    settings = _settings(demo=True)
    try:
        from gateway.keys import generate_system_keys
        from gateway.services import ensure_secrets

        ensure_secrets(settings, create=True)
        generate_system_keys(Path(settings.policy_dir), Path(settings.public_keys_dir),
                             settings.secrets_path)
        typer.echo("seeding the synthetic group (once)...")
        if not _seed(settings, customers, False):
            typer.echo("  already seeded")
        example = write_example(settings)
    except GatewayError as exc:
        _fail(exc)
    bind_port = port or settings.port
    typer.echo(example.instructions(settings.host, bind_port))
    if serve_api:
        _serve(settings, None, bind_port, 1)


# --- log -------------------------------------------------------------------------------------
@log_app.command("checkpoint")
def log_checkpoint() -> None:
    """Sign and print the current checkpoint (C2SP signed note) and the verifier key."""
    from gateway.services import Services

    settings = _settings()
    try:
        services = Services.build(settings)
    except GatewayError as exc:
        _fail(exc)
    try:
        typer.echo(services.access_log.checkpoint(), nl=False)
        typer.echo(f"\nverifier key: {services.signer.verifier_key()}")
    finally:
        services.close()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
