"""Configuration from `HEADRACE_*` environment variables (see the README's table)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

INSECURE_SECRET = "headrace-insecure-development-secret"


class Settings(BaseSettings):
    """Every knob of a Headrace process. Defaults give the embedded single-machine setup."""

    model_config = SettingsConfigDict(env_prefix="HEADRACE_", extra="ignore")

    env: str = Field(
        "DEVELOPMENT", description="Deployment name; PRODUCTION refuses insecure defaults."
    )
    data_dir: Path = Field(Path("./data"), description="Directory for the SQLite file and uploads.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy async URL; default sqlite+aiosqlite:///<data_dir>/headrace.db.",
    )
    redis_url: str | None = Field(
        None, description="Redis URL for stop commands, event logs and concurrency slots."
    )
    secret_key: str = Field(INSECURE_SECRET, description="Signs file URLs, encrypts credentials.")
    files_url: str = Field("http://127.0.0.1:5001", description="Public base URL of file links.")
    host: str = "127.0.0.1"
    port: int = 5001
    log_level: str = "INFO"
    opentelemetry: bool = Field(
        False,
        description="FastAPI's native OpenTelemetry spans and metrics, for a process whose "
        "global OpenTelemetry providers are configured (e.g. under opentelemetry-instrument).",
    )
    app_max_active_requests: int = Field(
        0, description="Global cap of concurrent generations per app (0 = none)."
    )
    app_default_active_requests: int = Field(
        0, description="Per-app default cap when the app sets none."
    )
    app_max_execution_time: float = Field(1200.0, description="Seconds a generation may run.")
    provider_timeout: float = Field(60.0, description="Seconds to wait for a model upstream.")
    upload_file_size_limit_mb: int = 15
    upload_image_file_size_limit_mb: int = 10
    upload_video_file_size_limit_mb: int = 100
    upload_audio_file_size_limit_mb: int = 50
    upload_file_extension_blacklist: str = Field(
        "", description="Comma-separated extensions refused on upload."
    )
    ping_interval: float = Field(
        10.0, description="Seconds of stream silence before a keep-alive ping."
    )
    local_model_ctx: int = Field(2048, description="Context window for the local llama.cpp model.")
    workflow_max_steps: int = Field(500, description="Node steps a workflow run may take.")
    workflow_max_execution_time: float = Field(
        1200.0, description="Seconds a workflow run may take."
    )
    workflow_call_depth: int = Field(5, description="Nesting depth of workflows calling workflows.")
    http_request_allow_private: bool = Field(
        False, description="Let http-request nodes reach private and loopback addresses."
    )
    http_request_allowed_hosts: str = Field(
        "", description="Comma-separated hosts/CIDRs http-request nodes may reach even if private."
    )
    code_cpu_seconds: int = Field(10, description="CPU seconds a code node may use.")
    code_wall_seconds: int = Field(15, description="Wall-clock seconds a code node may take.")
    code_memory_mb: int = Field(256, description="Memory a code node may use.")
    qdrant_url: str | None = Field(None, description="Qdrant server for dataset vectors.")
    qdrant_path: str | None = Field(None, description="Qdrant local-mode directory for vectors.")
    vector_state_ttl: float = Field(
        0.5,
        description="Seconds a search of the embedded vector store may go without re-reading "
        "its collection's state: how long other processes' writes may take to show.",
    )
    celery_broker_url: str | None = Field(
        None,
        description="Broker for indexing jobs run by `headrace worker` (in-process when unset).",
    )
    celery_queue: str = Field("headrace-indexing", description="Celery queue of indexing jobs.")
    celery_visibility_timeout: float = Field(
        3600.0, description="Seconds before a Redis broker re-delivers an unacknowledged job."
    )
    indexing_lease_seconds: float = Field(
        30.0,
        description="How long an indexing job's claim on a document lasts without renewal; "
        "a killed worker's documents are taken over after it.",
    )

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        if self.env.upper() == "PRODUCTION" and self.secret_key == INSECURE_SECRET:
            raise ValueError("HEADRACE_SECRET_KEY must be set when HEADRACE_ENV=PRODUCTION")
        if self.celery_broker_url and not self.redis_url:
            raise ValueError(
                "HEADRACE_REDIS_URL must be set with HEADRACE_CELERY_BROKER_URL "
                "(workers share indexing leases through it)"
            )
        return self

    @property
    def effective_database_url(self) -> str:
        """The database URL in use (the SQLite file under `data_dir` by default)."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'headrace.db').as_posix()}"

    @property
    def upload_dir(self) -> Path:
        """Where uploaded files are kept."""
        return self.data_dir / "uploads"
