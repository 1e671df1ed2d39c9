"""Gather a retention sweep's inputs from the catalog with bounded, index-served reads, then plan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from nvr.config import Config, RecordConfig
from nvr.models import Hold, SegmentSpan
from nvr.retention import CameraRule, Candidate, Disk, Plan, plan_deletions
from nvr.storage.catalog import Catalog

__all__ = ["GB", "Scanner", "SweepPlan"]

GB = 1_000_000_000
"""Config sizes (``max_gb``, ``min_free_gb``) are decimal gigabytes."""

_FOREVER = 2**62
Key = tuple[int, int]
"""``(start_time, id)``: the oldest-first order of segments, and a page cursor."""


def _key(s: SegmentSpan) -> Key:
    return (s.start_time, s.id)


@dataclass(frozen=True, slots=True)
class SweepPlan:
    """A plan plus the rows it names (paths, cameras) and whether footage was left for a later sweep."""

    plan: Plan
    segments: dict[int, SegmentSpan]
    now_us: int
    more: bool
    cursors: dict[str, Key]


@dataclass(slots=True)
class _Usage:
    """Cached ``ok`` bytes and segment counts per camera id, counted up to segment id ``top_id``."""

    bytes: dict[int, int]
    counts: dict[int, int]
    top_id: int
    read_at_us: int

    def add(self, camera_id: int, count: int, size: int) -> None:
        self.bytes[camera_id] = self.bytes.get(camera_id, 0) + size
        self.counts[camera_id] = self.counts.get(camera_id, 0) + count


class Scanner:
    """Reads what a sweep needs, never every segment, and remembers where it got to.

    Per camera, one sweep reads (oldest first, through ``segments_before``):

    1. footage past *every* time-based retention (``end <= now -
       max(retain, event_retain)``): all of it goes unless held, so the only
       rows read again next sweep are held ones;
    2. footage past ``retain_days`` but inside event retention, starting
       after a per-camera *cursor*: rows before it were examined and kept for
       an event (they come back in step 1 once event retention ends) or for a
       hold (the cursor is dropped when a hold ends);
    3. for a camera over its size cap, its oldest footage until the unheld
       bytes read cover the excess.

    Overlapping runs (a clock step) can leave a segment behind a cursor that
    had not yet passed ``retain_days`` when read; step 1 takes it when event
    retention ends: later than due, never earlier. The same holds for footage
    whose event is deleted after it was examined.

    Per-camera reads go ``cameras_per_call`` cameras to a catalog round trip.
    Byte totals for caps come from ``usage_by_camera`` every
    ``usage_refresh_s`` and, between, from ``usage_since`` (new rows) minus
    this service's own deletions. Below the free-space floor, the oldest
    footage across cameras is added in batches (``oldest_segments``) until the
    plan reaches the floor or nothing is left.
    """

    page = 1_000
    """Rows per camera per round trip."""
    cameras_per_call = 100
    """Cameras per round trip (at most ``page * cameras_per_call`` rows)."""
    scan_limit = 50_000
    """Rows read per camera and step in one sweep; the rest waits for the next (``more``)."""
    max_candidates = 500_000
    """Rows read per sweep in all; the rest waits for the next (``more``)."""
    usage_refresh_s = 3600.0
    """Seconds between full reads of per-camera byte totals (only when some camera has a cap)."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self.cursors: dict[str, Key] = {}
        self._active_holds: dict[int, Hold] = {}
        self._usage: _Usage | None = None
        self._rotation = 0
        self._budget = 0
        self._ids: dict[str, int] = {}

    # -- state kept between sweeps ---------------------------------------------------

    def forget(self) -> None:
        """Drop the cursors (the rules changed): the next sweep re-examines all retained footage."""
        self.cursors.clear()

    def commit(self, planned: SweepPlan) -> None:
        """Keep the cursors of a sweep whose deletions were carried out."""
        self.cursors.update(planned.cursors)

    def deleted(self, rows: list[SegmentSpan]) -> None:
        """Rows marked garbage no longer count towards their camera's total."""
        if self._usage is not None:
            for s in rows:
                self._usage.add(s.camera_id, -1, -s.size_bytes)

    def _holds_changed(self, holds: list[Hold]) -> None:
        """A hold that ended may free footage behind a cursor: look at those cameras again."""
        current = {h.id: h for h in holds}
        for hold_id, hold in self._active_holds.items():
            if hold_id not in current:
                if hold.camera_name is None:
                    self.cursors.clear()
                else:
                    self.cursors.pop(hold.camera_name, None)
        self._active_holds = current

    # -- planning --------------------------------------------------------------------

    @staticmethod
    def rules(config: Config, camera_names: list[str]) -> dict[str, CameraRule]:
        """Each camera's record settings; cameras gone from the config keep the defaults."""
        default = RecordConfig()
        by_name = {c.name: c for c in config.cameras}  # one pass: Config.camera() per camera is quadratic
        rules = {}
        for name in camera_names:
            cam = by_name.get(name)
            rec = cam.record if cam is not None else default
            max_bytes = None if rec.max_gb is None else round(rec.max_gb * GB)
            rules[name] = CameraRule(rec.retain_days, rec.event_retain_days, max_bytes)
        return rules

    async def plan(self, config: Config, now: int, disk: Disk | None) -> SweepPlan:
        """Read the inputs for one sweep and plan it (nothing is deleted here)."""
        records = await self._catalog.list_cameras()
        names = {c.id: c.name for c in records}
        self._ids = {c.name: c.id for c in records}
        cameras = [c.name for c in records]
        if cameras:  # rotate, so a sweep cut short by the budget starts elsewhere next time
            start = self._rotation % len(cameras)
            cameras = cameras[start:] + cameras[:start]
        self._rotation += 1
        rules = self.rules(config, cameras)
        holds = await self._catalog.active_holds(now)
        self._holds_changed(holds)
        if any(r.max_bytes is not None for r in rules.values()):
            rules = await self._with_totals(rules, now)

        self._budget = self.max_candidates
        segs, windows, cursors, more = await self._per_camera(cameras, rules, holds, now)
        plan = _plan(segs, names, rules, holds, windows, now, disk)
        if plan.floor_unreachable:
            plan, exhausted = await self._floor(plan, segs, names, rules, holds, windows, now, disk)
            more |= not exhausted
        return SweepPlan(plan, segs, now, more, cursors)

    async def _with_totals(self, rules: dict[str, CameraRule], now: int) -> dict[str, CameraRule]:
        usage = self._usage
        if usage is None or now - usage.read_at_us >= self.usage_refresh_s * 1_000_000:
            full = await self._catalog.usage_by_camera()
            _, top = await self._catalog.usage_since(_FOREVER)  # read after: a row in between is missed, not doubled
            usage = self._usage = _Usage({u.camera_id: u.bytes for u in full},
                                         {u.camera_id: u.segments for u in full}, top, now)
        else:
            grown, top = await self._catalog.usage_since(usage.top_id)
            for u in grown:
                usage.add(u.camera_id, u.segments, u.bytes)
            usage.top_id = max(usage.top_id, top)
        return {n: replace(r, total_bytes=usage.bytes.get(self._ids[n], 0)) if r.max_bytes is not None else r
                for n, r in rules.items()}

    def _average_size(self, camera: str) -> int:
        """The camera's mean segment size from the cached totals (1 if unknown)."""
        camera_id = self._ids.get(camera)
        if self._usage is None or camera_id is None:
            return 1
        count = self._usage.counts.get(camera_id, 0)
        return max(self._usage.bytes.get(camera_id, 0) // count, 1) if count > 0 else 1

    async def _per_camera(self, cameras: list[str], rules: dict[str, CameraRule], holds: list[Hold],
                          now: int) -> tuple[dict[int, SegmentSpan], dict[str, list[tuple[int, int]]],
                                         dict[str, Key], bool]:
        # 1. Past every time-based retention.
        old, cut_old = await self._scan({n: (rules[n].event_cutoff(now), None, self.page) for n in cameras})
        # 2. Inside event retention, after the cursor (also continues step 1 if it was cut short).
        band_req: dict[str, tuple[int, Key | None, int]] = {}
        for n in cameras:
            rule = rules[n]
            if rule.age_cutoff(now) > rule.event_cutoff(now) or n in cut_old:
                after = self.cursors.get(n)
                if old[n] and (after is None or _key(old[n][-1]) > after):
                    after = _key(old[n][-1])
                band_req[n] = (rule.age_cutoff(now), after, self.page)
        band, cut_band = await self._scan(band_req)
        cursors = {n: _key(rows[-1]) for n, rows in band.items() if rows}
        # 3. Size caps.
        rows_of = {n: old[n] + band.get(n, []) for n in cameras}
        cut_cap = await self._caps(cameras, rules, holds, now, rows_of, cursors)
        windows: dict[str, list[tuple[int, int]]] = {}
        await self._events(rows_of, rules, now, windows)
        segs = {s.id: s for rows in rows_of.values() for s in rows}
        return segs, windows, cursors, bool(cut_old or cut_band or cut_cap)

    async def _events(self, rows_of: dict[str, list[SegmentSpan]], rules: dict[str, CameraRule], now: int,
                      windows: dict[str, list[tuple[int, int]]]) -> None:
        """Add the event windows of every row the age rule weighs events for (past retain_days only)."""
        wanted = []
        for n, rows in rows_of.items():
            if n not in rules:
                continue
            age_cutoff, event_cutoff = rules[n].age_cutoff(now), rules[n].event_cutoff(now)
            weigh = [s for s in rows if event_cutoff < s.end_time <= age_cutoff]
            if weigh:
                wanted.append((n, min(s.start_time for s in weigh), max(s.end_time for s in weigh)))
        for i in range(0, len(wanted), self.cameras_per_call):
            chunk = wanted[i:i + self.cameras_per_call]
            for (n, _, _), found in zip(chunk, await self._catalog.event_windows_many(chunk), strict=True):
                windows.setdefault(n, []).extend(found)

    async def _caps(self, cameras: list[str], rules: dict[str, CameraRule], holds: list[Hold], now: int,
                    rows_of: dict[str, list[SegmentSpan]], cursors: dict[str, Key]) -> set[str]:
        """Add each over-cap camera's oldest rows; returns cameras whose read was cut short."""
        excess: dict[str, int] = {}
        for n in cameras:
            cap = rules[n].max_bytes
            if cap is not None and rules[n].total_bytes > cap:
                excess[n] = rules[n].total_bytes - cap
        if not excess:
            return set()
        mine = {n: [h for h in holds if h.camera_name in (None, n)] for n in excess}
        covered = dict.fromkeys(excess, 0)

        def enough(name: str, page: list[SegmentSpan]) -> bool:
            covered[name] += sum(s.size_bytes for s in page
                                 if not any(h.covers(name, s.start_time, s.end_time) for h in mine[name]))
            return covered[name] >= excess[name]

        # Read about as many rows as the excess needs (from the cached mean size), then page on if short.
        first = {n: (_FOREVER, None, min(self.page, excess[n] * 9 // 8 // self._average_size(n) + 8))
                 for n in excess}
        cap_rows, cut = await self._scan(first, enough)
        for n in cut:
            # The cap reaches past what was read: this sweep works on the oldest prefix only.
            if cap_rows[n]:
                last = _key(cap_rows[n][-1])
                rows_of[n] = [s for s in rows_of[n] if _key(s) <= last]
            cursors.pop(n, None)
        for n, rows in cap_rows.items():
            rows_of[n] = rows_of[n] + rows
        return cut

    async def _scan(self, requests: dict[str, tuple[int, Key | None, int]],
                    enough: Callable[[str, list[SegmentSpan]], bool] | None = None,
                    ) -> tuple[dict[str, list[SegmentSpan]], set[str]]:
        """Page ``segments_before(camera, end, after, limit)`` for many cameras; (rows, cameras cut short).

        Later pages are ``page`` rows; ``enough(camera, page)`` may end a camera's read early.
        """
        rows: dict[str, list[SegmentSpan]] = {n: [] for n in requests}
        pending = dict(requests)
        cut: set[str] = set()
        while pending:
            if self._budget <= 0:
                cut.update(pending)
                break
            batch = list(pending)[:self.cameras_per_call]
            pages = await self._catalog.segments_before_many([(n, *pending[n]) for n in batch])
            for n, page in zip(batch, pages, strict=True):
                rows[n] += page
                self._budget -= len(page)
                if len(page) < pending[n][2] or (enough is not None and enough(n, page)):
                    del pending[n]
                elif len(rows[n]) >= self.scan_limit:
                    cut.add(n)
                    del pending[n]
                else:
                    pending[n] = (pending[n][0], _key(page[-1]), self.page)
        return rows, cut

    async def _floor(self, plan: Plan, segs: dict[int, SegmentSpan], names: dict[int, str],
                     rules: dict[str, CameraRule], holds: list[Hold], windows: dict[str, list[tuple[int, int]]],
                     now: int, disk: Disk | None) -> tuple[Plan, bool]:
        """Add the oldest footage across cameras until the plan reaches the floor; (plan, nothing left unread)."""
        after: Key | None = None
        while plan.floor_unreachable and self._budget > 0:
            if segs:  # enough rows for the shortfall at the mean size seen so far, plus a tenth
                average = max(sum(s.size_bytes for s in segs.values()) // len(segs), 1)
                want = max(plan.floor_shortfall_bytes * 11 // 10 // average + 1, 1_000)
            else:
                want = 1_000  # learn the mean size first
            want = min(want, self._budget)
            page = await self._catalog.oldest_segments(want, after=after)
            self._budget -= len(page)
            fresh: dict[str, list[SegmentSpan]] = {}
            for s in page:
                if s.camera_id not in names:  # a camera created since the sweep began
                    names.update({c.id: c.name for c in await self._catalog.list_cameras()})
                if s.id not in segs:
                    segs[s.id] = s
                    fresh.setdefault(names[s.camera_id], []).append(s)
            await self._events(fresh, rules, now, windows)
            if page:
                after = _key(page[-1])
            plan = _plan(segs, names, rules, holds, windows, now, disk)
            if len(page) < want:
                return plan, True
        return plan, not plan.floor_unreachable


def _plan(segs: dict[int, SegmentSpan], names: dict[int, str], rules: dict[str, CameraRule], holds: list[Hold],
          windows: dict[str, list[tuple[int, int]]], now: int, disk: Disk | None) -> Plan:
    cands = [Candidate(s.id, names[s.camera_id], s.start_time, s.end_time, s.size_bytes) for s in segs.values()]
    return plan_deletions(cands, rules, holds, windows, now, disk)
