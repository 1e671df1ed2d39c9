"""Share links: create, list, revoke (authorised users), and check a presented token (pure of HTTP)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from nvr.errors import CatalogError
from nvr.storage.kelurahan_catalog import NewShare, Share

from . import share_token
from .state import KelurahanState


class ShareRefused(Exception):
    """A token that must not open anything; ``status`` is 404 (unknown or tampered) or 410 (expired, revoked)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True, slots=True)
class ShareRequest:
    camera: str
    kind: str
    hours: float
    start_us: int | None = None
    end_us: int | None = None
    label: str = ""


def token_of(state: KelurahanState, share: Share) -> str:
    return share_token.sign(state.share_key, share.id, share.expires_at // 1_000_000, share.camera, share.kind,
                            share.start_us, share.end_us)


def share_json(state: KelurahanState, share: Share, now_us: int) -> dict[str, Any]:
    return {"id": share.id, "camera": share.camera, "kind": share.kind, "start_us": share.start_us,
            "end_us": share.end_us, "label": share.label, "created_by": share.created_by,
            "created_at": share.created_at, "expires_at": share.expires_at, "revoked_at": share.revoked_at,
            "revoked_by": share.revoked_by, "uses": share.uses, "last_used_at": share.last_used_at,
            "state": "revoked" if share.revoked_at else "expired" if now_us >= share.expires_at else "live",
            "url": f"/share/{token_of(state, share)}"}


def parse_request(body: Any, max_hours: float, clip_max_minutes: float) -> ShareRequest:
    """Validate a create request; ValueError says ``field: reason``."""
    if not isinstance(body, dict):
        raise ValueError("body: a JSON object")
    camera, kind = body.get("camera"), body.get("kind", "live")
    if not isinstance(camera, str) or not camera:
        raise ValueError("camera: name a camera")
    if kind not in ("live", "clip"):
        raise ValueError("kind: live or clip")
    try:
        hours = float(body.get("hours", 24))
    except (TypeError, ValueError):
        raise ValueError("hours: a number") from None
    if not 0 < hours <= max_hours:
        raise ValueError(f"hours: more than 0 and at most {max_hours:g}")
    label = body.get("label", "")
    if not isinstance(label, str) or len(label) > 200:
        raise ValueError("label: text of at most 200 characters")
    start = end = None
    if kind == "clip":
        try:
            start, end = int(body["start_us"]), int(body["end_us"])
        except (KeyError, TypeError, ValueError):
            raise ValueError("start_us: a clip needs integer start_us and end_us") from None
        if end <= start:
            raise ValueError("end_us: must be after start_us")
        if end - start > clip_max_minutes * 60e6:
            raise ValueError(f"end_us: a shared clip is at most {clip_max_minutes:g} minutes")
    return ShareRequest(camera, kind, hours, start, end, label.strip())


async def create(state: KelurahanState, req: ShareRequest, by: str) -> Share:
    expires = int(time.time() * 1e6 + req.hours * 3600e6)
    return await state.runtime.catalog.create_share(NewShare(req.camera, req.kind, by, expires, req.start_us,
                                                             req.end_us, req.label))


async def check(state: KelurahanState, token: str, now_us: int | None = None) -> Share:
    """The live share a token opens, or ``ShareRefused``: malformed, wrongly signed, unknown, expired, revoked."""
    claims = share_token.parse(token)
    if claims is None:
        raise ShareRefused(404, "no such share link")
    share = await state.runtime.catalog.get_share(claims.share_id)
    if share is None or not share_token.verify(state.share_key, token, share.camera, share.kind, share.start_us,
                                               share.end_us) or claims.expires_s != share.expires_at // 1_000_000:
        raise ShareRefused(404, "no such share link")
    now = int(time.time() * 1e6) if now_us is None else now_us
    if share.revoked_at is not None:
        raise ShareRefused(410, "this share link was revoked")
    if now >= share.expires_at:
        raise ShareRefused(410, "this share link has expired")
    if state.runtime.config.camera(share.camera) is None:
        raise ShareRefused(404, "no such share link")
    return share


async def revoke(state: KelurahanState, share_id: int, by: str) -> Share:
    try:
        return await state.runtime.catalog.revoke_share(share_id, by, int(time.time() * 1e6))
    except CatalogError:
        raise ShareRefused(404, "no such share link") from None
