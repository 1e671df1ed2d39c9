"""Navigation items: what the header links to, gathered from plugins (core items included) per user."""

from __future__ import annotations

from dataclasses import dataclass

from nvr.models import User
from nvr.runtime import Runtime


@dataclass(frozen=True, slots=True)
class NavItem:
    """A header link."""

    label: str
    href: str
    order: int = 100


def nav_items(user: User, runtime: Runtime) -> list[NavItem]:
    """Every plugin's items for ``user``, by order then label; duplicates (same href) collapse."""
    items: dict[str, NavItem] = {}
    for _, result in runtime.plugins.call_sync("web_nav", user=user, runtime=runtime):
        for item in result or ():
            if isinstance(item, NavItem):
                items.setdefault(item.href, item)
    return sorted(items.values(), key=lambda i: (i.order, i.label))
