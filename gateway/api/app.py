"""The FastAPI application factory and its lifespan (services, checkpoint cadence)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import logging
import signal
from datetime import datetime, timezone
from collections.abc import AsyncIterator
from typing import Any

from anyio import to_thread
from fastapi import FastAPI

from gateway import __version__
from gateway.api.fastpath import QueryFastPath
from gateway.api.middleware import BodyGuard
from gateway.api.routing import RouteIndex
from gateway.api.openapi import install_openapi
from gateway.api.problems import install_problem_handlers
from gateway.api.routes import (
    admin,
    baseline,
    campaigns,
    catalog,
    consents,
    contact_stops,
    health,
    history,
    log,
    pseudonyms,
    queries,
    releases,
)
from gateway.console import install_console
from gateway.reload import PolicyWatcher
from gateway.rights.releases import FOLLOW_INTERVAL_S, release_index
from gateway.services import Services
from gateway.settings import Settings, get_settings

logger = logging.getLogger("gateway.api")

DESCRIPTION = """The single door between the affiliates of the group. Ask for a customer's
attributes and declare why; the gateway checks the purpose against the policy and the
customer's consent, pseudonymizes, releases only the minimum in the least revealing view, and
records every decision in a signed, tamper-evident log before answering."""


async def _checkpoint_loop(services: Services, interval: float) -> None:
    """Sign a checkpoint on a cadence while records arrive (cheap when nothing changed)."""
    while True:
        await asyncio.sleep(interval)
        try:
            await to_thread.run_sync(services.access_log.checkpoint)
        except Exception as exc:  # keep serving: a missed checkpoint is retried next tick
            logger.error("checkpoint failed: %s", type(exc).__name__)


async def _token_purge_loop(services: Services, interval: float) -> None:
    """Keep the used-token-id table small: ids of expired tokens cannot be replayed anyway."""
    while True:
        await asyncio.sleep(interval)
        try:
            purged = await to_thread.run_sync(
                lambda: services.authenticator.purge_used_token_ids(datetime.now(timezone.utc)))
            if purged:
                logger.info("forgot %d expired token ids", purged)
        except Exception as exc:  # replay protection stands: ids are kept, not lost
            logger.error("token id purge failed: %s", type(exc).__name__)


async def _key_refresh_loop(services: Services, interval: float) -> None:
    """Notice a master key rotated by `gateway keys rotate-master` (new version for new data)."""
    while True:
        await asyncio.sleep(interval)
        try:
            await to_thread.run_sync(services.keys.reload)
        except Exception as exc:  # keep the versions already loaded
            logger.error("master key refresh failed: %s", type(exc).__name__)


async def _policy_follow_loop(services: Services, interval: float) -> None:
    """Switch to a policy set approved in another process (or by `gateway policy approve`)."""
    while True:
        await asyncio.sleep(interval)
        try:
            await to_thread.run_sync(services.reloader.follow)
        except Exception as exc:  # keep serving on the policy in force; retried next tick
            logger.error("policy follow failed: %s", type(exc).__name__)


async def _policy_watch_loop(services: Services, interval: float) -> None:
    """Poll the policy files; a changed, valid set is held pending until it is approved."""
    watcher = PolicyWatcher(services.reloader)
    try:  # files edited while the gateway was down: held pending now, not at the next edit
        await to_thread.run_sync(lambda: services.reloader.reload("start"))
    except Exception as exc:
        logger.error("policy check at start failed: %s", type(exc).__name__)
    while True:
        await asyncio.sleep(interval)
        try:
            await to_thread.run_sync(watcher.poll)
        except Exception as exc:  # keep serving on the policy in force; retried next tick
            logger.error("policy watch failed: %s", type(exc).__name__)


async def _releases_follow_loop(services: Services, interval: float) -> None:
    """Keep the releases index (use-by, destruction) close behind the log, off the query path."""
    follower = release_index(services.gateway_engine, services.access_log)
    while True:
        await asyncio.sleep(interval)
        try:
            await to_thread.run_sync(follower.catch_up)
        except Exception as exc:  # the log holds everything: the next tick reads on
            logger.error("releases follower failed: %s", type(exc).__name__)


def _install_sighup(services: Services) -> bool:
    """SIGHUP reloads the policy (main thread of a Unix process only; else not installed)."""
    loop = asyncio.get_running_loop()

    def on_hup() -> None:
        loop.run_in_executor(None, lambda: services.reloader.reload("sighup"))

    try:
        loop.add_signal_handler(signal.SIGHUP, on_hup)
    except (ValueError, RuntimeError, NotImplementedError, AttributeError):
        return False  # not the main thread (test clients) or no SIGHUP on this platform
    return True


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = services or Services.build(settings)
        app.state.services = svc
        # what start-up built (policy, schemas, compiled statements) lives as long as the
        # process: out of the collector's generations, a full collection no longer walks it
        gc.collect()
        gc.freeze()
        tasks = [asyncio.create_task(_checkpoint_loop(svc, settings.checkpoint_interval_s)),
                 asyncio.create_task(
                     _policy_follow_loop(svc, svc.settings.policy_follow_interval_s))]
        if svc.reloader.auto_apply:
            logger.warning(
                "policy AUTO-APPLY is on%s: a changed, valid policy set goes live without a "
                "second officer's approval (GATEWAY_POLICY_AUTO_APPLY=false turns it off)",
                " (demo)" if svc.settings.demo else ", OUTSIDE the demo")
        if settings.policy_watch_interval_s > 0:
            tasks.append(asyncio.create_task(
                _policy_watch_loop(svc, settings.policy_watch_interval_s)))
        tasks.append(asyncio.create_task(
            _token_purge_loop(svc, settings.token_purge_interval_s)))
        tasks.append(asyncio.create_task(
            _key_refresh_loop(svc, settings.key_refresh_interval_s)))
        if settings.host_log_writer is None:  # else the host's log writer process follows
            tasks.append(asyncio.create_task(_releases_follow_loop(svc, FOLLOW_INTERVAL_S)))
        # unauthenticated refusals: one record per source and minute, after the minute closes
        tasks.append(asyncio.create_task(svc.unauthenticated.run()))
        hup = _install_sighup(svc)
        try:
            yield
        finally:
            if hup:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            # what was counted of the open minute is written now: a clean stop loses nothing
            # (a failure is logged by `drain`; the counts are then lost with the process)
            with contextlib.suppress(Exception):
                await svc.unauthenticated.drain()
            with contextlib.suppress(Exception):
                await to_thread.run_sync(svc.access_log.checkpoint)
            if services is None:
                svc.close()

    app = FastAPI(
        title="Affiliate data gateway",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        **_no_telemetry(),
        docs_url=None,  # served offline by the console (`gateway.console.pages.docs`)
        redoc_url=None,  # likewise (`/redoc`)
    )
    install_problem_handlers(app)
    install_openapi(app)
    app.include_router(queries.router)
    app.include_router(consents.router)
    app.include_router(contact_stops.router)
    app.include_router(history.router)
    app.include_router(campaigns.router)
    app.include_router(releases.router)
    app.include_router(pseudonyms.router)
    app.include_router(log.router)
    app.include_router(catalog.router)
    app.include_router(health.router)
    app.include_router(admin.router)
    install_console(app)
    if settings.unsafe_bench_baseline:
        logger.warning("UNSAFE: /unsafe/baseline is mounted; never do this outside a benchmark")
        app.include_router(baseline.router)
    RouteIndex.install(app.router)
    # innermost first: the query route's fast path runs inside the body guard (request id,
    # size and media-type limits)
    app.add_middleware(QueryFastPath)
    app.add_middleware(BodyGuard, max_body_bytes=settings.max_body_bytes,
                       max_form_bytes=settings.console_max_upload_bytes)
    return app


def _no_telemetry() -> dict[str, Any]:
    """FastAPI's own OpenTelemetry hooks, switched off: the gateway exports no traces, and
    asking whether a tracer is configured costs every request (FastAPI ≥ 0.165 has them)."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
