"""Composition root: builds every component of the request path from the settings, once."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from sqlalchemy.engine import Engine

from gateway.accesslog import AccessLog
from gateway.accesslog import keyring as log_keys
from gateway.rights import receipt_keys
from gateway.accesslog.keyring import LogKeyring
from gateway.affiliates import AffiliateDatabases
from gateway.auth import Authenticator, JtiStore
from gateway.auth.offload import RemoteSignatures
from gateway.auth.token_ids import TokenIds
from gateway.consents import ConsentStore
from gateway.db.engine import make_engine
from gateway.db.base import Base
from gateway.db.models import UsedToken
from gateway.domain import AffiliateId, SystemId
from gateway.errors import ConfigError, KeyLoadError
from gateway.marketing.stops import ContactStopStore
from gateway.governance.startup import policy_in_force
from gateway.governance.store import PolicySetStore
from gateway.policy import Policy
from gateway.pseudonyms import DEFAULT_SCHEME, RecipientPseudonyms
from gateway.registry import CustomerRegistry
from gateway.reload import PolicyReloader
from gateway.settings import Settings
from gateway.unauthenticated import UnauthenticatedRefusals
from pseudonymizer.errors import PseudonymizerError
from pseudonymizer.keys import FileKeyProvider
from pseudonymizer.vault import RrnVault

log = logging.getLogger("gateway.services")

T = TypeVar("T")

LOG_SIGNING_KEY = log_keys.LEGACY_KEY_FILE  # version 1; rotations add log-signing-v<N>.key.pem


class PolicyHolder:
    """The policy in force; swapped atomically as a whole (never edited in place)."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._lock = threading.Lock()

    @property
    def current(self) -> Policy:
        return self._policy

    def replace(self, policy: Policy) -> Policy:
        with self._lock:
            old, self._policy = self._policy, policy
        return old


def ensure_secrets(settings: Settings, *, create: bool) -> None:
    """Generate the gateway's own keys on first run (embedded default) or insist they exist."""
    secrets = settings.secrets_path
    has_master = secrets.is_dir() and any(secrets.glob("master-v*.key"))
    has_log_key = log_keys.has_active_key(secrets)  # version 1 or a rotated one
    has_receipt_key = receipt_keys.has_receipt_key(secrets)
    if has_master and has_log_key and has_receipt_key:
        return
    if not create:
        raise ConfigError(
            f"gateway keys missing in `{secrets}`: run `gateway keys init` first"
        )
    secrets.mkdir(parents=True, exist_ok=True)
    if not has_master:
        try:
            FileKeyProvider.create(secrets)
        except PseudonymizerError as exc:
            raise KeyLoadError(f"gateway master key could not be created: {exc}") from exc
    if not has_log_key:
        signer = log_keys.create_first_key(secrets, settings.log_origin)
        # a new deployment's first key replaces a stale published one (e.g. a wiped demo)
        log_keys.publish_verifier_key(Path(settings.public_keys_dir), 1, signer, replace=True)
    if not has_receipt_key:  # consent receipts (issue #11): published like the log's key
        receipt_keys.create_receipt_key(secrets, Path(settings.public_keys_dir))


