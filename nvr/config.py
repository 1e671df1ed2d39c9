"""The TOML configuration: pydantic models, loading, and errors that name the key."""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nvr.config_lines import find_line, line_index
from nvr.errors import ConfigError, ConfigProblem
from nvr.secrets import Resolved, Secret

CAMERA_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class Section(BaseModel):
    """Base of every config table: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(Section):
    host: str = Field("127.0.0.1", title="Address the web server listens on")
    port: int = Field(8080, ge=0, le=65535, title="Web server port (0 = any free port)")
    session_hours: float = Field(12, gt=0, le=24 * 30, title="Hours a login stays valid")


class LogConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = Field("info", title="Log level")


class StorageConfig(Section):
    root: Path = Field(Path("var/storage"), title="Folder that holds recorded footage")


class CatalogConfig(Section):
    url: str = Field(
        "",
        title="Catalog database URL",
        description='"" = catalog.db beside the storage root; a path (relative to the config file) '
        "or sqlite:///absolute/path.db",
    )


class DiscoveryConfig(Section):
    enabled: bool = Field(False, title="Probe for ONVIF cameras on a schedule")
    interval_minutes: float = Field(10, ge=0.1, le=24 * 60, title="Minutes between probes")
    interface: str | None = Field(
        None, title="IPv4 address of the interface multicast probes leave from"
    )
    port: int = Field(3702, ge=1, le=65535, title="WS-Discovery UDP port")
    multicast: bool = Field(True, title="Send the multicast probe")
    unicast: list[str] = Field(default_factory=list, title="Hosts or CIDR subnets probed directly")
    timeout_s: float = Field(3.0, gt=0, le=60, title="Seconds to wait for answers")
    username: Resolved | None = Field(None, title="ONVIF user tried on discovered devices")
    password: Secret | None = Field(None, title="ONVIF password tried on discovered devices")

    @field_validator("interface")
    @classmethod
    def _ipv4(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.IPv4Address(value)
        return value

    @field_validator("unicast")
    @classmethod
    def _targets(cls, value: list[str]) -> list[str]:
        for target in value:
            try:
                ipaddress.ip_network(target, strict=False)
            except ValueError:
                if not target or any(c.isspace() for c in target):
                    raise ValueError(f"{target!r} is neither a host nor a CIDR subnet") from None
        return value


class OnvifConfig(Section):
    host: str = Field(title="Camera host name or address")
    port: int = Field(80, ge=1, le=65535, title="ONVIF HTTP port")
    username: Resolved | None = Field(None, title="ONVIF user")
    password: Secret | None = Field(None, title="ONVIF password")


class StreamConfig(Section):
    main: str | None = Field(None, title="Main stream RTSP URL (recorded)")
    sub: str | None = Field(None, title="Sub stream RTSP URL (live view, analysis)")
    transport: Literal["tcp", "udp"] = Field("tcp", title="RTP transport")
    username: Resolved | None = Field(None, title="RTSP user (default: the ONVIF user)")
    password: Secret | None = Field(None, title="RTSP password (default: the ONVIF password)")

    @field_validator("main", "sub")
    @classmethod
    def _rtsp(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("rtsp://", "rtsps://")):
            raise ValueError("must be an rtsp:// or rtsps:// URL")
        if value is not None and "@" in value.split("/")[2]:
            raise ValueError("put credentials in username/password, not in the URL")
        return value


class Location(Section):
    lat: float = Field(ge=-90, le=90, title="Latitude (WGS 84)")
    lon: float = Field(ge=-180, le=180, title="Longitude (WGS 84)")


class RecordConfig(Section):
    enabled: bool = Field(True, title="Record the main stream")
    segment_seconds: int = Field(60, ge=10, le=600, title="Target segment length")
    retain_days: float = Field(30, gt=0, le=3650, title="Days footage is kept")
    event_retain_days: float = Field(
        90, gt=0, le=3650, title="Days footage overlapping a detection event is kept (at least retain_days)"
    )
    max_gb: float | None = Field(None, gt=0, title="Size cap for this camera's footage; oldest goes first")


class RecordingConfig(Section):
    stall_timeout_s: float = Field(10, ge=2, le=120, title="Seconds without packets before a stall reconnect")
    reconnect_max_s: float = Field(30, ge=1, le=600, title="Cap of the reconnect backoff")
    index_queue: int = Field(10_000, ge=100, le=1_000_000,
                             title="Closed segments held in memory while the catalog is slow")


class RetentionConfig(Section):
    interval_minutes: float = Field(10, ge=0.1, le=24 * 60, title="Minutes between retention sweeps")
    min_free_percent: float = Field(5, ge=0, le=90, title="Free-space floor as a percentage of the disk")
    min_free_gb: float = Field(5, ge=0, title="Free-space floor in GB (the larger floor applies)")
    check_seconds: float = Field(10, ge=1, le=600, title="Seconds between free-space checks")


class DetectConfig(Section):
    enabled: bool = Field(False, title="Run object detection on this camera")
    fps: float = Field(5, gt=0, le=30, title="Frames per second analysed")
    objects: list[str] = Field(default_factory=lambda: ["person", "car", "motorcycle"])


class CameraConfig(Section):
    name: str = Field(pattern=CAMERA_NAME_PATTERN, title="Unique id: a-z, 0-9, _ and -")
    title: str | None = Field(None, title="Display name")
    enabled: bool = Field(True, title="Connect to this camera")
    onvif: OnvifConfig | None = None
    stream: StreamConfig | None = None
    location: Location | None = None
    kelurahan: str | None = None
    kecamatan: str | None = None
    tags: list[str] = Field(default_factory=list)
    record: RecordConfig = Field(default_factory=RecordConfig)
    detect: DetectConfig = Field(default_factory=DetectConfig)

    @property
    def display_name(self) -> str:
        return self.title or self.name

    def rtsp_credentials(self) -> tuple[str | None, str | None]:
        """RTSP user and password: the stream's own, else the ONVIF ones."""
        user = self.stream.username if self.stream else None
        password = self.stream.password if self.stream else None
        if user is None and self.onvif is not None:
            user = self.onvif.username
        if password is None and self.onvif is not None:
            password = self.onvif.password
        return user, password.get_secret_value() if password is not None else None


