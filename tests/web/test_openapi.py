"""Meta test: every /api/ route the app serves is in the OpenAPI document, and nothing else is."""

from __future__ import annotations

from tests.conftest import ADMIN_PASSWORD
from tests.web.test_auth import client, login


async def test_openapi_lists_every_api_route(server) -> None:
    routes = set()
    async with client() as s:
        await login(s, server.url, "admin", ADMIN_PASSWORD)
        async with s.get(server.url + "api/openapi.json") as resp:
            doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    from nvr.web.app import create_app

    app = create_app(server.runtime)
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith("/api/") and route.method != "HEAD":
            routes.add((path, route.method))
    assert routes - documented == set(), "document these routes in web/openapi.py"
    assert documented - routes == set(), "web/openapi.py documents routes that do not exist"
