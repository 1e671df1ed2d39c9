"""Prometheus ``/metrics`` (scoped to the cameras the caller may see) and an unauthenticated ``/healthz``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from nvr.runtime import Runtime
from nvr.web.keys import RUNTIME_KEY, USER_KEY
from nvr.web.routes.scope import visible_cameras

HEALTH_TIMEOUT_S = 2.0


class _Snapshot:
    """A prometheus collector over values gathered once for one scrape."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self.metrics


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


def _counter(name: str, doc: str, labels: list[str] | None = None) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, labels=labels)


async def gather(runtime: Runtime, cameras: list[str], full: bool) -> list[Metric]:
    """Metric families for ``cameras``; process-wide ones (disk, queues, plugins) only when ``full``."""
    up = _gauge("nvr_camera_up", "1 while the camera streams (recording or online)", ["camera", "state"])
    fps = _gauge("nvr_camera_fps", "Frames per second received, over the last seconds", ["camera"])
    bitrate = _gauge("nvr_camera_bitrate_bps", "Bits per second received, over the last seconds", ["camera"])
    frames = _counter("nvr_camera_frames", "Video frames received", ["camera"])
    received = _counter("nvr_camera_bytes", "Media bytes received", ["camera"])
    segments = _counter("nvr_camera_segments", "Segments closed", ["camera"])
    reconnects = _counter("nvr_camera_reconnects", "Reconnection attempts", ["camera"])
    stored = _gauge("nvr_camera_storage_bytes", "Bytes of footage in the catalog", ["camera"])
    a_frames = _counter("nvr_analysis_frames", "Frames sampled for analysis", ["camera"])
    a_dropped = _counter("nvr_analysis_dropped", "Sampled frames dropped because analysis was behind", ["camera"])
    a_runs = _counter("nvr_analysis_detector_runs", "Frames the detector ran on", ["camera"])
    a_events = _gauge("nvr_analysis_open_events", "Events open now", ["camera"])
    families: list[Metric] = [up, fps, bitrate, frames, received, segments, reconnects, stored,
                              a_frames, a_dropped, a_runs, a_events]
    wanted = set(cameras)
    for status in runtime.cameras.statuses() if runtime.cameras else []:
        if status.name not in wanted or status.state == "elsewhere":
            continue  # a cluster node reports the cameras it records; another node reports the rest
        up.add_metric([status.name, status.state], 1.0 if status.state in ("recording", "online") else 0.0)
        s = status.stats
        if s is not None:
            fps.add_metric([status.name], s.fps)
            bitrate.add_metric([status.name], s.bitrate_bps)
            frames.add_metric([status.name], s.frames)
            received.add_metric([status.name], s.bytes)
            segments.add_metric([status.name], s.segments)
            reconnects.add_metric([status.name], s.reconnects)
    for usage in await runtime.catalog.usage_by_camera():
        if usage.camera in wanted:
            stored.add_metric([usage.camera], usage.bytes)
    analysis = runtime.analysis
    for name, pipeline in (analysis.cameras.items() if analysis is not None else []):
        if name in wanted:
            a_frames.add_metric([name], pipeline.stats.frames)
            a_dropped.add_metric([name], pipeline.stats.dropped)
            a_runs.add_metric([name], pipeline.stats.detector_runs)
            a_events.add_metric([name], len(pipeline.events.open_events))
    if not full:
        return families
    detector = _counter("nvr_detector_seconds", "Seconds spent in detector calls (all cameras)")
    detector.add_metric([], analysis.detect_seconds if analysis is not None else 0.0)
    families.append(detector)
    if runtime.indexer is not None:
        st = runtime.indexer.stats
        queue = _gauge("nvr_index_queue_max_depth", "Deepest the closed-segment queue has been")
        queue.add_metric([], st.max_depth)
        overflow = _counter("nvr_index_overflowed", "Closed segments the full queue left to start-up recovery")
        overflow.add_metric([], st.overflowed)
        families += [queue, overflow]
    if runtime.retention is not None:
        disk = await runtime.retention.disk()
        if disk is not None:
            free = _gauge("nvr_disk_free_bytes", "Free bytes on the storage filesystem")
            free.add_metric([], disk.free_bytes)
            total = _gauge("nvr_disk_total_bytes", "Size of the storage filesystem")
            total.add_metric([], disk.total_bytes)
            families += [free, total]
    errors = _counter("nvr_plugin_errors", "Hook calls that raised, per plugin", ["plugin"])
    for status in runtime.plugins.status.values():
        errors.add_metric([status.name], status.errors)
    families.append(errors)
    return families


async def metrics(request: web.Request) -> web.StreamResponse:
    """GET /metrics: Prometheus text format. Users bound to a kelurahan get only their cameras' series."""
    runtime = request.app[RUNTIME_KEY]
    cameras = [c.name for c in visible_cameras(request)]
    full = len(cameras) == len(runtime.config.cameras) and request[USER_KEY].kelurahan is None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(await gather(runtime, cameras, full)))  # type: ignore[arg-type]
    return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.StreamResponse:
    """GET /healthz (no login): 200 when the catalog answers, 503 otherwise; says nothing about cameras."""
    try:
        await asyncio.wait_for(request.app[RUNTIME_KEY].catalog.schema_version(), HEALTH_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - any failure is "unhealthy"
        return web.json_response({"status": "unhealthy", "catalog": "not answering"}, status=503)
    return web.json_response({"status": "ok"})


def setup(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
