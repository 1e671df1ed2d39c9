"""The plugin API: every hook nvr calls, grouped by topic.

Each hook is documented in ``docs/plugins.md`` and has a ``test_hook_<name>``
test; two meta tests enforce both. Implementations may be plain functions or
``async def``; nvr awaits whatever comes back. A hook implementation that
raises is logged with its plugin's name, counted, and skipped: it never stops
the core and never stops the other plugins' implementations of the same hook.
Implementations may accept any subset of a hook's arguments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from aiohttp.web import RouteDef
    from pydantic import BaseModel

    from nvr.config import CameraConfig
    from nvr.detection import AnalysedFrame, Detection, DetectorFactory
    from nvr.discovery import DiscoveredDevice
    from nvr.models import Event, Segment, User
    from nvr.plugins.kelurahan.notify import Notification
    from nvr.runtime import Runtime
    from nvr.storage.complaints_catalog import CameraLink, Complaint
    from nvr.storage.plates_catalog import PlateSighting
    from nvr.web.nav import NavItem

hookspec = pluggy.HookspecMarker("nvr")
hookimpl = pluggy.HookimplMarker("nvr")


# --- Configuration -----------------------------------------------------------


@hookspec
def config_models() -> dict[str, type[BaseModel]]:
    """Declare the ``[plugins.<name>]`` config tables this plugin reads.

    Return a dict from table name to a pydantic model class (use
    ``extra="forbid"``). nvr validates each ``[plugins.<name>]`` table with its
    model when the config is loaded or reloaded, reporting problems with their
    key path; a table no plugin declares is an error. A declared table that is
    absent from the config is validated as ``{}``, so give every field a
    default or the config is rejected. Called once per config load; all
    results are merged (a name claimed twice is an error).
    """


@hookspec
def config_reloaded(runtime: Runtime) -> None:
    """The running server read its config again (SIGHUP) and accepted it.

    Called after the core applied it (cameras, analysis, retention): ``runtime.config`` and
    ``runtime.plugin_config(name)`` are the new ones. Re-read what you derived from them, including files your
    config names (a reload validates plugin tables with ``{"reload": True}`` in the pydantic validation
    context, so a model may leave such files to this hook and keep its previous state when one has become
    unusable). Not called when the reload was rejected (the running config stays). May be ``async``; nvr
    waits for it (at most 10 s per implementation). The return value is ignored.
    """


# --- Lifecycle ---------------------------------------------------------------


@hookspec
def startup(runtime: Runtime) -> None:
    """Called once after the catalog, cameras and web server have started.

    ``runtime`` is the running server: ``runtime.config`` (the current
    ``Config``), ``runtime.plugin_config(name)``, ``runtime.catalog`` and
    ``runtime.cameras``. Start background tasks here and keep handles to stop
    them in ``shutdown``. May be ``async``. The return value is ignored.
    """


@hookspec
def shutdown(runtime: Runtime) -> None:
    """Called once when the server stops: after the web server and analysis stopped (so the events analysis
    ended at shutdown have reached ``event_ended``), before the cameras and the catalog stop.

    Stop what ``startup`` started; nvr waits at most a few seconds for all
    shutdown hooks together. May be ``async``. The return value is ignored.
    """


# --- Cameras -----------------------------------------------------------------


@hookspec
def camera_discovered(device: DiscoveredDevice, runtime: Runtime) -> None:
    """A discovery sweep found a device that is not in the config.

    ``device`` carries its ONVIF endpoint, maker, model, serial, stream URIs
    (credentials stripped) and ``state`` ("ok", "auth_failed", "unreachable",
    "error"). Called once per new device per server run, not on every sweep.
    The return value is ignored.
    """


@hookspec
def camera_state_changed(camera: str, old: str, new: str, detail: str | None, runtime: Runtime) -> None:
    """A configured camera's connection state changed.

    ``camera`` is the camera's name; ``old`` and ``new`` are state names:
    ``starting``, ``connecting``, ``recording`` (a recorded camera streaming),
    ``online`` (a camera that is only checked, not recorded), ``offline``
    (refused, timed out, unreachable), ``auth_failed`` (401), ``not_found``
    (404), ``stalled`` (no packets), ``error``, ``disabled``, ``stopped``,
    ``removed``; ``detail`` is a human-readable reason or ``None``. Called only on a change, from the
    event loop: keep it cheap.
    The return value is ignored.
    """


# --- Footage -----------------------------------------------------------------


@hookspec
def segment_closed(camera: str, segment: Segment, runtime: Runtime) -> None:
    """A recorded segment was closed, fsynced and entered in the catalog.

    Called once per segment (about once a minute per camera), so it must be
    cheap: hand heavy work to a task or a queue. ``segment`` is the catalog's
    ``Segment`` (path relative to the storage root, times in UTC
    microseconds). Never called during a retention sweep. The return value is
    ignored.
    """


# --- Analysis ----------------------------------------------------------------


@hookspec
def register_detectors(runtime: Runtime) -> dict[str, DetectorFactory]:
    """Offer object detectors by name.

    Return a dict from detector name (what ``[analysis] detector`` selects) to
    a factory: a callable without arguments that loads the model and returns
    an ``nvr.detection.Detector``. Read your settings from
    ``runtime.plugin_config(...)``. nvr calls only the selected factory, once,
    at start-up (in a thread); it must raise ``nvr.errors.PluginError`` naming
    the model file and the reason when the model is missing or unusable, which
    stops start-up. All results are merged; a name offered twice is an error.
    """


@hookspec
def frame_detections(camera: str, time_us: int, detections: list[Detection], frame: AnalysedFrame,
                     runtime: Runtime) -> None:
    """A frame of ``camera`` taken at ``time_us`` (UTC µs) was analysed.

    ``detections`` are the detector's results that passed the camera's object
    filters (possibly empty); ``frame`` carries the image, the motion box and
    the tracks seen in it (for plugins that look closer, such as plate
    reading). Called for every frame the detector ran on, from the event loop:
    keep it cheap and hand heavy work to your own thread, dropping frames when
    it falls behind. The return value is ignored.
    """


@hookspec
def event_started(event: Event, runtime: Runtime) -> None:
    """An event began: a tracked object was confirmed, or an emergency rule fired.

    ``event`` is the catalog's ``Event`` (``event.id`` is set; ``kind`` is
    ``"object"`` or the rule's kind such as ``"crowd"``). The return value is
    ignored.
    """


@hookspec
def event_updated(event: Event, runtime: Runtime) -> None:
    """An event changed: a better score or snapshot, a new zone, a later end, or a higher ``severity`` (a duty
    officer escalated it with one, through the built-in ``kelurahan`` plugin).

    Called at most once per analysed frame per event. The return value is
    ignored.
    """


@hookspec
def event_ended(event: Event, runtime: Runtime) -> None:
    """An event ended (its object left, or the rule stopped holding); ``event.end_us`` is final.

    The return value is ignored.
    """


@hookspec
def plate_sighted(sighting: PlateSighting, runtime: Runtime) -> None:
    """A licence plate sighting was stored (by the built-in ``lpr`` plugin).

    ``sighting`` is the catalog's ``nvr.storage.plates_catalog.PlateSighting``
    (``id`` set; ``alert_event_id`` and ``watch_plate`` set when it matched the
    watchlist, whose alert also comes as ``event_started``/``event_ended`` with
    kind ``"plate_alert"``). Called once per sighting, from the event loop:
    keep it cheap. Plates are personal data. The return value is ignored.
    """


# --- Complaints (the built-in complaints plugin) -----------------------------


@hookspec
def complaint_received(complaint: Complaint, runtime: Runtime) -> None:
    """A citizen complaint was stored for the first time (a repeated external id does not call it).

    ``complaint`` is ``nvr.storage.complaints_catalog.Complaint`` (status ``new``, not linked yet). It never
    carries the reporter's identity. Called without waiting for the result, from the event loop (an
    integration may push to the city app here). The return value is ignored.
    """


@hookspec
def complaint_linked(complaint: Complaint, cameras: list[CameraLink], events: list[int], runtime: Runtime) -> None:
    """Cameras or events were linked to a complaint (at intake, or when re-linked after cameras or events appeared).

    ``cameras`` are only the camera links added now (``CameraLink``: camera, distance, footage window, hold id);
    ``events`` the ids of the events added now. The return value is ignored.
    """


@hookspec
def complaint_status_changed(complaint: Complaint, old: str, new: str, actor: str, runtime: Runtime) -> None:
    """A complaint moved along the workflow (new, linked, in_progress, responded, closed).

    ``complaint`` is the complaint after the change; ``actor`` the user name (``system:complaints`` when
    linking moved it). Called after the change and its audit entry are stored. The return value is ignored.
    """


# --- Web ---------------------------------------------------------------------


@hookspec
def web_routes(runtime: Runtime) -> list[RouteDef]:
    """Add pages or API endpoints to the web app.

    Return a list of ``aiohttp.web.RouteDef`` (``web.get(path, handler)``...).
    Called once when the app is built. Every route sits behind the login
    (``request[nvr.web.keys.USER_KEY]`` is the user); check permissions with
    ``nvr.web.permissions.allowed(request, action, camera)``. State-changing
    requests must carry the CSRF token (the middleware checks it). All results
    are merged; a path registered twice is an error at start.
    """


@hookspec
def web_nav(user: User, runtime: Runtime) -> list[NavItem]:
    """Navigation items for ``user``: a list of ``nvr.web.nav.NavItem(label, href, order)``.

    Called on every page render, so keep it cheap. Return only what the user
    may open. Items are sorted by ``order`` (core items use 10, 20, 30...).
    """


@hookspec
def web_fragment(slot: str, context: object, user: User, runtime: Runtime) -> str | None:
    """HTML to insert into a page at ``slot``, or None.

    Slots: ``"camera"`` (the camera page; ``context`` is the camera's
    ``CameraConfig``), ``"event"`` (the event page; ``context`` is the
    ``Event``) and ``"admin"`` (the admin page; ``context`` is None). Return markup that is already safe:
    escape whatever you insert
    (``markupsafe.escape``). Called on every render of those pages.
    """


@hookspec
def permission(user: User, action: str, camera: CameraConfig | None, runtime: Runtime) -> bool | None:
    """Allow (True), forbid (False) or have no opinion (None) on ``action`` by ``user``.

    Actions: ``camera.view``, ``camera.retry``, ``event.ack``,
    ``footage.download``, ``footage.export``, ``admin``, and any a plugin
    defines for its own routes. ``camera`` is the camera concerned, or None.
    Any False forbids; otherwise any True allows; otherwise nvr's default
    applies (the role ranks and the user's kelurahan scope). Called for every
    camera a page lists, so keep it cheap; decorate it with
    ``nvr.web.permissions.for_actions(...)`` to be asked only about those actions.
    """


# --- Kelurahan -----------------------------------------------------------------


@hookspec
def kelurahan_notification(notification: Notification, runtime: Runtime) -> None:
    """Something a kelurahan should hear about: deliver it (a WhatsApp or Telegram gateway, a pager...).

    ``notification`` is a ``nvr.plugins.kelurahan.notify.Notification``: ``kind`` (``"event"`` when an event
    starts, ``"escalation"`` when a duty officer hands one to an agency), ``change`` (``"started"``, or
    ``"severity_raised"`` when an event's severity rose above every level notified for it, once per rise:
    ``previous_severity`` is then what it was; ``None`` for escalations), ``camera``, ``kelurahan``,
    ``kecamatan`` (the camera's region), ``severity``, ``event`` (the event as the JSON API shows it),
    ``agency``, ``note``, ``by`` and ``at_us``; ``payload()`` is its JSON. Called by the built-in
    ``kelurahan`` plugin (whose own webhooks implement it), fire-and-forget from the event loop: never
    block; filter by severity and region yourself. The return value is ignored.
    """
