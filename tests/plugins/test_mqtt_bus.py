"""The MQTT bus against a real Mosquitto on loopback: retained states, outage queueing, reconnect, secrets."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import logging
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest

from nvr.plugins.mqtt.bus import MqttBus
from nvr.plugins.mqtt.config import MqttConfig
from nvr.plugins.mqtt.payloads import Message, camera_state
from tests.helpers import free_port, wait_for


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.fail("mosquitto is not installed: run scripts/setup --test")
    return found


class Broker:
    """A Mosquitto of our own on a free 127.0.0.1 port, with persistence so sessions survive a restart."""

    def __init__(self, folder: Path, extra: str = "") -> None:
        self.folder, self.port = folder, free_port()
        folder.mkdir(parents=True, exist_ok=True)
        self.conf = folder / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "persistence true", f"persistence_location {folder}/",
                 f"user {getpass.getuser()}"]
        lines.append(extra or "allow_anonymous true")
        self.conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.folder / "mosquitto.log", "ab")  # noqa: SIM115 - the broker owns it while it runs
        self.proc = subprocess.Popen([mosquitto_binary(), "-c", str(self.conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            assert self.proc.poll() is None, (self.folder / "mosquitto.log").read_text()
            assert time.monotonic() < deadline, "mosquitto did not open its port"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


class Subscriber:
    """A separate MQTT client collecting ``topic`` (persistent: it reconnects and gets what it missed)."""

    def __init__(self, port: int, topic: str = "nvr/#", client_id: str = "test-sub", persistent: bool = True):
        self.port, self.topic, self.client_id, self.persistent = port, topic, client_id, persistent
        self.messages: list[tuple[str, bytes, bool]] = []
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client("127.0.0.1", self.port, identifier=self.client_id,
                                          clean_session=not self.persistent) as client:
                    await client.subscribe(self.topic, qos=1)
                    self.subscribed.set()
                    async for m in client.messages:
                        self.messages.append((str(m.topic), bytes(m.payload), bool(m.retain)))
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)

    def of(self, topic: str) -> list[dict]:
        return [json.loads(p) for t, p, _ in self.messages if t == topic]

    def payloads(self, topic: str) -> list[bytes]:
        return [p for t, p, _ in self.messages if t == topic]

    async def __aenter__(self) -> Subscriber:
        self._task = asyncio.get_running_loop().create_task(self._run())
        await asyncio.wait_for(self.subscribed.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def running_bus(cfg: MqttConfig, health: list[str | None] | None = None) -> AsyncIterator[MqttBus]:
    bus = MqttBus(cfg, health.append if health is not None else None)
    bus.start()
    try:
        yield bus
    finally:
        await bus.stop()


def config(broker: Broker, **settings: object) -> MqttConfig:
    base = {"port": broker.port, "node": "node-a", "reconnect_min_s": 0.1, "reconnect_max_s": 0.5}
    return MqttConfig.model_validate(base | settings)


async def test_a_late_subscriber_gets_the_retained_states_and_availability_only(broker: Broker) -> None:
    cfg = config(broker)
    async with running_bus(cfg) as bus:
        bus.set_state("gate", camera_state(cfg, "gate", "connecting", "starting", None, 1_000_000))
        bus.set_state("gate", camera_state(cfg, "gate", "recording", "connecting", None, 2_000_000))
        bus.publish(Message("nvr/events/gate/object", b"{}"))
        await wait_for(lambda: bus.stats.published >= 3 and not bus.status()["queued"])
        async with Subscriber(broker.port, client_id="late", persistent=False) as late:
            await wait_for(lambda: len(late.messages) >= 2)
            await asyncio.sleep(0.3)  # nothing else arrives
    topics = {t: (p, retained) for t, p, retained in late.messages}
    assert set(topics) == {"nvr/cameras/gate/state", "nvr/nodes/node-a/availability"}
    state, retained = topics["nvr/cameras/gate/state"]
    assert retained and json.loads(state) | {"since": None} == {
        "camera": "gate", "state": "recording", "previous": "connecting", "detail": None, "since": None,
        "since_us": 2_000_000, "node": "node-a"}
    assert topics["nvr/nodes/node-a/availability"] == (b"online", True)


async def test_an_outage_queues_drops_the_oldest_and_delivers_the_rest_after_a_restart(broker: Broker) -> None:
    cfg = config(broker, queue_size=10)
    health: list[str | None] = []
    async with Subscriber(broker.port) as sub, running_bus(cfg, health) as bus:
        await wait_for(lambda: bus.stats.connected and sub.payloads("nvr/nodes/node-a/availability"))
        broker.stop()
        await wait_for(lambda: not bus.stats.connected)
        assert health[0] is None and "unreachable" in health[-1]
        loop_started = time.monotonic()
        for seq in range(25):
            bus.publish(Message("nvr/seq", str(seq).encode()))
        assert time.monotonic() - loop_started < 0.5  # publishing never waits for the broker (a connect would)
        assert (bus.stats.dropped, bus.status()["queued"]) == (15, 10)
        bus.set_state("gate", camera_state(cfg, "gate", "offline", "recording", "refused", 3_000_000))
        await asyncio.sleep(1.0)  # a few reconnect attempts fail
        assert bus.stats.failures >= 2 and not bus.stats.connected
        broker.start()
        await wait_for(lambda: len(sub.payloads("nvr/seq")) >= 10, timeout=15)
        assert health[-1] is None and bus.stats.connected
        await asyncio.sleep(0.2)
    assert [int(p) for p in sub.payloads("nvr/seq")] == list(range(15, 25))  # the newest ten, in order
    assert sub.of("nvr/cameras/gate/state")[-1]["state"] == "offline"
    assert sub.payloads("nvr/nodes/node-a/availability")[-1] == b"offline"  # stopped cleanly


NODE_PROCESS = """
import asyncio, sys
from nvr.plugins.mqtt.bus import MqttBus
from nvr.plugins.mqtt.config import MqttConfig

