"""``[plugins.complaints]``: categories (radius, footage window, agency, event kinds), SLA days and hold days."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["BUILTIN_CATEGORIES", "Category", "CategoryConfig", "ComplaintsConfig"]


class CategoryConfig(BaseModel):
    """``[[plugins.complaints.categories]]``: settings of one category (a built-in one changed, or a new one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(..., min_length=1, max_length=40, pattern=r"^[a-z][a-z ]*[a-z]$",
                      title="Category name as the city app sends it (lower case, e.g. \"jalan rusak\")")
    radius_m: float | None = Field(None, gt=0, le=5000, title="Cameras this close to the point are linked")
    before_min: float | None = Field(None, ge=0, le=24 * 60, title="Footage held from this long before the report")
    after_min: float | None = Field(None, ge=0, le=24 * 60, title="... to this long after the report")
    agency: str | None = Field(None, min_length=1, title="Responsible agency (OPD) the complaint is routed to")
    event_kinds: list[str] | None = Field(None, title="Detection event kinds or labels linked to it (e.g. fire, smoke)")


@dataclass(frozen=True, slots=True)
class Category:
    """One category's effective settings (built-in defaults, the config's changes, then the global defaults)."""

    name: str
    radius_m: float
    before_min: float
    after_min: float
    agency: str | None
    event_kinds: tuple[str, ...]


BUILTIN_CATEGORIES: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "banjir": ("Dinas Sumber Daya Air", ("water", "flood")),
    "kebakaran": ("Dinas Penanggulangan Kebakaran dan Penyelamatan", ("fire", "smoke")),
    "tawuran": ("Satpol PP", ("crowd",)),
    "macet": ("Dinas Perhubungan", ()),
    "sampah": ("Dinas Lingkungan Hidup", ()),
    "jalan rusak": ("Dinas Bina Marga", ()),
    "lainnya": (None, ()),
}
"""Category -> (agency, event kinds) out of the box: JAKI's categories and the Jakarta OPD that answers them."""


class ComplaintsConfig(BaseModel):
    """``[plugins.complaints]``: how complaints are linked to footage, routed and timed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    radius_m: float = Field(300.0, gt=0, le=5000, title="Default radius of linked cameras in metres")
    before_min: float = Field(30.0, ge=0, le=24 * 60, title="Default minutes of footage held before the report")
    after_min: float = Field(10.0, ge=0, le=24 * 60, title="Default minutes of footage held after the report")
    response_days: float = Field(6.0, gt=0, le=365, title="Days after the report a response is due (red after)")
    amber_days: float = Field(4.0, ge=0, le=365, title="Days after the report the complaint turns amber")
    hold_days_after_close: float = Field(30.0, ge=0, le=3650,
                                         title="Days linked footage stays held after the complaint is closed")
    extensible: bool = Field(False, title="Accept categories not listed (with the default settings)")
    default_agency: str | None = Field(None, min_length=1, title="Agency of categories that name none")
    max_text_chars: int = Field(10_000, ge=100, le=1_000_000, title="Longest complaint text accepted")
    max_photo_bytes: int = Field(5_000_000, ge=0, le=50_000_000, title="Largest photo accepted (0 = no photos)")
    categories: list[CategoryConfig] = Field(default_factory=list,
                                             title="Changes to the built-in categories, and new ones")

    @field_validator("categories")
    @classmethod
    def _unique(cls, value: list[CategoryConfig]) -> list[CategoryConfig]:
        names = [c.name for c in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"categories listed twice: {', '.join(twice)}")
        return value

    def category_names(self) -> list[str]:
        """Every known category: the built-in ones, then the config's new ones."""
        return list(BUILTIN_CATEGORIES) + [c.name for c in self.categories if c.name not in BUILTIN_CATEGORIES]

    def category(self, name: str) -> Category | None:
        """The effective settings of ``name``; None for an unknown one unless ``extensible``."""
        own = next((c for c in self.categories if c.name == name), None)
        if own is None and name not in BUILTIN_CATEGORIES and not self.extensible:
            return None
        agency, kinds = BUILTIN_CATEGORIES.get(name, (None, ()))
        if own is not None:
            agency = own.agency if own.agency is not None else agency
            kinds = tuple(own.event_kinds) if own.event_kinds is not None else kinds

        def pick(value: float | None, default: float) -> float:
            return default if value is None else value

        return Category(name=name, radius_m=pick(own and own.radius_m, self.radius_m),
                        before_min=pick(own and own.before_min, self.before_min),
                        after_min=pick(own and own.after_min, self.after_min),
                        agency=agency or self.default_agency, event_kinds=kinds)
