"""Settings of the example application.

Values come from the process environment first (systemd's EnvironmentFile sets
them) and then from a ``.env`` file in the current working directory (each
release directory holds a ``.env`` symlink to ``shared/.env``). Names are
case-insensitive: ``SECRET_KEY`` fills ``secret_key``.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


class Settings(BaseSettings):
    """Application settings; construction fails when a required value is missing."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        # The deployment may put variables for other tools in .env: ignore them.
        extra="ignore",
    )

    app_name: str = "FastAPI App"
    environment: str = "production"
    debug: bool = False
    log_level: str = "info"

    # Required: there is no safe default for a signing key.
    secret_key: SecretStr = Field(min_length=1)

    # Optional. When set, /ready checks that the database accepts TCP connections.
    database_url: SecretStr | None = None
    database_check_timeout: float = Field(default=1.0, gt=0, le=10)
    # How long a worker reuses its last database probe: /ready is public and not rate limited, so
    # without this every request would open a connection to the database (0 probes every time).
    database_check_cache_seconds: float = Field(default=1.0, ge=0, le=60)

    # Browser origins allowed by CORS, as JSON: CORS_ORIGINS='["https://app.example.com"]'.
    # Empty (the default) adds no CORS middleware at all.
    cors_origins: list[str] = []

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        value = value.lower()
        if value not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return value

    @field_validator("database_url")
    @classmethod
    def _empty_database_url_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        # DATABASE_URL= (empty) means "no database", not "a database at ''".
        if value is not None and not value.get_secret_value().strip():
            return None
        return value


@lru_cache
def get_settings() -> Settings:
    """Return the settings, read once per process."""
    return Settings()
