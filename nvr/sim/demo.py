"""``nvr demo``: simulated cameras plus the server in one process, with embedded defaults."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from nvr.app import Server, serve
from nvr.passwords import generate_password
from nvr.sim.fleet import SimFleet
from nvr.users import ADMIN_PASSWORD_ENV

SIM_PASSWORD_ENV = "NVR_SIM_PASSWORD"


def _demo_secret(path: Path, make: callable) -> str:
    """Read a demo secret from ``path`` or create it (mode 0600) so reruns reuse it."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    value = make()
    path.touch(mode=0o600)
    path.write_text(value + "\n", encoding="utf-8")
    return value


def demo_config(fleet: SimFleet, port: int) -> str:
    """The demo's config: SQLite and footage under the demo folder, discovery on loopback only."""
    half = {c.name for c in fleet.cameras[len(fleet.cameras) // 2 :]}
    return (
        "# Written by `nvr demo` on each start; edit config.example.toml for a real install.\n"
        f'[server]\nhost = "127.0.0.1"\nport = {port}\n\n'
        '[storage]\nroot = "storage"\n\n'
        "[discovery]\nenabled = true\ninterval_minutes = 10\n"
        'interface = "127.0.0.1"  # multicast pinned to loopback: the demo never probes a real network\n'
        f"port = {fleet.discovery.port if fleet.discovery else 3702}\n"
        f'username = "{fleet.username}"\npassword = {{ env = "{SIM_PASSWORD_ENV}" }}\n\n'
        "# The second half of the cameras give only ONVIF: nvr asks them for their stream URIs.\n"
        + fleet.cameras_toml(SIM_PASSWORD_ENV, onvif_only=half)
    )


async def run_demo(folder: Path, cameras: int = 4, port: int = 8080) -> int:
    """Start ``cameras`` simulated cameras and nvr on them; print the URL and admin login."""
    folder.mkdir(parents=True, exist_ok=True)
    sim_password = _demo_secret(folder / "sim-password", lambda: secrets.token_urlsafe(12))
    admin_password = _demo_secret(folder / "admin-password", generate_password)
    os.environ[SIM_PASSWORD_ENV] = sim_password
    os.environ[ADMIN_PASSWORD_ENV] = admin_password
    async with SimFleet(cameras, password=sim_password) as fleet:
        config = folder / "demo.toml"
        config.write_text(demo_config(fleet, port), encoding="utf-8")
        print(f"{cameras} simulated cameras on 127.0.0.1 (RTSP port {fleet.rtsp.port}); config: {config}")

        def ready(server: Server) -> None:
            print(
                f"\n  Open {server.url}  and log in as  admin / {admin_password}\n"
                f"  (kept in {folder / 'admin-password'}; Ctrl-C stops the demo)\n",
                flush=True,
            )

        return await serve(config, announce=lambda text: None, ready=ready)
