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
from nvr.nodes_config import ClusterConfig
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
    url: Resolved = Field(
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
    direction_deg: float | None = Field(None, ge=0, lt=360,
                                        title="Where the camera looks, degrees clockwise from north (optional)")
    fov_deg: float | None = Field(None, gt=0, le=360, title="Horizontal field of view in degrees (optional)")


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


class ExportConfig(Section):
    max_range_hours: float = Field(24, gt=0, le=24 * 31, title="Longest time range one export or download may span")
    dir: Path | None = Field(None, title="Folder for export bundles (default: exports beside the storage root)")
    key_file: Path | None = Field(
        None, title="Ed25519 key that signs bundles (default: keys/export-ed25519.pem beside the storage root)")


class RetentionConfig(Section):
    interval_minutes: float = Field(10, ge=0.1, le=24 * 60, title="Minutes between retention sweeps")
    min_free_percent: float = Field(5, ge=0, le=90, title="Free-space floor as a percentage of the disk")
    min_free_gb: float = Field(5, ge=0, title="Free-space floor in GB (the larger floor applies)")
    check_seconds: float = Field(10, ge=1, le=600, title="Seconds between free-space checks")


SEVERITIES = ("info", "low", "medium", "high", "critical")
"""Event severities, least to most urgent."""
Severity = Literal["info", "low", "medium", "high", "critical"]
Point = tuple[float, float]
ZONE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


def _polygon(points: list[Point]) -> list[Point]:
    if len(points) < 3:
        raise ValueError("a polygon needs at least 3 points")
    for x, y in points:
        if not (0 <= x <= 1 and 0 <= y <= 1):
            raise ValueError(f"point ({x}, {y}) is outside the frame: coordinates are fractions from 0 to 1")
    return points


class ZoneConfig(Section):
    name: str = Field(pattern=ZONE_NAME_PATTERN, title="Zone id: a-z, 0-9, _ and -")
    points: list[Point] = Field(title="Polygon corners as [x, y] fractions of the frame (0,0 = top left)")
    objects: list[str] = Field(default_factory=list, title="Labels that count in this zone (empty = all)")
    min_score: float = Field(0, ge=0, le=1, title="Lowest detection score that counts in this zone")
    min_area: float = Field(0, ge=0, le=1, title="Smallest box, as a fraction of the frame, that counts")

    @field_validator("points")
    @classmethod
    def _points(cls, value: list[Point]) -> list[Point]:
        return _polygon(value)


class DetectConfig(Section):
    enabled: bool = Field(False, title="Run object detection on this camera")
    fps: float = Field(0.5, gt=0, le=30, title="Frames per second analysed (at or below the keyframe rate: "
                       "keyframes only)")
    stream: Literal["auto", "sub", "main"] = Field("auto", title="Stream analysed (auto: sub, else main)")
    objects: list[str] = Field(default_factory=lambda: ["person", "car", "motorcycle", "bicycle", "bus",
                                                        "truck"], title="Labels that become events")
    min_score: float = Field(0.5, ge=0, le=1, title="Lowest detection score kept")
    zones: list[ZoneConfig] = Field(default_factory=list, title="Named polygons with their own object filters")
    required_zones: list[str] = Field(default_factory=list,
                                      title="Only objects inside one of these zones become events")
    motion_masks: list[list[Point]] = Field(default_factory=list,
                                            title="Polygons where motion is ignored (clocks, trees)")

    @field_validator("motion_masks")
    @classmethod
    def _masks(cls, value: list[list[Point]]) -> list[list[Point]]:
        return [_polygon(mask) for mask in value]


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


class RuleConfig(Section):
    name: str = Field(pattern=ZONE_NAME_PATTERN, title="Rule id")
    type: Literal["crowd", "label"] = Field(title="crowd: at least min_count objects for seconds; "
                                            "label: any of labels for seconds")
    labels: list[str] = Field(default_factory=lambda: ["person"], min_length=1, title="Labels the rule counts")
    min_count: int = Field(1, ge=1, le=1000, title="Objects needed at once (crowd)")
    seconds: float = Field(0, ge=0, le=3600, title="How long the condition must hold before the event starts")
    min_score: float = Field(0.5, ge=0, le=1, title="Lowest detection score counted")
    cameras: list[str] = Field(default_factory=list, title="Cameras the rule applies to (empty = all analysed)")
    zone: str | None = Field(None, title="Only count objects in this zone (on cameras that have it)")
    severity: Severity = Field("high", title="Severity of the events the rule raises")
    agency: str | None = Field(None, title="Responsible agency (OPD) told about the event")
    event_kind: str | None = Field(None, title="Event kind (default: the rule's name)")


class AnalysisConfig(Section):
    detector: str = Field("openvino", title="Detector used (offered by a plugin's register_detectors)")
    motion_threshold: int = Field(25, ge=1, le=255, title="Grey-level change that counts as motion")
    motion_min_fraction: float = Field(0.002, ge=0, le=1, title="Changed fraction of the frame that is motion")
    refresh_s: float = Field(30, ge=0, le=3600, title="Detect at least this often even without motion (0 = never)")
    end_after_s: float = Field(6, gt=0, le=600, title="An object unseen this long (at least 2.5 sampling "
                               "intervals) has left; its event ends")
    min_hits: int = Field(1, ge=1, le=100, title="Frames an object must be seen in before it becomes an event")
    pre_roll_s: float = Field(5, ge=0, le=300, title="Footage kept and shown before an event")
    post_roll_s: float = Field(5, ge=0, le=300, title="Footage kept and shown after an event")
    snapshot_quality: int = Field(85, ge=10, le=100, title="JPEG quality of event snapshots")
    rules: list[RuleConfig] = Field(default_factory=list, title="Emergency rules evaluated on tracks")


class Config(Section):
    server: ServerConfig = Field(default_factory=ServerConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    catalog: CatalogConfig = Field(default_factory=CatalogConfig)
    discovery: DiscoveryConfig = Field(default_factory=DiscoveryConfig)
    recording: RecordingConfig = Field(default_factory=RecordingConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)  # several nodes (docs/operations.md)
    cameras: list[CameraConfig] = Field(default_factory=list)
    plugins: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def camera(self, name: str) -> CameraConfig | None:
        return next((c for c in self.cameras if c.name == name), None)

    @property
    def catalog_url(self) -> str:
        """The catalog URL or path; default: ``catalog.db`` beside the storage root."""
        return self.catalog.url or str(self.storage.root.parent / "catalog.db")

    @property
    def export_dir(self) -> Path:
        """Where export bundles go; default ``exports`` beside the storage root."""
        return self.export.dir or self.storage.root.parent / "exports"

    @property
    def export_key_file(self) -> Path:
        """The bundle-signing key; default ``keys/export-ed25519.pem`` beside the storage root."""
        return self.export.key_file or self.storage.root.parent / "keys" / "export-ed25519.pem"


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
    problems.extend(_analysis_problems(raw, seen))
    disc = raw.get("discovery")
    if isinstance(disc, dict) and disc.get("enabled") and disc.get("multicast", True):
        if not disc.get("interface"):
            problems.append(ConfigProblem(
                ("discovery", "interface"),
                "set the IPv4 address of the interface multicast probes leave from "
                "(or multicast = false and list unicast targets)",
            ))
    return problems


def _names(items: Any, key: str = "name") -> list[Any]:
    return [item.get(key) if isinstance(item, dict) else None for item in (items if isinstance(items, list) else [])]


def _analysis_problems(raw: dict[str, Any], cameras: dict[str, int]) -> list[ConfigProblem]:
    """Zone names unique per camera; required zones, rule cameras and rule zones that exist."""
    problems: list[ConfigProblem] = []
    zones_of: dict[str, set[str]] = {}
    for i, cam in enumerate(raw.get("cameras", []) if isinstance(raw.get("cameras"), list) else []):
        detect = cam.get("detect") if isinstance(cam, dict) else None
        if not isinstance(detect, dict):
            continue
        names: set[str] = set()
        for j, zone in enumerate(_names(detect.get("zones"))):
            if zone in names:
                problems.append(ConfigProblem(("cameras", i, "detect", "zones", j, "name"),
                                              f"duplicate zone name {zone!r}"))
            names.add(zone)
        for j, zone in enumerate(detect.get("required_zones", []) if isinstance(detect.get("required_zones"), list)
                                 else []):
            if zone not in names:
                problems.append(ConfigProblem(("cameras", i, "detect", "required_zones", j),
                                              f"no zone named {zone!r} on this camera"))
        if isinstance(cam.get("name"), str):
            zones_of[cam["name"]] = names
    analysis = raw.get("analysis")
    rules = analysis.get("rules") if isinstance(analysis, dict) else None
    seen_rules: set[str] = set()
    for i, rule in enumerate(rules if isinstance(rules, list) else []):
        if not isinstance(rule, dict):
            continue
        if rule.get("name") in seen_rules:
            problems.append(ConfigProblem(("analysis", "rules", i, "name"), f"duplicate rule name {rule['name']!r}"))
        seen_rules.add(rule.get("name"))
        targets = rule.get("cameras") if isinstance(rule.get("cameras"), list) else []
        for j, name in enumerate(targets):
            if name not in cameras:
                problems.append(ConfigProblem(("analysis", "rules", i, "cameras", j), f"no camera named {name!r}"))
        zone = rule.get("zone")
        if isinstance(zone, str):
            scope = [zones_of.get(n, set()) for n in (targets or zones_of)]
            if not any(zone in zs for zs in scope):
                problems.append(ConfigProblem(("analysis", "rules", i, "zone"),
                                              f"no camera the rule applies to has a zone named {zone!r}"))
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
    reload: bool = False,
) -> LoadedConfig:
    """Validate TOML text; raise ``ConfigError`` listing every problem found. ``reload``: a running server reads
    it again (SIGHUP); validators see ``{"reload": True}`` in their context."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [ConfigProblem((), f"invalid TOML: {exc}")]) from None
    problems = _semantic_problems(raw)
    config: Config | None = None
    context = {"base_dir": base_dir, "reload": reload}  # relative secret files resolve against base_dir
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
    export = config.export.model_copy(update={  # [export] paths resolve like the storage root
        k: (base_dir / v).resolve() for k, v in (("dir", config.export.dir), ("key_file", config.export.key_file))
        if v is not None and not v.is_absolute()})
    return config.model_copy(update={
        "storage": config.storage.model_copy(update={"root": root}),
        "catalog": config.catalog.model_copy(update={"url": url}),
        "export": export,
    })


def load_config(path: str | Path, plugin_models: dict[str, type[BaseModel]] | None = None,
                reload: bool = False) -> LoadedConfig:
    """Read and validate a config file; relative paths resolve against its folder (``reload``: see parse_config)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [ConfigProblem((), f"cannot read config: {exc.strerror}")]) from None
    loaded = parse_config(text, plugin_models, base_dir=path.resolve().parent, source=str(path), reload=reload)
    return LoadedConfig(loaded.config, loaded.plugin_configs, path)
