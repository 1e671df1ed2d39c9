"""The bus over TLS to a real Mosquitto: a certificate made here, checked against its CA; a wrong CA is refused."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers import free_port, wait_for
from tests.plugins.test_mqtt_bus import Broker, Subscriber, config, running_bus


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_ca(folder: Path, name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path = folder / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def make_server_cert(folder: Path, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = folder / "broker.pem", folder / "broker.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


async def test_the_bus_publishes_over_tls_and_refuses_a_broker_its_ca_did_not_sign(tmp_path: Path) -> None:
    ca_key, ca, ca_path = make_ca(tmp_path, "city-ca")
    _, _, other_ca = make_ca(tmp_path, "other-ca")
    cert, key = make_server_cert(tmp_path, ca_key, ca)
    tls_port = free_port()  # a plain listener for the test's subscriber, a TLS one for the bus
    broker = Broker(tmp_path / "broker", extra=f"allow_anonymous true\nlistener {tls_port} 127.0.0.1\n"
                                               f"cafile {ca_path}\ncertfile {cert}\nkeyfile {key}")
    broker.start()
    try:
        async with Subscriber(broker.port) as sub:
            tls = config(broker, port=tls_port, tls=True, ca_file=str(ca_path))
            async with running_bus(tls) as bus:
                await wait_for(lambda: sub.payloads("nvr/nodes/node-a/availability") == [b"online"])
                assert bus.stats.connected
            health: list[str | None] = []
            async with running_bus(config(broker, port=tls_port, tls=True, ca_file=str(other_ca)), health) as bad:
                await wait_for(lambda: bad.stats.failures >= 1)
                assert not bad.stats.connected and "certificate verify failed" in (health[-1] or "").lower()
    finally:
        broker.stop()
