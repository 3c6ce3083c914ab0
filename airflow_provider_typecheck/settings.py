"""The package's one settings class, read from ``TYPECHECK_*`` environment variables.

Connections themselves (hosts, passwords) are Airflow connections, configured the
Airflow way (``AIRFLOW_CONN_<ID>`` or the UI); these settings name which connection
ids to use, plus what Airflow has no place for. The one exception is for processes
that run without Airflow (the REST API, the workers): ``TYPECHECK_POSTGRES_URI``,
``TYPECHECK_MONGO_URI`` and ``TYPECHECK_REDIS_URI`` replace the connection of their
service when set.

Settings are built on first use by :func:`get_settings`, never at import, so that
importing an operator at DAG-parse time reads no environment and fails on nothing.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from airflow_provider_typecheck.validation.limits import (
    DEFAULT_MAX_SCHEMA_BYTES,
    DEFAULT_MAX_SCHEMA_DEPTH,
    DEFAULT_MAX_WORKBOOK_CELLS,
    DEFAULT_MAX_WORKBOOK_UNCOMPRESSED_BYTES,
)

# Values that people leave in .env files by accident; outside development they
# are refused, so a deployment can never run on a secret published in a template.
PLACEHOLDER_SECRETS = frozenset({"changethis", "changeme", "change-me", "secret", "password", "admin"})

MIN_JWT_SECRET_BYTES = 32
# A secret of 32 bytes or more can still be guessable: "a" * 32, or a short word
# repeated. Outside development a secret must hold at least this many distinct bytes
# and must not be one pattern of at most MAX_JWT_SECRET_PERIOD bytes repeated.
MIN_JWT_SECRET_DISTINCT_BYTES = 8
MAX_JWT_SECRET_PERIOD = 16
# A stolen token works until it expires; the user check on every request stops a
# deleted or demoted account at once, but a day is still the most a token may live.
MAX_JWT_EXPIRE_MINUTES = 24 * 60
_PG_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

MiB = 1024 * 1024
DAY = 24 * 3600


class TypecheckSettings(BaseSettings):
    """Everything the package reads from the environment (prefix ``TYPECHECK_``)."""

    # hide_input_in_errors: a refused setting must never echo a secret (or the whole
    # input, secrets included, as pydantic does for model-level checks) into a log.
    model_config = SettingsConfigDict(
        env_prefix="TYPECHECK_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    # Airflow connection ids.
    mongo_conn_id: str = "mongo_default"
    postgres_conn_id: str = "postgres_default"
    redis_conn_id: str = "redis_default"
    rabbitmq_conn_id: str = "rabbitmq_default"

    # Services by URI (stores): when set, used instead of the Airflow connection of the
    # same service, so the API and workers need no Airflow connection, nor its database.
    postgres_uri: SecretStr | None = None
    mongo_uri: SecretStr | None = None
    redis_uri: SecretStr | None = None

    # Schema registry.
    schema_store: Literal["mongo", "postgres"] = "mongo"
    mongo_database: str = "typecheck"
    mongo_collection: str = "schemas"
    postgres_schema: str = "typecheck"

    # Authentication. Secrets have no defaults.
    jwt_secret: SecretStr | None = None
    jwt_expire_minutes: int = Field(default=60, gt=0, le=MAX_JWT_EXPIRE_MINUTES)
    first_admin_username: str | None = None
    first_admin_password: SecretStr | None = None
    development: bool = False

    # Redis lifetimes, in seconds.
    task_ttl_seconds: int = Field(default=7 * DAY, gt=0)
    task_inflight_ttl_seconds: int = Field(default=DAY, gt=0)
    cache_ttl_seconds: int = Field(default=3600, gt=0)

    # Limits.
    max_upload_bytes: int = Field(default=100 * MiB, gt=0)
    max_errors: int = Field(default=1000, gt=0)
    max_schema_bytes: int = Field(default=DEFAULT_MAX_SCHEMA_BYTES, gt=0)
    # Past about 125 levels python-jsonschema's own meta-validation exhausts Python's stack.
    max_schema_depth: int = Field(default=DEFAULT_MAX_SCHEMA_DEPTH, gt=0, le=100)
    max_workbook_uncompressed_bytes: int = Field(default=DEFAULT_MAX_WORKBOOK_UNCOMPRESSED_BYTES, gt=0)
    max_workbook_cells: int = Field(default=DEFAULT_MAX_WORKBOOK_CELLS, gt=0)

    # Jobs and workers (jobs/, worker/).
    # RabbitMQ by URI (amqp://user:password@host:5672/vhost?heartbeat=30): when set, used
    # instead of the Airflow connection, so workers need no Airflow connection at all.
    rabbitmq_uri: SecretStr | None = None
    # Where uploads, reports and invalid-row files live: any fsspec URI; empty means
    # a folder under the user's data directory ($XDG_DATA_HOME/typecheck, file://).
    storage_uri: str = ""
    # Prefix of every Redis key the package writes (task status, leases, schema cache).
    redis_prefix: str = Field(default="typecheck:", min_length=1)
    # The broker's backstop: deliveries of one job before it is dead-lettered whatever the
    # cause (the quorum queue's x-delivery-limit, fixed when the queue is first declared).
    # High, so broker restarts and lost connections never reach it.
    delivery_limit: int = Field(default=20, gt=0)
    # A job is taken for poison (failed, dead-lettered) once workers died this many times
    # running it (a lease that expired without a finish, counted in Redis).
    poison_worker_deaths: int = Field(default=3, gt=0)
    # A running job holds a lease in Redis, renewed every third of this; another worker
    # takes the job over only once the lease has expired (its holder died).
    worker_lease_seconds: float = Field(default=30.0, gt=0)
    # After SIGTERM a worker finishes its current job within this, or requeues it.
    worker_shutdown_grace_seconds: float = Field(default=60.0, ge=0)
    # Status writes are retried this long while Redis is unreachable; then the job is requeued.
    worker_redis_retry_seconds: float = Field(default=60.0, gt=0)
    # Each worker process writes a heartbeat into Redis this often and counts as alive for
    # three times this: /healthcheck counts live workers, and a redelivered job whose
    # holder has no heartbeat is taken over at once instead of after its lease.
    worker_heartbeat_seconds: float = Field(default=1.0, gt=0, le=60)
    # A CSV larger than this is split by a worker into parts of about this size, which the
    # whole pool validates at once and the last one merges into the one report; 0: never split.
    split_bytes: int = Field(default=256 * MiB, ge=0)

    # Retention (jobs/retention.py): a task's uploads and reports are deleted once its status
    # has expired; workers sweep every interval, leaving files younger than the grace period.
    sweep_interval_seconds: float = Field(default=3600.0, gt=0)
    sweep_grace_seconds: float = Field(default=3600.0, ge=0)
    # Bytes one user may have uploaded for tasks still recorded (507 past it); 0: no quota.
    user_quota_bytes: int = Field(default=10 * 1024 * MiB, ge=0)

    # REST API (api/).
    # Each service the full healthcheck probes gets this long before it counts as down.
    api_health_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    # Serve the OpenAPI document (/api/v1/openapi.json); false hides the API's description.
    api_docs: bool = True
    # When set, GET /metrics asks for "Authorization: Bearer <this>" (Prometheus'
    # authorization.credentials); unset, it is open, as /metrics usually is behind a firewall.
    metrics_token: SecretStr | None = None

    @field_validator("postgres_schema")
    @classmethod
    def _plain_identifier(cls, value: str) -> str:
        # The name is interpolated into DDL, so only a plain lower-case identifier is allowed.
        if not _PG_IDENTIFIER.match(value):
            raise ValueError("must be a lower-case PostgreSQL identifier ([a-z_][a-z0-9_]*, at most 63)")
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_JWT_SECRET_BYTES:
            raise ValueError(f"must be at least {MIN_JWT_SECRET_BYTES} bytes")
        return value

    @model_validator(mode="after")
    def _no_placeholder_secrets(self) -> TypecheckSettings:
        if self.development:
            return self
        for name in ("jwt_secret", "first_admin_password"):
            value: SecretStr | None = getattr(self, name)
            if value is not None and _is_placeholder(value.get_secret_value()):
                raise ValueError(
                    f"TYPECHECK_{name.upper()} is empty or a placeholder; "
                    "set a real secret (or TYPECHECK_DEVELOPMENT=true on a development machine)"
                )
        if self.jwt_secret is not None and _is_low_entropy(self.jwt_secret.get_secret_value().encode()):
            raise ValueError(
                f"TYPECHECK_JWT_SECRET is too easy to guess: it needs {MIN_JWT_SECRET_DISTINCT_BYTES} distinct bytes"
                f" or more and must not repeat a pattern of {MAX_JWT_SECRET_PERIOD} bytes or fewer"
                " (generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return self


def _is_placeholder(value: str) -> bool:
    stripped = value.strip()
    return not stripped or stripped.lower() in PLACEHOLDER_SECRETS


def _is_low_entropy(secret: bytes) -> bool:
    if len(set(secret)) < MIN_JWT_SECRET_DISTINCT_BYTES:
        return True
    # Periodic: every byte equals the one `period` places before it.
    return any(
        secret[period:] == secret[:-period] for period in range(1, min(MAX_JWT_SECRET_PERIOD, len(secret) - 1) + 1)
    )


@lru_cache(maxsize=1)
def get_settings() -> TypecheckSettings:
    """Return the settings, read from the environment on first call and cached after."""
    return TypecheckSettings()
