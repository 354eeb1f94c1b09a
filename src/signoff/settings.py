"""Typed settings, read from SIGNOFF_* environment variables (nested with __)."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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


class DeliverySettings(BaseModel):
    webhook_secret: str | None = Field(
        default=None,
        description="Standard Webhooks signing secret (whsec_...); derived from the secret key if unset",
    )
    timeout_seconds: float = Field(default=10.0, gt=0, description="Webhook request timeout")
    max_age_hours: float = Field(default=24.0, gt=0, description="Give up retrying after this")
    base_backoff_seconds: float = Field(default=5.0, gt=0, description="First retry delay")


class Settings(BaseSettings):
    """All of signoff's settings; env names follow the path (SIGNOFF_WORKER__CONCURRENCY)."""

    model_config = SettingsConfigDict(
        env_prefix="SIGNOFF_", env_nested_delimiter="__", extra="ignore"
    )

    database_url: str = Field(
        default="sqlite:///./signoff.db",
        description="SQLAlchemy URL (sqlite or postgresql+psycopg)",
    )
    secret_key: str = Field(
        default=DEV_SECRET, description="Signs sessions and derives webhook secrets"
    )
    environment: str = Field(default="development", description="development or production")
    host: str = Field(default="127.0.0.1", description="Address `signoff serve` binds")
    port: int = Field(default=8000, description="Port `signoff serve` binds")
    base_url: str | None = Field(default=None, description="Public URL used in links")
    secrets_dir: str | None = Field(
        default=None, description="Directory of files named after secrets (e.g. OPENAI_API_KEY)"
    )
    log_level: str = Field(default="INFO", description="Logging level")
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)

    @model_validator(mode="after")
    def _refuse_weak_secret(self) -> Settings:
        if self.environment != "development":
            weak = (
                self.secret_key == DEV_SECRET
                or len(self.secret_key) < 32
                or len(set(self.secret_key)) < 8
            )
            if weak:
                raise ValueError(
                    "SIGNOFF_SECRET_KEY is weak: outside development it must be at least 32 "
                    "random characters (python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
