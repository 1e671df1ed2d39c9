"""Web UI and HTTP API (aiohttp + Jinja)."""
