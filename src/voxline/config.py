"""Settings: the only place that reads the environment.

Every setting is a ``VOXLINE_*`` environment variable (or a line in a ``.env`` file in the
working directory). ``load_settings()`` reads them once; apps, engines and the CLI receive the
resulting :class:`Settings` object instead of reading the environment themselves.

``load_client_config()`` reads the two settings of the API client commands
(``VOXLINE_API_URL``, ``VOXLINE_API_KEY``, or ``~/.config/voxline/config.toml``).
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration of one Voxline process."""

    model_config = SettingsConfigDict(
        env_prefix="VOXLINE_", env_file=".env", extra="ignore", frozen=True
    )

    data_dir: Path = Field(default=Path("data"), description="Recordings, secret key, SQLite file")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default is a SQLite file in the data dir",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str | None = Field(
        default=None, description="Base URL providers use to reach this deployment"
    )
    secret_key: str | None = Field(
        default=None,
        description="Key for credential encryption and URL signing; generated if unset",
    )
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|console)$")

    rate_limit_per_minute: int = Field(default=100, ge=0, description="0 disables the limit")
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest request body; larger ones get 413"
    )
    contacts_import_max_bytes: int = Field(
        default=50 * 1024 * 1024,
        ge=1024,
        description="Largest CSV upload to /contacts/import and /dnc/import (streamed; 413 beyond)",
    )
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=1)
    default_concurrency_limit: int = Field(default=10, ge=1)
    recording_url_ttl_seconds: int = Field(default=3600, ge=1)

    # Where recordings are kept (voxline.recordings): the data dir by default, else an
    # S3-compatible bucket. The secret is a SecretStr: never logged, echoed or put in a repr.
    recordings_url: str | None = Field(
        default=None,
        pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$",
        description="s3://bucket/prefix for S3-compatible object storage; unset: the data dir",
    )
    recordings_s3_endpoint_url: str | None = Field(
        default=None, description="Endpoint of an S3-compatible store; unset: AWS S3"
    )
    recordings_s3_region: str = Field(default="us-east-1", min_length=1)
    recordings_s3_access_key_id: str | None = Field(default=None, repr=False)
    recordings_s3_secret_access_key: SecretStr | None = Field(default=None, repr=False)
    recordings_s3_part_mib: int = Field(
        default=8,
        ge=5,
        le=512,
        description="Size of an uploaded part (S3's minimum is 5 MiB); the memory a call holds",
    )
    recordings_s3_download_ttl_seconds: int = Field(
        default=300, ge=1, le=7 * 24 * 3600, description="Expiry of a presigned download URL"
    )
    recordings_retention_days: float | None = Field(
        default=None, gt=0, description="Recordings older than this are deleted; unset: kept"
    )
    recordings_upkeep_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="How often the engine prunes old recordings and retries spooled uploads",
    )

    webhook_receipt_retention_hours: float = Field(
        default=72.0, gt=0, description="How long applied webhooks are remembered as replays"
    )
    webhook_max_body_bytes: int = Field(
        default=256 * 1024, ge=1024, description="Largest webhook body read (400 beyond)"
    )
    webhook_max_json_depth: int = Field(
        default=32, ge=4, le=200, description="Deepest JSON nesting of a webhook body"
    )
    webhooks_allow_http: bool = Field(
        default=True, description="Customer webhook URLs may be http:// (local and sandbox use)"
    )
    webhooks_allow_private_networks: bool = Field(
        default=False,
        description=(
            "Customer webhook URLs may resolve to loopback, private, link-local, multicast or "
            "unspecified addresses"
        ),
    )
    tools_allow_private_networks: bool = Field(
        default=False,
        description=(
            "Agents' HTTP tools may call URLs that resolve to loopback, private, link-local, "
            "multicast or unspecified addresses"
        ),
    )
    tools_max_response_bytes: int = Field(
        default=64 * 1024, ge=1024, le=10 * 1024 * 1024, description="Largest tool answer read"
    )
    webhooks_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="Timeout of one webhook delivery request"
    )
    webhooks_max_attempts: int = Field(
        default=8, ge=1, le=50, description="Attempts of one webhook delivery before it fails"
    )
    webhooks_retry_base_seconds: float = Field(
        default=60.0,
        ge=0,
        description="Wait after a delivery's first failure; each next wait is 4x (with jitter)",
    )
    webhooks_retry_max_seconds: float = Field(
        default=8 * 3600.0, ge=0, description="Longest wait between two delivery attempts"
    )
    webhooks_disable_after_days: float = Field(
        default=5.0, gt=0, description="An endpoint failing every delivery this long is disabled"
    )
    webhooks_concurrency_per_endpoint: int = Field(
        default=4, ge=1, le=100, description="Deliveries in flight to one endpoint per worker"
    )
    webhooks_max_in_flight: int = Field(
        default=64, ge=1, description="Deliveries in flight per worker, all endpoints together"
    )
    webhooks_lease_seconds: float = Field(
        default=60.0, ge=1, description="A claimed delivery is claimed again after this"
    )
    webhooks_rotation_overlap_seconds: float = Field(
        default=24 * 3600.0, ge=0, description="How long a rotated-out secret still signs"
    )
    media_start_timeout_seconds: float = Field(
        default=5.0, gt=0, description="A media socket without a valid start is closed then"
    )
    media_pending_per_address: int = Field(
        default=20, ge=1, description="Media sockets one address may hold before their start"
    )
    media_token_ttl_seconds: int = Field(
        default=7200,
        ge=60,
        description="How long the token in a call's media-stream URL opens it (ring + wait)",
    )

    sandbox_time_scale: float = Field(
        default=1.0, gt=0, le=10, description="Multiplies every sandbox delay (0.05 = 20x faster)"
    )
    silence_timeout_seconds: float = Field(default=6.0, gt=0)
    sandbox_mode: str = Field(
        default="audio",
        pattern="^(audio|text)$",
        description="Sandbox calls speak real audio (audio) or exchange text turns (text)",
    )
    sandbox_callee_voice: str = Field(
        default="espeak-en-us-f3", description="The voice of the sandbox's simulated callees"
    )
    vad_hangover_ms: float = Field(
        default=400.0, ge=100, le=3000, description="Silence that ends the contact's turn"
    )
    vad_batch: bool = Field(
        default=True,
        description="Score every live call's VAD windows together, one model call per loop turn",
    )
    vad_thread: bool = Field(
        default=True,
        description="Run the batched VAD model on a thread of its own, beside the event loop",
    )
    media_block_ms: int = Field(
        default=40,
        ge=20,
        le=100,
        multiple_of=20,
        description="Audio a live call's session handles per wake-up, each way (20 ms frames "
        "in blocks); 40 costs a call about two thirds of 20's event-loop time, and hears the "
        "contact up to 20 ms later",
    )
    media_phases: int = Field(
        default=2,
        ge=1,
        le=8,
        description="Slots the media ticker's period is cut into, each waking its share of "
        "the live calls at its own time (1: every call on one tick)",
    )
    vad_stop_ms: float = Field(
        default=200.0,
        ge=60,
        le=3000,
        description="Silence after which the end-of-turn model decides whether the turn is over",
    )
    end_of_turn_model: bool = Field(
        default=True,
        description="Decide the end of the contact's turn with Smart Turn v3 (if installed); "
        "off: the turn ends after vad_hangover_ms of silence",
    )
    prepared_sessions_max: int = Field(
        default=200, ge=0, description="Ringing calls one process keeps a greeting ready for"
    )
    prepared_session_seconds: float = Field(
        default=180.0, gt=0, description="A greeting prepared while ringing is dropped then"
    )
    engine_poll_seconds: float = Field(default=1.0, gt=0)
    engine_lease_seconds: float = Field(default=30.0, ge=2)
    engine_drain_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="At SIGTERM, how long live calls may go on before they end 'shutdown'",
    )
    worker_ops_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port of voxline worker's /healthz, /readyz and /metrics (unset: none)",
    )
    placement_timeout_seconds: float = Field(default=15.0, gt=0)
    placement_max_attempts: int = Field(default=4, ge=1)
    placement_backoff_seconds: float = Field(default=2.0, ge=0)

    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token GET /metrics requires; unset: the endpoint is open",
    )
    readiness_timeout_seconds: float = Field(
        default=2.0, gt=0, description="How long GET /readyz waits for the database's answer"
    )

    tts_engine: str = Field(
        default="auto",
        pattern="^(auto|piper|espeak|openai|cartesia)$",
        description=(
            "Text-to-speech: auto (Piper when its extra is installed), piper, espeak, or a "
            "remote engine: openai (any OpenAI-compatible /audio/speech) or cartesia (streaming)"
        ),
    )
    tts_base_url: str | None = Field(
        default=None, description="The remote TTS server; default: the vendor's public API"
    )
    tts_api_key: SecretStr | None = Field(default=None, description="The remote TTS's key")
    tts_model: str | None = Field(default=None, description="The remote TTS's model")
    tts_voice: str | None = Field(default=None, description="The remote TTS's voice")
    stt_engine: str = Field(
        default="whisper",
        pattern="^(whisper|local|openai|deepgram)$",
        description=(
            "Speech-to-text: whisper (or local: faster-whisper on this machine), openai (any "
            "OpenAI-compatible /audio/transcriptions) or deepgram (streaming)"
        ),
    )
    stt_base_url: str | None = Field(
        default=None, description="The remote STT server; default: the vendor's public API"
    )
    stt_api_key: SecretStr | None = Field(default=None, description="The remote STT's key")
    stt_model: str | None = Field(default=None, description="The remote STT's model")
    stt_language: str | None = Field(default=None, description="Language hint, e.g. en")
    stt_endpointing_ms: int = Field(
        default=300,
        ge=10,
        le=5000,
        description="Streaming STT: silence after which the engine ends the contact's turn",
    )
    stt_utterance_end_ms: int = Field(
        default=1000,
        ge=1000,
        le=5000,
        description="Streaming STT: gap in words that ends a turn when endpointing missed it",
    )

    twilio_api_base_url: str = Field(
        default="https://api.twilio.com", description="Twilio's REST API (an emulator in tests)"
    )
    telnyx_api_base_url: str = Field(
        default="https://api.telnyx.com/v2", description="Telnyx's REST API"
    )
    plivo_api_base_url: str = Field(default="https://api.plivo.com", description="Plivo's REST API")

    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str | None = None

    price_platform_per_minute: Decimal = Field(default=Decimal("0.05"), ge=0)
    price_telephony_per_minute: dict[str, Decimal] = Field(
        default_factory=lambda: {
            "sandbox": Decimal("0"),
            "twilio": Decimal("0.014"),
            "telnyx": Decimal("0.010"),
            "plivo": Decimal("0.012"),
        }
    )
    answered_grace_seconds: float = Field(
        default=5.0,
        ge=0,
        le=600,
        description="Connected time billed beyond a call's max_duration at most",
    )
    credit_floor_usd: Decimal = Field(
        default=Decimal("-100"),
        le=0,
        description=(
            "Lowest balance a call's debit may leave; the rest of its cost is recorded as "
            "uncollected"
        ),
    )
    min_call_credit: Decimal | None = Field(
        default=None,
        description="Balance needed to create a call; default is the price of one minute",
    )

    @field_validator("public_base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``<data_dir>/voxline.db`` on SQLite."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'voxline.db').resolve()}"

    @cached_property
    def base_url(self) -> str:
        """Where this deployment is reached from outside."""
        return self.public_base_url or f"http://{self.host}:{self.port}"

    @cached_property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    @cached_property
    def recordings_spool_dir(self) -> Path:
        """Where a recording bound for object storage is written while its call runs."""
        return self.data_dir / "recordings-spool"

    def resolved_secret_key(self) -> str:
        """The configured secret key, else the one in ``<data_dir>/secret.key`` (made once)."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        # O_EXCL makes concurrent first starts agree on one key.
        try:
            with path.open("x") as handle:
                handle.write(key)
            path.chmod(0o600)
        except FileExistsError:
            return path.read_text().strip()
        return key

    def minimum_call_credit(self) -> Decimal:
        """Balance an organization needs before it may create a call."""
        if self.min_call_credit is not None:
            return self.min_call_credit
        telephony = max(self.price_telephony_per_minute.values(), default=Decimal(0))
        return self.price_platform_per_minute + telephony


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; keyword overrides win (used by tests and the CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]


DEFAULT_API_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class ClientConfig:
    """Where the ``voxline calls``/``agents`` commands send requests, and with which key.

    Apart from :class:`Settings` on purpose: these describe a remote deployment the client
    talks to, not this process, and a server's ``.env`` must not lend its values to them.
    """

    base_url: str
    api_key: str | None = field(default=None, repr=False)


def client_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/voxline/config.toml``, else ``~/.config/voxline/config.toml``."""
    env = os.environ if environ is None else environ
    root = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(root) / "voxline" / "config.toml"


def load_client_config(
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ClientConfig:
    """The client's base URL and key: flags first, then ``VOXLINE_API_URL`` and
    ``VOXLINE_API_KEY``, then the config file (``base_url``, ``api_key``), then the default
    local server. Each value is resolved on its own, so a flag may override only the URL.

    Raises ``ValueError`` when the config file exists but is not valid TOML.
    """
    env = os.environ if environ is None else environ
    path = client_config_path(env)
    stored: dict[str, object] = {}
    if path.is_file():
        try:
            stored = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path} is not valid TOML: {exc}") from None

    def pick(flag: str | None, var: str, key: str) -> str | None:
        value = flag or env.get(var) or stored.get(key)
        return value if isinstance(value, str) and value else None

    url = pick(base_url, "VOXLINE_API_URL", "base_url")
    return ClientConfig(url or DEFAULT_API_URL, pick(api_key, "VOXLINE_API_KEY", "api_key"))
