"""MQTT event bus benchmark: event-loop cost of publish(), delivered messages/s and CPU per message, per QoS."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nvr.plugins.mqtt.bus import MqttBus  # noqa: E402
from nvr.plugins.mqtt.config import MqttConfig  # noqa: E402
from nvr.plugins.mqtt.payloads import Message  # noqa: E402

PAYLOAD = (b'{"type":"updated","id":123456,"camera":"cam-0001","kind":"object","label":"person","score":0.87,'
           b'"start_us":1795363445120000,"end_us":1795363450120000,"ongoing":true,"box":[0.41,0.22,0.55,0.83],'
           b'"zones":["entrance"],"severity":"info","has_snapshot":true,"path":"/events/123456","node":"rec-01"}')


@contextlib.contextmanager
def mosquitto(folder: Path) -> Iterator[int]:
    """A broker of our own on a free 127.0.0.1 port."""
    binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        sys.exit("mosquitto is not installed (scripts/setup --test installs it)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nuser {getpass.getuser()}\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


async def measure(port: int, qos: int, messages: int, cameras: int) -> str:
    bus = MqttBus(MqttConfig(port=port, node="bench", qos=qos, queue_size=messages))  # type: ignore[arg-type]
    bus.start()
    while not bus.stats.connected:
        await asyncio.sleep(0.01)
    base = bus.stats.published
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(messages):
        bus.publish(Message(f"nvr/events/cam-{i % cameras:04d}/object", PAYLOAD))
    queued = time.perf_counter()
    while bus.stats.published - base < messages:
        await asyncio.sleep(0.005)
    done, cpu_done = time.perf_counter(), time.process_time()
    await bus.stop()
    return (f"| {qos} | {messages:,} | {(queued - wall) / messages * 1e6:.1f} | {messages / (done - wall):,.0f} "
            f"| {(cpu_done - cpu) / messages * 1e6:.0f} |")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000, help="messages per QoS (default 20000)")
    parser.add_argument("--cameras", type=int, default=1_500, help="distinct camera topics (default 1500)")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}, {len(PAYLOAD)}-byte payloads, {args.cameras} camera topics")
    print("| qos | messages | publish() µs per call | delivered msg/s | CPU µs per message |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp, mosquitto(Path(tmp)) as port:
        for qos in (0, 1):
            print(await measure(port, qos, args.messages, args.cameras), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
