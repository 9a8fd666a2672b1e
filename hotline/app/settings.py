"""Service settings: `config/hotline.yaml` plus `HOTLINE_*` environment overrides.

A broken settings file stops start-up with the file, line and key at fault
(`SettingsError`).  Nested keys are overridden with a double underscore, e.g.
`HOTLINE_ASTERISK__AMI_SECRET=...` or `HOTLINE_DATABASE__URL=postgresql+asyncpg://...`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from hotline.paths import PROJECT_ROOT
from hotline.pbx.settings import AsteriskSettings, ServiceSettings
from hotline.problems import Marks, Position, Problem, YamlFileError, pydantic_problems
from hotline.yamlsrc import load_yaml
from recordings.settings import RecordingSettings
from voicebot.settings import BotSettings

DEFAULT_SETTINGS_FILE = PROJECT_ROOT / "config" / "hotline.yaml"
ENV_PREFIX = "HOTLINE_"
DEMO_DIRECTORY = PROJECT_ROOT / "config" / "directory.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(_Strict):
    url: str = "sqlite+aiosqlite:///var/hotline.db.base"
    echo: bool = False


class LogSettings(_Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["console", "json"] = "console"


class ClusterSettings(_Strict):
    """A node of a cluster (several Asterisk + service nodes on one shared database,
    docs/cluster.md): the dialplan follows the version active in the database, and with a
    PostgreSQL database presence is shared (docs/decisions/0010)."""

    enabled: bool = False
    shared_presence: bool = True  # only with `enabled` and a PostgreSQL database
    presence_heartbeat: float = Field(1.0, gt=0, le=30)  # s between lease renewals
    presence_ttl: float = Field(4.0, gt=0, le=120)  # s a node's claims outlive its last renewal

    @model_validator(mode="after")
    def _ttl_outlives_heartbeat(self) -> ClusterSettings:
        if self.presence_ttl <= 2 * self.presence_heartbeat:
            raise ValueError("presence_ttl must be more than twice presence_heartbeat "
                             "(one late renewal must not drop a node's claims)")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    mode: Literal["demo", "production"] = "demo"
    country: str = Field("RU", pattern=r"^[A-Z]{2}$")
    var_dir: Path = PROJECT_ROOT / "var"
    service: ServiceSettings = ServiceSettings()
    asterisk: AsteriskSettings = AsteriskSettings()
    database: DatabaseSettings = DatabaseSettings()
    log: LogSettings = LogSettings()
    cluster: ClusterSettings = ClusterSettings()
    bot: BotSettings = BotSettings()
    # dir/asterisk_dir unset: the Asterisk instance's own recordings directory
    recordings: RecordingSettings = RecordingSettings(dir=Path("."), asterisk_dir=None)
    dialplan: Path = PROJECT_ROOT / "dialplan" / "hotline.yaml"
    routing: Path = PROJECT_ROOT / "config" / "routing.yaml"
    # The demo directory (teams, operators with demo SIP passwords, callers): loaded with the
    # demo lottery data into an empty database in demo mode only. Production directories come
    # from the admin API (`hotline users`, /api/admin/...); setting this there is refused.
    # None: config/directory.yaml in demo mode, none in production.
    directory: Path | None = None

    @field_validator("directory")
    @classmethod
    def _no_demo_directory_in_production(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        if v is not None and info.data.get("mode") == "production":
            raise ValueError(
                "the directory file is demo data (demo SIP passwords) and is loaded in demo mode "
                "only: remove it from production settings and manage operators through the "
                "admin API"
            )
        return v

    @field_validator("asterisk")
    @classmethod
    def _no_test_caller_in_production(cls, v: AsteriskSettings, info: ValidationInfo) -> AsteriskSettings:
        if info.data.get("mode") == "production" and v.test_caller:
            raise ValueError(
                "test_caller: the unauthenticated test caller (any process on this machine "
                "calls in without a password) is for demo mode only: remove it or set it false"
            )
        return v

    @model_validator(mode="after")
    def _mode_defaults(self) -> Settings:
        if self.asterisk.test_caller is None:
            self.asterisk = self.asterisk.model_copy(update={"test_caller": self.mode == "demo"})
        if self.directory is None and self.mode == "demo":
            self.directory = DEMO_DIRECTORY
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment wins over the file (passed as init kwargs).
        return env_settings, init_settings

    def resolve(self, p: Path) -> Path:
        return p if p.is_absolute() else PROJECT_ROOT / p

    @property
    def database_url(self) -> str:
        url = self.database.url
        prefix = "sqlite+aiosqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.resolve(Path(url[len(prefix):])))
        return url


class SettingsError(YamlFileError):
    pass


def _env_keys() -> set[str]:
    return {k.upper() for k in os.environ if k.upper().startswith(ENV_PREFIX)}


def load_settings(path: str | Path | None = None) -> Settings:
    """Load and validate settings; raises SettingsError naming file, line and key."""
    path = Path(path or os.environ.get("HOTLINE_CONFIG") or DEFAULT_SETTINGS_FILE)
    data: Any = {}
    marks = Marks(str(path))
    if path.exists():
        data, marks = load_yaml(path)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise SettingsError([Problem(Position(str(path), 1, 1), "settings must be a mapping")])
    try:
        return Settings(**data)
    except ValidationError as exc:
        problems = pydantic_problems(exc, marks)
        env = _env_keys()
        fixed = []
        for err, prob in zip(exc.errors(), problems, strict=True):
            env_name = ENV_PREFIX + "__".join(str(p) for p in err["loc"]).upper()
            if env_name in env:
                fixed.append(Problem(Position(f"environment {env_name}", 0, 0), prob.message, prob.path))
            else:
                fixed.append(prob)
        raise SettingsError(fixed) from None
