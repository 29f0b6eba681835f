"""The schema: one SQLAlchemy Core table per stored concept.

Ids are UUID strings. Money is whole micro-dollars (see ``domain.money``). Timestamps are
UTC. Indexes follow the list filters of the API (organization first, newest first).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from voxline.storage.types import UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(36)

organizations = Table(
    "organizations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("credit_balance_micros", BigInteger, nullable=False, default=0),
    Column("concurrency_limit", Integer, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    ),
    Column("name", String(200), nullable=True),
    Column("prefix", String(32), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("last_used_at", UTCDateTime, nullable=True),
    Index(None, "organization_id"),
)

agents = Table(
    "agents",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    ),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=True),
    Column("system_prompt", Text, nullable=False),
    Column("greeting", Text, nullable=True),
    Column("model", String(200), nullable=False),
    Column("voice_id", String(100), nullable=True),
    Column("temperature", Float, nullable=False),
    Column("language_hint", String(35), nullable=True),
    Column("recording_enabled", Boolean, nullable=False),
    Column("join_timeout_seconds", Float, nullable=False),
    Column("max_duration_seconds", Float, nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # A contact who asks not to be called again goes on the do-not-call list (0008).
    Column("dnc_on_request", Boolean, nullable=False, server_default=false()),
    Index(None, "organization_id", "created_at"),
    Index(None, "organization_id", "status", "created_at"),
)

telephony_credentials = Table(
    "telephony_credentials",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    ),
    Column("provider_type", String(20), nullable=False),
    Column("friendly_name", String(200), nullable=True),
    # Non-secret identifiers (e.g. Twilio account SID) kept readable for display and routing.
    Column("public_fields", JSON, nullable=False),
    # Fernet token of the JSON object of secret fields.
    Column("secrets_encrypted", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "organization_id"),
)

phone_numbers = Table(
    "phone_numbers",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    ),
    # A number routes inbound calls to exactly one organization, so it is unique overall.
    Column("phone_number", String(16), nullable=False, unique=True),
    Column("provider_type", String(20), nullable=False),
    Column(
        "credential_id",
        ID,
        ForeignKey("telephony_credentials.id", ondelete="SET NULL"),
        nullable=True,
    ),
    Column("provider_number_id", String(100), nullable=True),
    Column("friendly_name", String(200), nullable=True),
    Column("status", String(20), nullable=False),
    Column("is_managed", Boolean, nullable=False),
    Column("inbound_agent_id", ID, ForeignKey("agents.id", ondelete="SET NULL"), nullable=True),
    Column("outbound_agent_id", ID, ForeignKey("agents.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "organization_id", "created_at"),
    Index(None, "inbound_agent_id"),
    Index(None, "outbound_agent_id"),
)

calls = Table(
    "calls",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    ),
    # Kept after the agent is deleted, for history; not a foreign key for that reason.
    # Null for an inbound call no agent took (0005).
    Column("agent_id", ID, nullable=True),
    Column("direction", String(10), nullable=False),
    Column("status", String(20), nullable=False),
    Column("phone_number", String(16), nullable=False),
    Column("from_number", String(16), nullable=True),
    Column("phone_number_id", ID, nullable=True),
    Column("provider_type", String(20), nullable=True),
    Column("provider_call_id", String(100), nullable=True),
    Column("variables", JSON, nullable=False),
    # Effective settings: the agent's defaults merged with the per-call overrides.
    Column("settings", JSON, nullable=False),
    Column("context", JSON, nullable=False),
    Column("end_reason", String(30), nullable=True),
    Column("answered_by", String(10), nullable=True),
    Column("summary", Text, nullable=True),
    Column("recording_path", String(500), nullable=True),
    Column("provider_recording_url", Text, nullable=True),
    # When the finalizer may next ask the provider for its recording, and how often it did.
    Column("provider_recording_due_at", UTCDateTime, nullable=True),
    Column("provider_recording_attempts", Integer, nullable=False, server_default="0"),
    # When the retention policy deleted the recording (0010): its endpoints answer 410 Gone.
    Column("recording_pruned_at", UTCDateTime, nullable=True),
    Column("metrics", JSON, nullable=True),
    Column("cost_micros", BigInteger, nullable=True),
    Column("duration_seconds", Integer, nullable=True),
    Column("started_at", UTCDateTime, nullable=True),
    Column("ended_at", UTCDateTime, nullable=True),
    # Engine bookkeeping: when the call may be placed, when its current state times out,
    # who holds it and until when, and whether the finalizer has run.
    Column("not_before", UTCDateTime, nullable=True),
    Column("deadline_at", UTCDateTime, nullable=True),
    Column("lease_owner", String(100), nullable=True),
    Column("lease_expires_at", UTCDateTime, nullable=True),
    Column("placement_state", String(20), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("finalized_at", UTCDateTime, nullable=True),
    # The batch contact this call is an attempt for (0009); no key: a batch outlives nothing.
    Column("batch_contact_id", ID, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "organization_id", "created_at", "id"),
    # One index per list filter, newest first within it; the other two filters trail the key
    # so a combination is checked inside the index instead of fetching every row (0002).
    Index(None, "organization_id", "status", "created_at", "direction", "agent_id"),
    Index(None, "organization_id", "agent_id", "created_at", "status", "direction"),
    Index(None, "organization_id", "direction", "created_at", "status", "agent_id"),
    Index(None, "status", "not_before"),
    Index(None, "status", "deadline_at"),
    Index(None, "provider_type", "provider_call_id"),
    Index(None, "provider_recording_due_at"),
)

# One row per (organization, agent, direction, status): how many calls are in that group
# (calls without an agent are counted under the nil UUID, 0005).
# Kept exact by database triggers on ``calls`` (migration 0002), never written by the
# application; ``GET /calls`` sums it for ``pagination.total``. No foreign key on purpose:
# the cascade of an organization's deletion onto ``calls`` fires the triggers.
call_counts = Table(
    "call_counts",
    metadata,
    Column("organization_id", ID, primary_key=True),
    Column("agent_id", ID, primary_key=True),
    Column("direction", String(10), primary_key=True),
    Column("status", String(20), primary_key=True),
    Column("n", BigInteger, nullable=False),
)

transcript_turns = Table(
    "transcript_turns",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("call_id", ID, ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("speaker", String(10), nullable=False),
    Column("text", Text, nullable=False),
    Column("timestamp", Float, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("call_id", "seq"),
)

credit_ledger = Table(
    "credit_ledger",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    ),
    Column("kind", String(20), nullable=False),
    Column("amount_micros", BigInteger, nullable=False),
    Column("balance_after_micros", BigInteger, nullable=False),
    # One debit per call at most: the unique key makes a second finalization fail loudly.
    Column("call_id", ID, nullable=True, unique=True),
    Column("note", String(200), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "organization_id", "created_at"),
)

idempotency_records = Table(
    "idempotency_records",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    ),
    Column("endpoint", String(100), nullable=False),
    Column("key", String(255), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("response_body", JSON, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    UniqueConstraint("organization_id", "endpoint", "key"),
    Index(None, "expires_at"),
)

rate_limit_windows = Table(
    "rate_limit_windows",
    metadata,
    Column("organization_id", ID, primary_key=True),
    Column("window_start", UTCDateTime, primary_key=True),
    Column("count", Integer, nullable=False),
)

# Provider webhooks already applied, by a key of what the provider signed (Telnyx's event
# id; a digest of a Twilio or Plivo callback), so a replayed one changes nothing. Rows
# older than ``webhook_receipt_retention_hours`` are pruned as new ones arrive.
webhook_receipts = Table(
    "webhook_receipts",
    metadata,
    Column("provider", String(20), primary_key=True),
    Column("event_key", String(64), primary_key=True),
    Column("received_at", UTCDateTime, nullable=False),
    Index(None, "received_at"),
)

# Customer webhooks (0006). An endpoint's signing secret is sealed with the deployment key
# (``voxline.crypto.SecretBox``); during a rotation the previous one signs too until
# ``previous_secret_expires_at``.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    ),
    Column("url", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("event_types", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("disabled_reason", String(40), nullable=True),
    Column("secret_sealed", Text, nullable=False),
    Column("previous_secret_sealed", Text, nullable=True),
    Column("previous_secret_expires_at", UTCDateTime, nullable=True),
    # The first failed delivery since the last success; the endpoint is disabled once it has
    # been failing for ``webhooks_disable_after_days``.
    Column("failing_since", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "organization_id", "created_at", "id"),
)

# The outbox: one row per thing a customer may hear about, written in the transaction of the
# change that caused it. ``seq`` numbers a call's events from 1. No foreign key to ``calls``
# either: a deleted call's events stay in the delivery log.
events = Table(
    "events",
    metadata,
    Column("id", ID, primary_key=True),
    # Not a foreign key: its check would share-lock the organization's row in every call
    # change, against the dispatcher's FOR UPDATE of that row (deadlocks under bursts).
    Column("organization_id", ID, nullable=False),
    Column("call_id", ID, nullable=True),
    Column("type", String(60), nullable=False),
    Column("seq", Integer, nullable=True),
    Column("payload", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("call_id", "seq"),
    Index(None, "organization_id", "created_at"),
)

# One row per (endpoint, event): the delivery and its retries.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "endpoint_id", ID, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False
    ),
    Column("event_id", ID, ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
    Column("organization_id", ID, nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("lease_owner", String(100), nullable=True),
    Column("lease_expires_at", UTCDateTime, nullable=True),
    Column("delivered_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("endpoint_id", "event_id"),
    Index(None, "status", "next_attempt_at"),
    Index(None, "endpoint_id", "created_at"),
)

# HTTP tools agents call during calls (0007). ``definition`` is the canonical JSON of
# ``voxline.domain.tool_definitions`` except that each static header value is replaced by
# ``sealed``, its Fernet token (``voxline.crypto.SecretBox``); null: a placeholder tool.
tools = Table(
    "tools",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    ),
    Column("name", String(255), nullable=False),
    Column("definition", JSON, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "organization_id", "created_at"),
)

# An agent's tools in order: one of the organization's tools, or a built-in by name, with the
# agent's overrides (static header values sealed as in ``tools``). RESTRICT: a tool an agent
# uses cannot be deleted, whatever deletes it.
agent_tools = Table(
    "agent_tools",
    metadata,
    Column("agent_id", ID, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("tool_id", ID, ForeignKey("tools.id", ondelete="RESTRICT"), nullable=True),
    Column("builtin", String(40), nullable=True),
    Column("overrides", JSON, nullable=False),
    UniqueConstraint("agent_id", "tool_id"),
    UniqueConstraint("agent_id", "builtin"),
    CheckConstraint(
        "(tool_id IS NULL) <> (builtin IS NULL)", name="ck_agent_tools_tool_or_builtin"
    ),
    Index(None, "tool_id"),
)

# Contacts in folders (0008). An organization's default folder has the id
# ``voxline.domain.contacts.default_folder_id(org_id)``, so creating it twice is a key clash.
contact_folders = Table(
    "contact_folders",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    ),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "organization_id", "created_at"),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    ),
    Column("folder_id", ID, ForeignKey("contact_folders.id", ondelete="CASCADE"), nullable=False),
    Column("phone_number", String(16), nullable=False),
    Column("first_name", String(100), nullable=True),
    Column("last_name", String(100), nullable=True),
    Column("email", String(320), nullable=True),
    Column("company_name", String(255), nullable=True),
    Column("industry", String(100), nullable=True),
    Column("location", String(255), nullable=True),
    Column("pin_code", String(20), nullable=True),
    Column("keywords", Text, nullable=True),
    Column("timezone", String(64), nullable=True),
    Column("custom_fields", JSON, nullable=False),
    Column("call_count", Integer, nullable=False, server_default="0"),
    Column("last_called_at", UTCDateTime, nullable=True),
    Column("last_call_outcome", String(30), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # A phone number appears once per folder; the import's upsert relies on this key.
    UniqueConstraint("folder_id", "phone_number"),
    Index(None, "organization_id", "folder_id", "created_at"),
    Index(None, "organization_id", "created_at"),
)

# The do-not-call list (0008): checked when a call is created and again when it is dialed.
dnc_numbers = Table(
    "dnc_numbers",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    ),
    Column("phone_number", String(16), nullable=False),
    Column("reason", String(500), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("organization_id", "phone_number"),
    Index(None, "organization_id", "created_at"),
)

# Batch calls (campaigns, 0009). The counters of the API's batch object are counted from
# ``batch_contacts`` when read, never stored. ``pacing`` holds each caller ID's next free
# instant; ``day``/``day_count`` how many calls started on the batch's current local day.
batch_calls = Table(
    "batch_calls",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    ),
    Column("agent_id", ID, nullable=False),
    Column("name", String(255), nullable=False),
    Column("status", String(20), nullable=False),
    Column("phone_number_ids", JSON, nullable=False),
    Column("phone_rotation_strategy", String(20), nullable=False),
    Column("contact_source", String(20), nullable=False),
    Column("contact_folder_id", ID, nullable=True),
    Column("schedule_type", String(20), nullable=False),
    Column("scheduled_at", UTCDateTime, nullable=True),
    Column("timezone", String(64), nullable=False),
    Column("start_time", String(5), nullable=True),
    Column("end_time", String(5), nullable=True),
    Column("working_days", JSON, nullable=False),
    Column("max_concurrent_calls", Integer, nullable=False),
    Column("max_calls_per_day", Integer, nullable=True),
    Column("retry_failed", Boolean, nullable=False),
    Column("max_retry_attempts", Integer, nullable=False),
    Column("retry_policy", JSON, nullable=False),
    Column("calls_per_second", Float, nullable=False),
    Column("pacing", JSON, nullable=False),
    Column("dialed", Integer, nullable=False, server_default="0"),
    Column("day", String(10), nullable=True),
    Column("day_count", Integer, nullable=False, server_default="0"),
    Column("paused_at", UTCDateTime, nullable=True),
    Column("resumed_at", UTCDateTime, nullable=True),
    Column("completed_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "organization_id", "created_at"),
    Index(None, "status"),
)

# One row per contact of a batch: a copy (contacts may change or go after the batch starts).
batch_contacts = Table(
    "batch_contacts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("batch_id", ID, ForeignKey("batch_calls.id", ondelete="CASCADE"), nullable=False),
    Column("organization_id", ID, nullable=False),
    Column("contact_id", ID, nullable=True),
    Column("phone_number", String(16), nullable=False),
    Column("first_name", String(100), nullable=True),
    Column("last_name", String(100), nullable=True),
    Column("email", String(320), nullable=True),
    Column("timezone", String(64), nullable=True),
    Column("custom_fields", JSON, nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("last_call_id", ID, nullable=True),
    Column("last_outcome", String(30), nullable=True),
    # The caller ID chosen on the first attempt, kept for every later one.
    Column("phone_number_id", ID, nullable=True),
    Column("called_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("batch_id", "phone_number"),
    Index(None, "batch_id", "status", "next_attempt_at"),
    Index(None, "batch_id", "created_at", "id"),
)
