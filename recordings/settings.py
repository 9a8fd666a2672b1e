"""Settings of the recordings/QA feature: one model the service settings embed as `recordings`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class AuthSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Signs session tokens. No default: demo mode generates one under var/ (see
    # `hotline.app.service.token_secret`); production refuses to start without it.
    token_secret: SecretStr | None = None
    token_ttl_minutes: int = Field(480, ge=5, le=7 * 24 * 60)
    cookie_name: str = Field("hotline_session", pattern=r"^[A-Za-z0-9_]{1,40}$")
    cookie_secure: bool = False  # set true behind HTTPS

    @field_validator("token_secret")
    @classmethod
    def _long_enough(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 32:
            raise ValueError("token secret must be at least 32 characters")
        return v


class RecordingSettings(BaseModel):
    """Where recordings live, how long they are kept, and the QA page's figures."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # Host path (relative paths are under the project root; the lead's Settings.resolve).
    dir: Path = Path("var/recordings")
    # The same directory as Asterisk sees it (it runs in its own root); None: same as `dir`.
    asterisk_dir: str | None = None
    format: Literal["wav", "wav49", "gsm"] = "wav"
    retention_days: int = Field(90, ge=1, le=3650)
    purge_interval_minutes: int = Field(60, ge=1, le=24 * 60)
    csat_target: float = Field(0.8, ge=0, le=1)
    stats_timezone: str = "Europe/Moscow"  # days in statistics are local days
    # the wallboard's service level: share of queue calls answered within this many seconds
    service_level_seconds: int = Field(20, ge=1, le=600)
    auth: AuthSettings = AuthSettings()

    @field_validator("stats_timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    def resolved(self, root: Path) -> RecordingSettings:
        """A copy whose `dir` is absolute (relative paths are taken under `root`)."""
        d = self.dir if self.dir.is_absolute() else root / self.dir
        return self.model_copy(update={"dir": d.resolve()})
