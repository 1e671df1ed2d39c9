"""``[plugins.mqtt]``: the MQTT broker to publish to, how (TLS, login, QoS), under which topic prefix."""

from __future__ import annotations

import re
import socket
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from nvr.config_paths import config_path
from nvr.secrets import Secret

TOPIC_LEVELS = re.compile(r"^[^/#+\x00]+(/[^/#+\x00]+)*$")
"""A topic prefix: one or more non-empty levels without wildcards."""


def default_node() -> str:
    """This machine's host name, made safe for one topic level."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()) or "nvr"


class MqttConfig(BaseModel):
    """``[plugins.mqtt]``: present (and ``enabled``) turns the event bus on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, title="Publish to the broker (false keeps the table but turns the bus off)")
    host: str = Field("127.0.0.1", min_length=1, title="Broker host name or address")
    port: int = Field(1883, ge=1, le=65535, title="Broker port (8883 is usual with TLS)")
    tls: bool = Field(False, title="Connect with TLS")
    ca_file: str | None = Field(None, title="CA certificates (PEM) that sign the broker's certificate")
    cert_file: str | None = Field(None, title="Client certificate (PEM) for brokers that require one")
    key_file: str | None = Field(None, title="Private key of cert_file (PEM)")
    tls_insecure: bool = Field(False, title="Skip the broker host name check (testing only)")
    username: str | None = Field(None, min_length=1, title="Login name, if the broker requires one")
    password: Secret | None = Field(None, title="Login password: a string, { env = \"NAME\" } or { file = \"...\" }")
    prefix: str = Field("nvr", title="First topic level(s) of everything published")
    node: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$",
                             title="This server's name in topics (default: the host name)")
    client_id: str | None = Field(None, min_length=1, max_length=128,
                                  title="MQTT client id (default: nvr-<node>)")
    plates: bool = Field(True, title="Publish plate sightings (personal data: off if subscribers may not see plates)")
    qos: Literal[0, 1, 2] = Field(1, title="QoS of every message (1: at least once)")
    keepalive_s: int = Field(30, ge=5, le=3600, title="Keep-alive interval in seconds")
    queue_size: int = Field(10_000, ge=10, le=1_000_000,
                            title="Messages held while the broker is unreachable (the oldest are dropped)")
    publish_timeout_s: float = Field(5.0, gt=0, le=120, title="A message not acknowledged this fast is retried")
    reconnect_min_s: float = Field(0.5, gt=0, le=60, title="First wait before reconnecting")
    reconnect_max_s: float = Field(30.0, gt=0, le=3600, title="Longest wait between reconnects")

    @field_validator("prefix")
    @classmethod
    def _topic_prefix(cls, value: str) -> str:
        if not TOPIC_LEVELS.match(value):
            raise ValueError("a topic prefix like \"nvr\" or \"city/nvr\": no '+', '#', empty level or leading '/'")
        return value

    @field_validator("ca_file", "cert_file", "key_file")
    @classmethod
    def _resolve(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if not info.data.get("tls"):
            raise ValueError("used only with tls = true: set it")
        return config_path(value, info)

    @field_validator("password")
    @classmethod
    def _needs_username(cls, value: object, info: ValidationInfo) -> object:
        if value is not None and info.data.get("username") is None:
            raise ValueError("a password needs a username")
        return value

    @field_validator("key_file")
    @classmethod
    def _needs_cert(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("cert_file") is None:
            raise ValueError("key_file needs cert_file")
        return value

    @field_validator("reconnect_max_s")
    @classmethod
    def _max_at_least_min(cls, value: float, info: ValidationInfo) -> float:
        if value < info.data.get("reconnect_min_s", 0):
            raise ValueError("less than reconnect_min_s")
        return value

    @property
    def node_name(self) -> str:
        return self.node or default_node()

    @property
    def identifier(self) -> str:
        return self.client_id or f"nvr-{self.node_name}"

    def topic(self, *levels: str) -> str:
        return "/".join((self.prefix, *levels))