async def main():
    MqttBus(MqttConfig.model_validate_json(sys.argv[1])).start()
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_the_will_marks_a_killed_node_offline(broker: Broker) -> None:
    cfg = config(broker, keepalive_s=5)
    async with Subscriber(broker.port) as sub:
        proc = subprocess.Popen([sys.executable, "-c", NODE_PROCESS, cfg.model_dump_json()])
        try:
            await wait_for(lambda: sub.payloads("nvr/nodes/node-a/availability") == [b"online"], timeout=20)
        finally:
            proc.kill()  # no clean disconnect, as when the server dies
            proc.wait(10)
        await wait_for(lambda: sub.payloads("nvr/nodes/node-a/availability")[-1:] == [b"offline"], timeout=15)


async def test_a_wrong_password_is_reported_and_never_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    secret, wrong = "s3cret-Pass-4711", "wrong-Pass-0815"
    passwords = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "nvr", secret], check=True)
    passwords.chmod(0o600)
    broker = Broker(tmp_path / "broker", extra=f"allow_anonymous false\npassword_file {passwords}")
    broker.start()
    caplog.set_level(logging.DEBUG)
    try:
        health: list[str | None] = []
        async with running_bus(config(broker, username="nvr", password=wrong), health) as bus:
            await wait_for(lambda: bus.stats.failures >= 2)
            assert not bus.stats.connected and "not authori" in (health[-1] or "").lower()
        async with running_bus(config(broker, username="nvr", password=secret)) as bus:
            await wait_for(lambda: bus.stats.connected)
    finally:
        broker.stop()
    text = caplog.text + repr(bus.status()) + repr(bus.cfg)
    assert "nvr-node-a" in caplog.text  # the log does talk about the connection...
    assert secret not in text and wrong not in text  # ...but never shows a password