class Config(Section):
    server: ServerConfig = Field(default_factory=ServerConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    catalog: CatalogConfig = Field(default_factory=CatalogConfig)
    discovery: DiscoveryConfig = Field(default_factory=DiscoveryConfig)
    recording: RecordingConfig = Field(default_factory=RecordingConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    cameras: list[CameraConfig] = Field(default_factory=list)
    plugins: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def camera(self, name: str) -> CameraConfig | None:
        return next((c for c in self.cameras if c.name == name), None)

    @property
    def catalog_url(self) -> str:
        """The catalog URL or path; default: ``catalog.db`` beside the storage root."""
        return self.catalog.url or str(self.storage.root.parent / "catalog.db")


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config plus each plugin's validated table."""

    config: Config
    plugin_configs: dict[str, BaseModel]
    path: Path | None


def _semantic_problems(raw: dict[str, Any]) -> list[ConfigProblem]:
    """Checks that span keys: camera URLs, duplicate names, discovery interface."""
    problems: list[ConfigProblem] = []
    seen: dict[str, int] = {}
    cameras = raw.get("cameras", [])
    for i, cam in enumerate(cameras if isinstance(cameras, list) else []):
        if not isinstance(cam, dict):
            continue
        stream = cam.get("stream") if isinstance(cam.get("stream"), dict) else {}
        if not cam.get("onvif") and not stream.get("main"):
            problems.append(ConfigProblem(
                ("cameras", i, "stream", "main"),
                "camera needs a main stream URL (stream.main) or an [cameras.onvif] table to find it",
            ))
        name = cam.get("name")
        if isinstance(name, str):
            if name in seen:
                problems.append(ConfigProblem(
                    ("cameras", i, "name"), f"duplicate camera name {name!r} (also cameras[{seen[name]}])"
                ))
            seen.setdefault(name, i)
    disc = raw.get("discovery")
    if isinstance(disc, dict) and disc.get("enabled") and disc.get("multicast", True):
        if not disc.get("interface"):
            problems.append(ConfigProblem(
                ("discovery", "interface"),
                "set the IPv4 address of the interface multicast probes leave from "
                "(or multicast = false and list unicast targets)",
            ))
    return problems


def _pydantic_problems(exc: ValidationError, prefix: tuple = ()) -> list[ConfigProblem]:
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        problems.append(ConfigProblem(prefix + tuple(err["loc"]), msg))
    return problems


def parse_config(
    text: str,
    plugin_models: dict[str, type[BaseModel]] | None = None,
    base_dir: Path | None = None,
    source: str = "<config>",
) -> LoadedConfig:
    """Validate TOML text; raise ``ConfigError`` listing every problem found."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [ConfigProblem((), f"invalid TOML: {exc}")]) from None
    problems = _semantic_problems(raw)
    config: Config | None = None
    context = {"base_dir": base_dir}  # relative secret files resolve against it
    try:
        config = Config.model_validate(raw, context=context)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc))
    plugin_configs: dict[str, BaseModel] = {}
    models = plugin_models or {}
    raw_plugins = raw.get("plugins", {})
    for name, table in (raw_plugins.items() if isinstance(raw_plugins, dict) else []):
        model = models.get(name)
        if model is None:
            known = ", ".join(sorted(models)) or "none"
            problems.append(ConfigProblem(
                ("plugins", name), f"no installed plugin takes a [plugins.{name}] table (known: {known})"
            ))
            continue
        if not isinstance(table, dict):
            continue  # Config.model_validate already reported "plugins.<name>: not a table"
        try:
            plugin_configs[name] = model.model_validate(table, context=context)
        except ValidationError as exc:
            problems.extend(_pydantic_problems(exc, ("plugins", name)))
    for name, model in models.items():
        if name not in plugin_configs and not any(p.path[:2] == ("plugins", name) for p in problems):
            try:
                plugin_configs[name] = model.model_validate({}, context=context)
            except ValidationError as exc:
                problems.extend(_pydantic_problems(exc, ("plugins", name)))
    if problems:
        index = line_index(text)
        located = [p.with_line(find_line(index, p.path)) for p in problems]
        raise ConfigError(source, sorted(located, key=lambda p: (p.line or 0, p.key)))
    assert config is not None
    if base_dir is not None:
        config = _resolve_paths(config, base_dir)
    return LoadedConfig(config, plugin_configs, None)


def _resolve_paths(config: Config, base_dir: Path) -> Config:
    root = config.storage.root
    if not root.is_absolute():
        root = (base_dir / root).resolve()
    url = config.catalog.url
    if url and "://" not in url and not Path(url).is_absolute():
        url = str((base_dir / url).resolve())
    return config.model_copy(update={
        "storage": config.storage.model_copy(update={"root": root}),
        "catalog": config.catalog.model_copy(update={"url": url}),
    })


def load_config(path: str | Path, plugin_models: dict[str, type[BaseModel]] | None = None) -> LoadedConfig:
    """Read and validate a config file; relative paths resolve against its folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [ConfigProblem((), f"cannot read config: {exc.strerror}")]) from None
    loaded = parse_config(text, plugin_models, base_dir=path.resolve().parent, source=str(path))
    return LoadedConfig(loaded.config, loaded.plugin_configs, path)
