"""The cluster as admins see it (``/api/nodes``, ``/admin/nodes``): every node the catalog knows, up or down by
the lease protocol's own rule, and the cameras it holds.

One catalog read (``Catalog.cluster_state``: the ``nodes`` and ``camera_leases`` tables and the catalog
server's clock), no segment is read: footage per node would need a scan of every segment (``segments.node``
has no index), so it is left out. A single server (SQLite, no ``--node``) answers no nodes.

Scope: an admin of all cameras sees every node with its URL and every lease. An admin bound to a kelurahan
(or kecamatan) sees every node's name, state, capacity and heartbeat (its cameras may move to any of them),
but not the nodes' URLs (internal addresses, city-wide infrastructure), and only the holds of cameras in its
scope: counts included, so nothing of other kelurahan shows.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web

from nvr.clock import from_utc_us
from nvr.storage.nodes_catalog import ClusterState, LeaseInfo, NodeInfo, node_is_live
from nvr.web.keys import RUNTIME_KEY, USER_KEY
from nvr.web.permissions import require
from nvr.web.routes.scope import visible_cameras
from nvr.web.templating import render


def public_url(url: str | None) -> str | None:
    """A node's advertised URL as shown: scheme, host, port and path only; any ``user:password@``, query
    (``?token=...``) and fragment dropped. Something that does not parse as an http(s) URL shows as None."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, "", ""))


def iso(us: int | None) -> str | None:
    """UTC µs as ISO 8601 with a ``Z`` (milliseconds)."""
    if us is None:
        return None
    return from_utc_us(us).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _lease_json(lease: LeaseInfo, now_us: int) -> dict[str, Any]:
    return {"name": lease.camera, "generation": lease.generation, "expires_at": iso(lease.expires_at or None),
            "expired": lease.expires_at <= now_us, "pinned_node": lease.pinned_node}


def _node_json(node: NodeInfo, state: ClusterState, ttl_us: int, holds: list[LeaseInfo], everywhere: bool,
               this_node: str | None) -> dict[str, Any]:
    now = state.now_us
    return {
        "name": node.name,
        "url": public_url(node.url) if everywhere else None,
        "capacity": node.capacity,
        "state": "up" if node_is_live(node, now, ttl_us) else "down",
        "stopped": node.stopped_at is not None,
        "started_at": iso(node.started_at),
        "heartbeat_at": iso(node.heartbeat_at),
        "heartbeat_age_s": round(max(now - node.heartbeat_at, 0) / 1e6, 1),
        "stopped_at": iso(node.stopped_at),
        "this_node": node.name == this_node,
        "holds": len(holds),
        "expired_holds": sum(1 for lease in holds if lease.expires_at <= now),
        "cameras": [_lease_json(lease, now) for lease in holds],
    }


async def cluster_json(request: web.Request) -> dict[str, Any]:
    """The answer of ``/api/nodes``, for the request's user (the page renders the same)."""
    require(request, "admin")
    runtime, user = request.app[RUNTIME_KEY], request[USER_KEY]
    everywhere = user.kelurahan is None
    state = await runtime.catalog.cluster_state()
    ttl_us = int(runtime.config.cluster.lease_ttl_s * 1_000_000)
    node_obj = runtime.extras.get("node")
    this_node: str | None = getattr(node_obj, "node", None)
    leases = state.leases
    if not everywhere:  # only the holds of cameras in the admin's scope, counts included
        mine = {c.name for c in visible_cameras(request)}
        leases = [lease for lease in leases if lease.camera in mine]
    known = {n.name for n in state.nodes}
    by_node: dict[str, list[LeaseInfo]] = {}
    unheld: list[LeaseInfo] = []
    configured = {c.name for c in runtime.config.cameras}
    for lease in leases:
        if lease.node is not None and lease.node in known:
            by_node.setdefault(lease.node, []).append(lease)
        elif lease.camera in configured:  # a camera gone from the config keeps a free lease row: not waiting
            unheld.append(lease)
    nodes = [_node_json(n, state, ttl_us, by_node.get(n.name, []), everywhere, this_node) for n in state.nodes]
    return {
        "clustered": bool(state.nodes) or this_node is not None,
        "this_node": this_node,
        "now": iso(state.now_us),
        "lease_ttl_s": runtime.config.cluster.lease_ttl_s,
        "nodes": nodes,
        "unheld": [_lease_json(lease, state.now_us) for lease in unheld],
    }


async def nodes_json(request: web.Request) -> web.StreamResponse:
    """GET /api/nodes: every node (state, heartbeat, capacity, URL) and the cameras it holds, scoped."""
    return web.json_response(await cluster_json(request))


async def nodes_page(request: web.Request) -> web.StreamResponse:
    """GET /admin/nodes: the same as a table."""
    cluster = await cluster_json(request)
    return render(request, "nodes.html", cluster=cluster, everywhere=request[USER_KEY].kelurahan is None)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/nodes", nodes_json)
    app.router.add_get("/admin/nodes", nodes_page)
