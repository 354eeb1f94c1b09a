"""Typed settings, read from SIGNOFF_* environment variables (nested with __)."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The secret development falls back to when no key is set and none can be kept on disk.
from signoff.outbound import credentials, guard

DEV_SECRET = "dev-insecure-secret-change-me"


class WorkerSettings(BaseModel):
    concurrency: int = Field(default=2, ge=1, le=64, description="Worker threads per process")
    batch_size: int = Field(default=100, ge=1, le=1000, description="Items claimed per batch")
    lease_seconds: float = Field(default=60.0, gt=0, description="How long a claim lasts")
    poll_seconds: float = Field(default=0.2, gt=0, description="Idle wait between claims")
    enabled: bool = Field(default=True, description="Run workers inside `signoff serve`")
    model_process: bool = Field(
        default=False,
        description="Score with the built-in model in a separate process, overlapping "
        "database work (faster on several cores)",
    )
    model_refresh_seconds: float = Field(
        default=1.0,
        ge=0,
        le=3600,
        description="How long a process keeps predicting with the built-in model it has "
        "before asking the database for a newer one",
    )
    retrain: bool = Field(
        default=True, description="Run the built-in model's retrain loop in this worker process"
    )
    retrain_poll_seconds: float = Field(
        default=5.0, gt=0, description="How often a worker checks whether a model is due"
    )
    retrain_lease_seconds: float = Field(
        default=900.0,
        gt=0,
        description="How long one worker holds a workflow's retrain (longer than a training)",
    )
    archive_interval_seconds: float = Field(
        default=60.0, gt=0, le=86400, description="How often workers archive due decided items"
    )
    archive_batch_size: int = Field(
        default=500, ge=1, le=10000, description="Items archived per statement"
    )
    retention_interval_seconds: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="How often workers purge the content of items past `retain_content_for`",
    )
    retention_batch_size: int = Field(
        default=200, ge=1, le=10000, description="Items purged per transaction"
    )
    supervise_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often dead worker threads are restarted"
    )
    health_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port on which `signoff worker` answers `/healthz` and `/readyz` "
        "(on `SIGNOFF_HOST`); unset, a worker process serves no HTTP",
    )


class LimitSettings(BaseModel):
    max_body_bytes: int = Field(default=5_000_000, ge=1024, description="Largest request body")
    max_batch_items: int = Field(default=1000, ge=1, description="Largest intake batch")
    max_item_bytes: int = Field(
        default=1_000_000,
        ge=1024,
        le=1_000_000_000,
        description="Largest item: its content and metadata as UTF-8 JSON",
    )
    max_wait_seconds: float = Field(default=60.0, gt=0, description="Longest /wait long-poll")
    requests_per_minute: int = Field(
        default=6000,
        ge=0,
        le=10_000_000,
        description=(
            "Requests one API key may make per minute (0: no limit); an org's own limit "
            "(`signoff orgs add --requests-per-minute`) replaces it; over it: 429 with Retry-After"
        ),
    )
    rate_limit_storage: str = Field(
        default="memory://",
        description=(
            "Where request counts are kept (a `limits` storage URI): `memory://` counts per "
            "process; `redis://host:6379` shares the count between every `serve` process"
        ),
    )
    items_per_day: int = Field(
        default=0,
        ge=0,
        le=1_000_000_000,
        description="Items one org may submit per UTC day (0: no limit; the org's own replaces it)",
    )
    open_tasks: int = Field(
        default=0,
        ge=0,
        le=1_000_000_000,
        description=(
            "Review tasks one org may have waiting before intake answers 429 "
            "(0: no limit; the org's own replaces it)"
        ),
    )


class DeliverySettings(BaseModel):
    webhook_secret: str | None = Field(
        default=None,
        description="Standard Webhooks signing secret (whsec_...); derived from the secret key if unset",
    )
    timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of one delivery request (connect, send, answer)"
    )
    max_age_hours: float = Field(default=24.0, gt=0, description="Give up retrying after this")
    base_backoff_seconds: float = Field(default=5.0, gt=0, description="First retry delay")


class ReviewSettings(BaseModel):
    claim_minutes: float = Field(
        default=60.0,
        gt=0,
        le=10_080,
        description="A reviewer's hold on a task lapses after this long without a decision; "
        "another reviewer may then take it",
    )


class OutboundSettings(BaseModel):
    allow: str = Field(
        default="",
        description="Comma-separated host names and CIDRs that webhooks and providers may "
        "call although they are not public addresses (e.g. `vllm.internal,10.0.0.0/8`)",
    )
    credentials: str = Field(
        default="OPENAI_API_KEY@api.openai.com",
        description="Comma-separated environment variables or secrets workflows may use as "
        "provider credentials; `NAME@host` binds one to a host. `SIGNOFF_CREDENTIAL_*` "
        "variables and files in the secrets directory are always usable",
    )

    @field_validator("allow")
    @classmethod
    def _allow_parses(cls, value: str) -> str:
        guard.OutboundPolicy.parse(value)
        return value

    @field_validator("credentials")
    @classmethod
    def _credentials_parse(cls, value: str) -> str:
        credentials.CredentialPolicy.parse(value)
        return value


class TimerSettings(BaseModel):
    interval_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="How often workers fire due SLA timers (reminders, escalations, timeouts)",
    )
    batch_size: int = Field(
        default=50,
        ge=1,
        le=5000,
        description="Most timers of each kind one sweep fires per workflow, in one "
        "transaction; after a full batch the worker sweeps again at once",
    )


class PagerDutySettings(BaseModel):
    events_url: str = Field(
        default="https://events.pagerduty.com/v2/enqueue",
        max_length=2048,
        description="PagerDuty Events API v2 endpoint the `pagerduty` notify channel posts to",
    )

    @field_validator("events_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("events_url must be an http(s) URL")
        return value


class SmtpSettings(BaseModel):
    host: str = Field(default="127.0.0.1", max_length=255, description="SMTP server host name")
    port: int = Field(default=25, ge=1, le=65535, description="SMTP server port")
    starttls: bool = Field(
        default=False, description="Upgrade the connection with STARTTLS before sending"
    )
    tls: bool = Field(
        default=False, description="Connect with TLS from the start (SMTPS, usually port 465)"
    )
    username: str | None = Field(default=None, max_length=255, description="SMTP user name")
    password: str | None = Field(default=None, max_length=1024, description="SMTP password")
    from_address: str = Field(
        default="signoff@localhost", max_length=320, description="The From address of emails"
    )
    timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="Timeout of one SMTP conversation"
    )

    @model_validator(mode="after")
    def _one_tls_mode(self) -> SmtpSettings:
        if self.starttls and self.tls:
            raise ValueError("set either smtp.starttls or smtp.tls, not both")
        return self


class NotifySettings(BaseModel):
    link_hours: float = Field(
        default=72.0, gt=0, le=24 * 30, description="How long an action link in a message works"
    )
    digest_poll_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="How often workers send the digests that are due"
    )


class AuditSettings(BaseModel):
    key: str | None = Field(
        default=None,
        description="Key of the audit chains' HMACs (at least 32 random characters); unset: "
        "derived from the secret key",
    )
    previous_keys: str = Field(
        default="",
        description="Comma-separated earlier audit keys (or earlier secret keys, when the key "
        "was derived), kept so events signed with them still verify after a rotation",
    )
    signing_key_file: str | None = Field(
        default=None,
        description="Ed25519 private key (PEM) that signs checkpoints; keep it off the "
        "database server (`signoff audit keygen` makes one)",
    )

    @field_validator("key")
    @classmethod
    def _key_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value

    def previous(self) -> list[str]:
        return [k.strip() for k in self.previous_keys.split(",") if k.strip()]


class TestingSettings(BaseModel):
    fake_provider: bool = Field(
        default=False,
        description="Allow workflows with `provider: fake` outside development",
    )
    clock_skew_seconds: float = Field(
        default=0.0,
        ge=-86400,
        le=86400,
        description="Shift this process's clock (tests of a wrong clock; the database's "
        "clock corrects it)",
    )


class Settings(BaseSettings):
    """All of signoff's settings; env names follow the path (SIGNOFF_WORKER__CONCURRENCY)."""

    model_config = SettingsConfigDict(
        env_prefix="SIGNOFF_", env_nested_delimiter="__", extra="ignore"
    )

    database_url: str = Field(
        default="sqlite:///./signoff.db",
        description="SQLAlchemy URL (sqlite or postgresql+psycopg)",
    )
    secret_key: str | None = Field(
        default=None,
        description="Signs sessions and derives webhook secrets; unset: a random key made "
        "once per installation and kept in the data directory",
    )
    data_dir: str | None = Field(
        default=None,
        description="Directory for the generated secret key; unset: the SQLite file's directory",
    )
    environment: str = Field(default="development", description="development or production")
    host: str = Field(default="127.0.0.1", description="Address `signoff serve` binds")
    port: int = Field(default=8000, description="Port `signoff serve` binds")
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        max_length=2048,
        pattern=r"^https?://[^\s/]+(/\S*)?$",
        description="The address people reach signoff at: the base of links in notifications "
        "(item pages, action links); https here makes session cookies Secure and adds HSTS",
    )
    secrets_dir: str | None = Field(
        default=None, description="Directory of files named after secrets (e.g. OPENAI_API_KEY)"
    )
    metrics_token: str | None = Field(
        default=None,
        min_length=16,
        max_length=512,
        description="Bearer token `GET /metrics` requires (a Prometheus scrape "
        "`authorization`); unset: /metrics answers anyone, every org's workflow names included",
    )
    log_level: str = Field(default="INFO", description="Logging level")
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    outbound: OutboundSettings = Field(default_factory=OutboundSettings)
    timers: TimerSettings = Field(default_factory=TimerSettings)
    pagerduty: PagerDutySettings = Field(default_factory=PagerDutySettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    testing: TestingSettings = Field(default_factory=TestingSettings)

    @model_validator(mode="after")
    def _refuse_weak_secret(self) -> Settings:
        if (
            self.environment != "development"
            and self.secret_key is not None
            and self.is_weak_secret
        ):
            raise ValueError(
                "SIGNOFF_SECRET_KEY is weak: outside development it must be at least 32 "
                "random characters (python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        if (
            self.environment != "development"
            and self.audit.key is not None
            and (len(self.audit.key) < 32 or len(set(self.audit.key)) < 8)
        ):
            raise ValueError(
                "SIGNOFF_AUDIT__KEY is weak: outside development it must be at least 32 "
                "random characters"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def is_weak_secret(self) -> bool:
        """Whether the key in force is the public development key or too short to trust."""
        key = self.secret_key or ""
        return key == DEV_SECRET or len(key) < 32 or len(set(key)) < 8

    def signing_secret(self) -> str:
        """The secret key in force (set by `installation.with_secret_key` when not configured)."""
        if not self.secret_key:
            raise ValueError("no secret key: build the context with create_context(settings)")
        return self.secret_key
