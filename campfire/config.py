"""Settings: defaults < TOML file < CAMPFIRE_* environment < command-line flags."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "CAMPFIRE_"


@dataclass(frozen=True)
class Settings:
    """Every setting the server reads; each one is documented in config.example.toml."""

    host: str = "127.0.0.1"
    port: int = 3000
    db: str = "campfire.db"
    log_level: str = "INFO"
    event_loop: str = "asyncio"

    session_days: int = 30
    secure_cookies: str = "auto"
    trust_proxy: bool = False
    allowed_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1024 * 1024
    hash_workers: int = 2
    login_attempts_per_minute: int = 10

    ws_heartbeat: float = 30.0
    ws_compress: bool = False
    ws_max_frame_bytes: int = 64 * 1024
    ws_queue_frames: int = 1024
    ws_messages_per_second: float = 20.0
    ws_burst: int = 40
    user_messages_per_second: float = 10.0
    user_messages_burst: int = 50
    ws_max_connections_per_user: int = 20
    typing_timeout: float = 10.0
    typing_sweep_interval: float = 5.0
    catchup_limit: int = 200
    ws_recheck_interval: float = 30.0
    shutdown_timeout: float = 5.0
    presence_coalesce_seconds: float = 0.25

    # Security limits for logins and HTTP (issue 10; docs/operations.md, "Security").
    trusted_proxy_hops: int = 1
    login_attempts_in_flight: int = 2
    login_throttle_max_keys: int = 100_000
    hash_queue: int = 16
    request_body_timeout: float = 30.0
    pending_requests_per_address: int = 32
    upload_min_bytes_per_second: float = 10_000.0
    public_url: str = ""
    boosts_per_user_per_message: int = 10

    # Limits on rooms, history and emails (issue 10; docs/operations.md, "Security").
    rooms_per_hour: int = 20
    direct_rooms_per_hour: int = 30
    open_rooms_admin_only: bool = False
    history_page_max_bytes: int = 128 * 1024
    history_pages_per_second: float = 2.0
    history_pages_burst: int = 20
    emails_visible_to_members: bool = False
    # Notifications and bots (docs/bots.md, docs/operations.md).
    push_subject: str = "mailto:admin@localhost"
    push_allow_insecure_endpoints: bool = False
    push_subscriptions_per_user: int = 10
    push_queue_size: int = 1000
    push_concurrency: int = 16
    push_timeout: float = 10.0
    push_ttl: int = 3600
    webhook_timeout: float = 7.0
    webhook_max_attempts: int = 5
    webhook_retry_seconds: float = 10.0
    webhook_concurrency: int = 8
    webhook_poll_seconds: float = 5.0
    push_refresh_seconds: float = 10.0
    # Several workers on one box, sharing the database and Redis (docs/operations.md).
    workers: int = 1
    redis_url: str = ""
    worker_recheck_interval: float = 1.0
    relay_gap_wait: float = 0.025
    relay_check_interval: float = 1.0
    redis_probe_interval: float = 1.0
    redis_stall_seconds: float = 2.5

    files_dir: str = ""
    max_upload_bytes: int = 100 * 1024 * 1024
    max_avatar_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 50_000_000
    file_workers: int = 4
    image_workers: int = 2

    # PostgreSQL (db = "postgresql://..."): connections each process keeps open at most.
    db_pool_size: int = 10

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed (used by tests and flags)."""
        return dataclasses.replace(self, **changes)

    @property
    def db_path(self) -> Path:
        """The database file as a path."""
        return Path(self.db)

    @property
    def files_path(self) -> Path:
        """The data directory for uploaded files: files_dir, or `<db>-files` beside the database."""
        if self.files_dir:
            return Path(self.files_dir)
        if self.db.startswith(("postgresql://", "postgres://")):
            return Path("campfire-files")  # no database file to sit beside
        return files_dir_of(self.db_path)


def files_dir_of(db_path: Path) -> Path:
    """The data directory that belongs to a database file: `campfire.db` -> `campfire.db-files`."""
    return db_path.with_name(db_path.name + "-files")


SETTING_NAMES = tuple(f.name for f in fields(Settings))


def _coerce(name: str, value: Any) -> Any:
    """Turn a raw value (from TOML or the environment) into the setting's type."""
    kind = type(getattr(Settings, name))
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind is tuple:
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            return tuple(str(v) for v in value)
        if kind is int and isinstance(value, bool):
            raise ValueError(value)
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name!r}: cannot use {value!r} as {kind.__name__}") from None


class ConfigError(Exception):
    """A setting that cannot be read; the message says which and why."""


def load_settings(
    config_file: str | os.PathLike | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build Settings from defaults, then the TOML file, the environment, and flags."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file = config_file or environ.get(ENV_PREFIX + "CONFIG")
    if config_file:
        try:
            with open(config_file, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {config_file} is not valid TOML: {exc}") from None
        for key, value in data.items():
            if key not in SETTING_NAMES:
                raise ConfigError(f"config file {config_file}: unknown setting {key!r}")
            values[key] = _coerce(key, value)
    for name in SETTING_NAMES:
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _coerce(name, raw)
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _coerce(key, value)
    return Settings(**values)
