"""``[plugins.lpr]``: which cameras read plates, how strictly, on which device, and the watchlist."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from nvr.config_paths import config_path
from nvr.plate_text import parse_plate

Severity = Literal["info", "low", "medium", "high", "critical"]
DEVICE_PATTERN = r"^(CPU|GPU|NPU|AUTO|MULTI|HETERO)(\.\d+)?(:[A-Z]+(\.\d+)?(,[A-Z]+(\.\d+)?)*)?$"


class WatchConfig(BaseModel):
    """``[[plugins.lpr.watchlist]]``: a plate to raise an alert for."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    plate: str = Field(..., title="The plate, e.g. \"B 1234 XYZ\" (spaces and case do not matter)")
    reason: str = Field(..., min_length=1, title="Why it is watched (shown with the alert)")
    owner: str = Field(..., min_length=1, title="Who wants the alert: an agency (OPD) or a person")
    severity: Severity = Field("high", title="Severity of its alert events")

    @field_validator("plate")
    @classmethod
    def _valid_plate(cls, value: str) -> str:
        plate = parse_plate(value)
        if plate is None:
            raise ValueError(f"not an Indonesian plate: {value!r} (region code, 1-4 digits, 0-3 letters)")
        return plate.text


class LprConfig(BaseModel):
    """``[plugins.lpr]``: licence-plate recognition on the cameras listed in ``cameras``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cameras: list[str] = Field(default_factory=list, title="Cameras whose analysed frames are read for plates")
    regions: Literal["auto", "vehicles", "motion", "full_frame"] = Field(
        "auto", title="Where to look: vehicle tracks, the motion box, or the whole frame (auto: the first there is)")
    vehicle_labels: list[str] = Field(["car", "truck", "bus", "motorcycle"],
                                      title="Detector labels that are vehicles")
    min_confidence: float = Field(0.5, ge=0.0, le=1.0, title="Lowest confidence of a stored sighting")
    min_reads: int = Field(1, ge=1, le=100, title="Frames a vehicle's plate must be read in")
    end_after_s: float = Field(3.0, ge=0.5, le=600.0,
                               title="A vehicle whose plate is unseen this long has passed")
    max_sighting_s: float = Field(60.0, ge=5.0, le=3600.0,
                                  title="A plate seen longer (a parked car) is stored this often")
    det_scale: float = Field(1.0, gt=0.0, le=4.0, title="Scale of the regions given to text detection")
    det_max_side: int = Field(960, ge=64, le=4096, title="Longest side of the text detector's input in px")
    device: str = Field("CPU", pattern=DEVICE_PATTERN, title="OpenVINO device of both OCR models")
    threads: int = Field(1, ge=0, le=64, title="Inference threads per worker (0 = OpenVINO's choice)")
    workers: int = Field(1, ge=1, le=16, title="Worker threads reading plates")
    det_model: str | None = Field(None, title="Text detection model instead of the rapidocr wheel's (DB, ONNX or IR)")
    rec_model: str | None = Field(None, title="Recognition model instead of the rapidocr wheel's (CTC, ONNX or IR)")
    crop_quality: int = Field(90, ge=10, le=100, title="JPEG quality of the stored plate crops")
    keep_days: float = Field(90.0, ge=0.0, le=3650.0,
                             title="Days sightings are kept (0 = forever); alert events follow [retention]")
    fuzzy_budget: float = Field(0.5, ge=0.0, le=3.0,
                                title="Largest edit distance at which a sighting matches a watchlisted plate")
    alert_cooldown_s: float = Field(60.0, ge=0.0, le=86400.0,
                                    title="A watchlisted plate seen again on a camera within this joins its alert")
    watchlist: list[WatchConfig] = Field(default_factory=list, title="Plates to raise alerts for")

    @field_validator("det_model", "rec_model")
    @classmethod
    def _resolve(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        return config_path(value, info)

    @field_validator("watchlist")
    @classmethod
    def _unique(cls, value: list[WatchConfig]) -> list[WatchConfig]:
        seen = [parse_plate(w.plate).key for w in value]  # type: ignore[union-attr]
        twice = sorted({k for k in seen if seen.count(k) > 1})
        if twice:
            raise ValueError(f"plates listed twice: {', '.join(twice)}")
        return value
