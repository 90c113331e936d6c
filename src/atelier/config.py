"""Atelier's configuration: one frozen model, loaded once at start-up.

Sources, strongest first: `ATELIER_<SECTION>_<KEY>` environment variables, the JSON file at
`/etc/atelier/sandbox.config.json` (or `$ATELIER_CONFIG`), then the defaults below. Unknown
keys and bad values are rejected with an error naming the key, the value and what is
allowed. This is the only module (besides the guest) that reads the environment.
"""

from __future__ import annotations

import contextvars
import json
import os
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from atelier.errors import ConfigError
from atelier.runtime.host.setup_config import SetupConfig
from atelier.runtime.images.config import ImagesConfig
from atelier.runtime.network.config import NetworkConfig
from atelier.runtime.opencode.config import OpencodeConfig
from atelier.runtime.proxy.config import ProxyConfig
from atelier.runtime.registry.config import RegistryConfig
from atelier.runtime.ssh.config import SshConfig
from atelier.runtime.storage.config import StorageConfig
from atelier.runtime.vmm.config import VmmConfig
from atelier.web_config import WebConfig

DEFAULT_CONFIG_PATH = Path("/etc/atelier/sandbox.config.json")
ENV_PREFIX = "ATELIER_"
# ATELIER_* variables that are not configuration keys.
NON_CONFIG_ENV = frozenset(
    {"ATELIER_CONFIG", "ATELIER_URL", "ATELIER_TOKEN", "ATELIER_DEBUG", "ATELIER_TEST_ARTIFACTS"}
)


def _is_root() -> bool:
    return os.geteuid() == 0


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value else Path.home() / fallback


def default_data_dir() -> Path:
    """/var/lib/atelier as root, else $XDG_DATA_HOME/atelier."""
    return (
        Path("/var/lib/atelier")
        if _is_root()
        else _xdg("XDG_DATA_HOME", ".local/share") / "atelier"
    )


def default_cache_dir() -> Path:
    """/var/cache/atelier as root, else $XDG_CACHE_HOME/atelier."""
    return (
        Path("/var/cache/atelier") if _is_root() else _xdg("XDG_CACHE_HOME", ".cache") / "atelier"
    )


def default_run_dir() -> Path:
    """/run/atelier as root, else $XDG_RUNTIME_DIR/atelier (short: it holds Unix sockets)."""
    if _is_root():
        return Path("/run/atelier")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return Path(runtime) / "atelier" if runtime else Path(f"/tmp/atelier-{os.getuid()}")


class PathsConfig(BaseModel):
    """Where Atelier keeps its state."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Field(default_factory=default_data_dir)
    image_dir: Path | None = Field(None, description="default: <data_dir>/images")
    cache_dir: Path = Field(default_factory=default_cache_dir, description="build caches")
    run_dir: Path = Field(default_factory=default_run_dir, description="sockets and pid files")

    @property
    def images(self) -> Path:
        """The directory holding built images and kernels."""
        return self.image_dir or self.data_dir / "images"


class ServerConfig(BaseModel):
    """The manager's HTTP service."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(4000, ge=1, le=65535)
    mode: Literal["normal", "mock"] = Field(
        "normal", description="mock: in-memory fake drivers for UI development, no VMs"
    )
    public_url: str | None = Field(None, description="URL users reach the dashboard at")
    session_secret: SecretStr | None = Field(None, description="default: generated in data_dir")


class DatabaseConfig(BaseModel):
    """Where the manager persists its state."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: SecretStr | None = Field(
        None, description="SQLAlchemy URL (postgresql+asyncpg://…); default SQLite in data_dir"
    )


class SandboxDefaults(BaseModel):
    """Resources a sandbox gets when neither the request nor the workspace says."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vcpus: int = Field(1, ge=1, le=64)
    memory_mb: int | None = Field(None, ge=128, description="default: the image's recommendation")
    disk_gb: int = Field(10, ge=1, le=4096)
    max_vcpus: int = Field(8, ge=1)
    max_memory_mb: int = Field(16384, ge=128)
    max_disk_gb: int = Field(200, ge=1)


