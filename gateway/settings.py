"""One settings object for the whole gateway: environment variables `GATEWAY_*` or a .env file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

AFFILIATES = ("holding", "bank", "card", "securities", "insurance")


class Settings(BaseSettings):
    """Gateway configuration. Every field can be set as `GATEWAY_<NAME>` (e.g. GATEWAY_DATA_DIR)."""

    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_", env_file=".env", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Field(Path("data"), description="folder of the embedded default's files")
    database_url: str | None = Field(
        None, description="gateway database (registry, consents, log); default SQLite in data_dir"
    )
    token_database_url: str | None = Field(
        None, description="where used token ids (`jti`) are remembered; default: the gateway "
        "database, where each id is written in the same commit as its request's access record "
        "(a separate database costs every request a second commit)",
    )
    affiliate_database_urls: dict[str, str] = Field(
        default_factory=dict,
        description="affiliate id -> SQLAlchemy URL of its customer database; "
        "default one SQLite file per affiliate in data_dir/affiliates",
    )
    policy_dir: Path = Field(Path("policies"), description="folder of the policy YAML files")
    public_keys_dir: Path = Field(
        Path("keys"), description="folder the policy's system public-key paths are relative to"
    )
    secrets_dir: Path | None = Field(
        None, description="folder of the gateway's own secret keys; default data_dir/secrets"
    )
    audience: str = Field("affiliate-gateway", description="JWT `aud` this gateway accepts")
    max_token_lifetime_s: int = Field(300, ge=1, le=300)
    clock_skew_s: int = Field(30, ge=0, le=120)
    log_origin: str = Field("gateway.example-holdings.co.kr/access-log")
    log_batch_max: int = Field(256, ge=1)
    log_batch_wait_ms: float = Field(
        0.0, ge=0,
        description="how long the log writer waits for more records before a commit; 0: none "
        "(records that arrive while one batch commits form the next batch, so batches grow "
        "with the load by themselves, and a lone request never waits)",
    )
    log_batch_linger_ms: float = Field(
        2.0, ge=0, le=50,
        description="how long the log writer may wait for the records of requests this process "
        "is still deciding, to commit them together; it never waits when none are under way, so "
        "a lone request never waits",
    )
    log_writer: Literal["host", "process"] = Field(
        "host",
        description="who writes the access log under `gateway serve`: `host`, one writer "
        "process that every server process of the host hands its records to (one group commit "
        "for all of them); `process`, a writer thread in each server process (the processes "
        "take turns on the log)",
    )
    log_host_linger_ms: float = Field(
        0.5, ge=0, le=50,
        description="how long the host's log writer may wait, once a server process sent its "
        "records, for the other server processes that sent lately, to commit them together",
    )
    log_wal_checkpoint_ms: float = Field(
        100.0, ge=0, le=60_000,
        description="SQLite: how often the host's log writer process checkpoints the log file's "
        "write-ahead log from a thread of its own, so that no batch's commit carries a "
        "checkpoint (`gateway.db.walcheckpoint`); 0: inside the commits, SQLite's default",
    )
    host_log_writer: str | None = Field(
        None, description="set by `gateway serve` for its server processes: the socket of the "
        "host's log writer process; unset: the process writes its own access log")
    signature_offload: Literal["auto", "on", "off"] = Field(
        "auto",
        description="whether `gateway serve` has token signatures checked by the host's log "
        "writer process, on a core the server processes leave spare, instead of on each server "
        "process's event loop: `auto`, when it runs fewer server processes than the machine has "
        "cores (with as many, no core is spare); `on`, always; `off`, never. Needs the host's "
        "log writer (`log_writer` = `host`). A check the service does not answer is made in the "
        "server process",
    )
    host_signatures: str | None = Field(
        None, description="set by `gateway serve` for its server processes: the socket of the "
        "host's signature service; unset: each process checks token signatures itself")
    checkpoint_interval_s: float = Field(1.0, gt=0)
    pseudonym_grace_days: int = Field(
        90, ge=0, le=3650,
        description="after a key rotation, pseudonyms of the old key version keep resolving this "
        "many days (counted from the new version's creation), then are refused",
    )
    key_refresh_interval_s: float = Field(
        10.0, gt=0, description="how often a running gateway looks for a rotated master key")
    token_purge_interval_s: float = Field(
        300.0, gt=0, description="how often ids of expired tokens are forgotten")
    policy_watch_interval_s: float = Field(
        2.0, ge=0,
        description="poll the policy files this often and hold a changed, valid set pending "
        "until a second officer approves it (0 turns the watcher off; SIGHUP and POST "
        "/v1/admin/policy/reload still work)",
    )
    policy_follow_interval_s: float = Field(
        2.0, gt=0,
        description="how often a running gateway looks for a policy set approved elsewhere "
        "(another process, `gateway policy approve`) and switches to it",
    )
    policy_auto_apply: bool | None = Field(
        None,
        description="UNSAFE outside the demo: a changed, valid policy set goes live at once, "
        "approved in the name of `auto-apply` instead of a second officer; default: on in the "
        "demo only",
    )
    inline_reads: bool | None = Field(
        None,
        description="run the request path's reads on the event loop (true) or in worker threads "
        "(false); default: on the loop when every database is SQLite, whose indexed reads take "
        "microseconds, in threads otherwise",
    )
    read_threads: int = Field(
        8, ge=1, le=64,
        description="worker threads for the request path's reads when a database is not SQLite "
        "(SQLite reads run on the event loop); each reader keeps at most this many connections",
    )
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    unauthenticated_sources_per_minute: int = Field(
        256, ge=1, le=100_000,
        description="distinct sources whose unauthenticated refusals get a record of their own "
        "per minute and process; the refusals of any further source are counted under `other` "
        "(docs/REFUSALS.md)",
    )
    # --- the console (`/console`, issue #12) ---
    console_secure_cookies: bool = Field(
        True, description="console cookies carry `Secure` (sent over HTTPS only); the demo on "
        "plain http://127.0.0.1 turns this off")
    console_idle_minutes: int = Field(30, ge=1, le=480,
                                      description="a console session ends after this idle time")
    console_session_hours: int = Field(8, ge=1, le=24,
                                       description="a console session ends this long after sign-in")
    console_signin_per_user: int = Field(
        5, ge=1, le=100, description="failed sign-ins per user name before it must wait")
    console_signin_per_source: int = Field(
        20, ge=1, le=1000, description="failed sign-ins per source address before it must wait")
    console_signin_window_s: int = Field(
        900, ge=10, le=86400, description="the window the sign-in limits count failures in")
    console_max_upload_bytes: int = Field(
        256 * 1024 * 1024, ge=1024,
        description="largest console form body (an export archive uploaded for verification)")
    host: str = "127.0.0.1"
    port: int = 8080
    demo: bool = Field(False, description="demo mode: allows generated placeholder secrets")
    unsafe_bench_baseline: bool = Field(
        False,
        description="UNSAFE, benchmarks only: expose /unsafe/baseline, which reads a customer "
        "row with no authentication, policy or log",
    )

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        if self.secrets_dir is None:
            self.secrets_dir = self.data_dir / "secrets"
        if self.database_url is None:
            self.database_url = f"sqlite:///{(self.data_dir / 'gateway.db').as_posix()}"
        if self.token_database_url is None:
            self.token_database_url = self.database_url
        for affiliate in AFFILIATES:
            self.affiliate_database_urls.setdefault(
                affiliate,
                f"sqlite:///{(self.data_dir / 'affiliates' / f'{affiliate}.db').as_posix()}",
            )
        return self

    @property
    def policy_auto_apply_effective(self) -> bool:
        return self.demo if self.policy_auto_apply is None else self.policy_auto_apply

    @property
    def gateway_url(self) -> str:
        assert self.database_url is not None
        return self.database_url

    @property
    def tokens_url(self) -> str:
        assert self.token_database_url is not None
        return self.token_database_url

    @property
    def secrets_path(self) -> Path:
        assert self.secrets_dir is not None
        return self.secrets_dir


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
