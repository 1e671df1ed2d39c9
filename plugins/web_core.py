"""Built-in plugin: the core pages' navigation items, offered through the same hook as plugins' pages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nvr.hookspecs import hookimpl
from nvr.web.nav import NavItem
from nvr.web.permissions import decide

if TYPE_CHECKING:
    from nvr.models import User
    from nvr.runtime import Runtime


@hookimpl
def web_nav(user: User, runtime: Runtime) -> list[NavItem]:
    items = [NavItem("Dashboard", "/", 10), NavItem("Cameras", "/cameras", 20), NavItem("Events", "/events", 30)]
    if decide(runtime, user, "footage.export"):
        items.append(NavItem("Exports", "/exports", 40))
    if decide(runtime, user, "admin"):
        items.append(NavItem("Admin", "/admin", 90))
    return items