class LimitsConfig(BaseModel):
    """How many sandboxes may exist and spawn at once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_sandboxes: int = Field(50, ge=1)
    max_sandboxes_per_user: int = Field(10, ge=1)
    max_concurrent_spawns: int = Field(2, ge=1)
    idle_stop_minutes: int | None = Field(None, ge=1, description="auto-stop idle sandboxes")


class AtelierConfig(BaseSettings):
    """The whole effective configuration."""

    model_config = SettingsConfigDict(
        extra="forbid",
        frozen=True,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        case_sensitive=False,
    )

    paths: PathsConfig = Field(default_factory=PathsConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    vmm: VmmConfig = Field(default_factory=VmmConfig)
    images: ImagesConfig = Field(default_factory=ImagesConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    proxy: ProxyConfig = Field(default_factory=ProxyConfig)
    sandbox: SandboxDefaults = Field(default_factory=SandboxDefaults)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    ssh: SshConfig = Field(default_factory=SshConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    opencode: OpencodeConfig = Field(default_factory=OpencodeConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    setup: SetupConfig = Field(default_factory=SetupConfig)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Values given in code beat the environment, which beats the file, which beats the
        # defaults. `load_config` hands the file over through `_file_data`.
        return (init_settings, env_settings, _FileSource(settings_cls))


_file_data: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "file_data", default=None
)


class _FileSource(PydanticBaseSettingsSource):
    """The parsed config file, as the weakest source above the defaults."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return (_file_data.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_file_data.get() or {})


def config_path(environ: dict[str, str] | None = None) -> Path:
    """The config file in effect: $ATELIER_CONFIG or the default path."""
    env = os.environ if environ is None else environ
    value = env.get("ATELIER_CONFIG")
    return Path(value) if value else DEFAULT_CONFIG_PATH


def load_config(path: Path | None = None) -> AtelierConfig:
    """Load the configuration once: environment, then file, then defaults.

    Raises ConfigError naming the key, the value and what is allowed.
    """
    path = path or config_path()
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                hint="fix the file or point ATELIER_CONFIG at another one",
            ) from exc
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must hold a JSON object, not {type(data).__name__}")
    _reject_unknown_env()
    try:
        token = _file_data.set(data)
        try:
            return AtelierConfig()
        finally:
            _file_data.reset(token)
    except pydantic.ValidationError as exc:
        raise ConfigError(_explain(exc, path), hint="see `atelier config schema`") from exc


def _reject_unknown_env() -> None:
    sections = set(AtelierConfig.model_fields)
    for name in os.environ:
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in NON_CONFIG_ENV:
            continue
        section = upper[len(ENV_PREFIX) :].split("_", 1)[0].lower()
        if section not in sections:
            allowed = ", ".join(f"{ENV_PREFIX}{s.upper()}_…" for s in sorted(sections))
            raise ConfigError(
                f"unknown environment variable {name}: {section!r} is not a config section",
                hint=f"allowed: {allowed}",
                field=name,
            )


def _explain(exc: pydantic.ValidationError, path: Path) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        env_name = ENV_PREFIX + "_".join(str(p) for p in err["loc"]).upper()
        source = f"${env_name}" if env_name in {k.upper() for k in os.environ} else str(path)
        value = err.get("input")
        if err["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key (in {source})")
        else:
            lines.append(f"{key}: {value!r} is not allowed: {err['msg']} (in {source})")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def public_view(config: AtelierConfig) -> dict[str, Any]:
    """The effective configuration as JSON data, with secrets masked."""
    return json.loads(config.model_dump_json())  # type: ignore[no-any-return]  # JSON object


def json_schema() -> dict[str, Any]:
    """The JSON schema of the config file, for editors."""
    return AtelierConfig.model_json_schema()


DEFAULT_MANAGER_URL = "http://127.0.0.1:4000"


class ClientSettings(BaseModel):
    """How the CLI reaches a manager: its URL and the caller's API token."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = DEFAULT_MANAGER_URL
    token: SecretStr | None = None
    source: str = Field("defaults", description="where url/token came from, for messages")


def client_config_path() -> Path:
    """The CLI's own settings file: $XDG_CONFIG_HOME/atelier/client.json."""
    return _xdg("XDG_CONFIG_HOME", ".config") / "atelier" / "client.json"


def client_settings(path: Path | None = None) -> ClientSettings:
    """The CLI's connection settings: $ATELIER_URL / $ATELIER_TOKEN beat client.json.

    client.json holds `{"url": ..., "token": ...}`. Raises ConfigError naming the file and
    the bad key or value.
    """
    path = path or client_config_path()
    data: dict[str, Any] = {}
    sources = []
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, OSError) as exc:
            raise ConfigError(
                f"{path} cannot be read as JSON: {exc}",
                hint='it should hold {"url": "https://…", "token": "atl_…"}',
            ) from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must hold a JSON object, not {type(data).__name__}")
        sources.append(str(path))
    for key, var in (("url", "ATELIER_URL"), ("token", "ATELIER_TOKEN")):
        value = os.environ.get(var)
        if value:
            data[key] = value
            sources.append(f"${var}")
    try:
        return ClientSettings(**data, source=", ".join(sources) or "defaults")
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(
            f"client settings are invalid ({', '.join(sources) or 'defaults'}): {problems}",
            hint='client.json may hold only "url" and "token"',
        ) from exc