@dataclass
class Services:
    settings: Settings
    policy: PolicyHolder
    gateway_engine: Engine
    log_engine: Engine
    tokens_engine: Engine
    affiliates: AffiliateDatabases
    keys: FileKeyProvider
    vault: RrnVault
    pseudonymizer: RecipientPseudonyms  # each recipient in its policy's scheme
    registry: CustomerRegistry
    consents: ConsentStore
    contact_stops: ContactStopStore  # 수신거부: read on every marketing query, never cached
    access_log: AccessLog
    authenticator: Authenticator
    token_ids: TokenIds
    # True when every database is an SQLite file: its indexed reads take microseconds, less
    # than a hop to a worker thread, so the request path runs them on the event loop
    inline_reads: bool
    signer: LogKeyring  # the newest log-signing key; follows rotations on disk
    reloader: PolicyReloader
    # refusals of callers not proven, counted per source and minute (one record each)
    unauthenticated: UnauthenticatedRefusals
    # the host's signature service (`gateway serve` with a core to spare), else None
    signatures: RemoteSignatures | None = None
    _closed: bool = field(default=False, repr=False)
    _read_pool: ThreadPoolExecutor | None = field(default=None, repr=False)
    _readers_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def build(cls, settings: Settings, *, policy: Policy | None = None) -> Services:
        ensure_secrets(settings, create=settings.demo)
        # The log gets its own pool with synchronous=FULL: its commit is the durability point
        # of the request. Everything else on the gateway database (token ids, consents) may
        # commit with NORMAL, because in WAL mode the log's fsync covers every earlier commit:
        # nothing is released before that fsync, so nothing released can lack its token id.
        engine = make_engine(settings.gateway_url, synchronous="NORMAL")
        log_engine = make_engine(settings.gateway_url, synchronous="FULL")
        try:
            keys = FileKeyProvider(settings.secrets_path)
        except PseudonymizerError as exc:
            raise KeyLoadError(f"gateway master key could not be loaded: {exc}") from exc
        # The set in force is the approved one (`policy_sets`), whatever the folder holds now;
        # a caller may pass its own (e.g. `policy explain` against a candidate set).
        store = PolicySetStore(engine)
        if policy is None:
            policy = policy_in_force(store, Path(settings.policy_dir),
                                     Path(settings.public_keys_dir))
        holder = PolicyHolder(policy)
        vault = RrnVault(keys)
        registry = CustomerRegistry(engine, vault)

        def scheme_of(recipient: str) -> str:
            affiliate = holder.current.affiliates.get(AffiliateId(recipient))
            return DEFAULT_SCHEME if affiliate is None else affiliate.pseudonym_scheme

        pseudonymizer = RecipientPseudonyms(
            keys, grace=timedelta(days=settings.pseudonym_grace_days), numbers=registry,
            scheme_of=scheme_of)
        signer = LogKeyring(settings.secrets_path, name=settings.log_origin)
        access_log = AccessLog(
            log_engine,
            signer,
            origin=settings.log_origin,
            batch_max=settings.log_batch_max,
            batch_wait_ms=settings.log_batch_wait_ms,
            batch_linger_ms=settings.log_batch_linger_ms,
            create_tables=False,  # the schema belongs to the Alembic migrations
            host_writer=settings.host_log_writer,
        )
        tokens_engine = engine
        separate_tokens = settings.tokens_url != settings.gateway_url
        if separate_tokens:
            tokens_engine = make_engine(settings.tokens_url, synchronous="NORMAL")
            Base.metadata.create_all(tokens_engine, tables=[UsedToken.__table__])  # type: ignore[list-item]
        jti_store = JtiStore(tokens_engine)
        authenticator = Authenticator(
            lambda system_id: holder.current.systems.get(SystemId(system_id)),
            jti_store,
            audience=settings.audience,
            max_lifetime_s=settings.max_token_lifetime_s,
            skew_s=settings.clock_skew_s,
        )
        token_ids = TokenIds(access_log, jti_store=jti_store if separate_tokens else None)
        urls = [settings.gateway_url, settings.tokens_url,
                *settings.affiliate_database_urls.values()]
        return cls(
            signatures=(RemoteSignatures(settings.host_signatures)
                        if settings.host_signatures else None),
            settings=settings,
            policy=holder,
            gateway_engine=engine,
            log_engine=log_engine,
            tokens_engine=tokens_engine,
            affiliates=AffiliateDatabases(settings.affiliate_database_urls),
            keys=keys,
            vault=vault,
            pseudonymizer=pseudonymizer,
            registry=registry,
            consents=ConsentStore(engine),
            contact_stops=ContactStopStore(engine),
            access_log=access_log,
            authenticator=authenticator,
            token_ids=token_ids,
            inline_reads=(all(url.startswith("sqlite") for url in urls)
                          if settings.inline_reads is None else settings.inline_reads),
            signer=signer,
            reloader=PolicyReloader(holder, access_log, Path(settings.policy_dir),
                                    Path(settings.public_keys_dir), store,
                                    auto_apply=settings.policy_auto_apply_effective),
            unauthenticated=UnauthenticatedRefusals(
                access_log, policy_version=lambda: holder.current.version,
                max_sources=settings.unauthenticated_sources_per_minute),
        )

    async def run_reads(self, function: Callable[..., T], *args: object) -> T:
        """Run a synchronous stretch of the request path that reads the databases: on the
        event loop when every database is SQLite (`inline_reads`), else in one of
        `read_threads` threads of its own (which bounds the readers' connections too), in a
        copy of the request's context.

        A pool of the process's own rather than anyio's `to_thread`: measured on uvloop, the
        hop costs the event loop 9 µs of CPU against anyio's 33 (its limiter, events and
        cancel scope), and 18 µs of wall time against 65."""
        if self.inline_reads:
            return function(*args)
        call = functools.partial(contextvars.copy_context().run, function, *args)
        return await asyncio.get_running_loop().run_in_executor(self._readers(), call)

    def _readers(self) -> ThreadPoolExecutor:
        pool = self._read_pool
        if pool is None:  # made on first use, once
            with self._readers_lock:
                if self._read_pool is None:
                    self._read_pool = ThreadPoolExecutor(self.settings.read_threads,
                                                         thread_name_prefix="gateway-read")
                pool = self._read_pool
        return pool

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._read_pool is not None:  # idle, or finishing a read nobody waits for
            self._read_pool.shutdown(wait=False, cancel_futures=True)
        self.access_log.close()
        if self.signatures is not None:
            self.signatures.close()
        self.affiliates.close()
        self.gateway_engine.dispose()
        self.log_engine.dispose()
        self.tokens_engine.dispose()
