"""``[plugins.mqtt]`` validation: problems name their key; the password stays secret."""

from __future__ import annotations

import pytest

from nvr.config import parse_config
from nvr.errors import ConfigError
from nvr.plugins.mqtt.config import MqttConfig

MODELS = {"mqtt": MqttConfig}


def problems(body: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as err:
        parse_config(body, MODELS)
    return {p.key: p.message for p in err.value.problems}


def test_defaults_and_a_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MQTT_PASS", "pa55-word")
    loaded = parse_config('[plugins.mqtt]\nusername = "nvr"\npassword = { env = "MQTT_PASS" }\n', MODELS)
    cfg = loaded.plugin_configs["mqtt"]
    assert isinstance(cfg, MqttConfig)
    assert (cfg.host, cfg.port, cfg.prefix, cfg.qos, cfg.identifier) == ("127.0.0.1", 1883, "nvr", 1,
                                                                        f"nvr-{cfg.node_name}")
    assert cfg.password is not None and cfg.password.get_secret_value() == "pa55-word"
    assert "pa55-word" not in repr(cfg) and "pa55-word" not in cfg.model_dump_json()
    assert cfg.topic("cameras", "gate", "state") == "nvr/cameras/gate/state"


@pytest.mark.parametrize(("body", "key", "words"), [
    ('prefix = "nvr/#"', "plugins.mqtt.prefix", "'#'"),
    ('prefix = "/nvr"', "plugins.mqtt.prefix", "leading"),
    ("port = 0", "plugins.mqtt.port", "greater"),
    ("qos = 3", "plugins.mqtt.qos", "0, 1 or 2"),
    ('password = "x"', "plugins.mqtt.password", "username"),
    ('ca_file = "ca.pem"', "plugins.mqtt.ca_file", "tls = true"),
    ("reconnect_min_s = 5\nreconnect_max_s = 1", "plugins.mqtt.reconnect_max_s", "reconnect_min_s"),
    ('node = "a/b"', "plugins.mqtt.node", "pattern"),
    ("hots = 1", "plugins.mqtt.hots", "unknown key"),
])
def test_a_bad_value_names_its_key(body: str, key: str, words: str) -> None:
    found = problems(f"[plugins.mqtt]\n{body}\n")
    assert key in found and words in found[key], found


def test_a_secret_in_a_bad_table_is_not_echoed() -> None:
    found = problems('[plugins.mqtt]\npassword = "hunter2-secret"\n')
    assert "hunter2-secret" not in repr(found)
