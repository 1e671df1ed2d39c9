"""Meta tests: ``config.example.toml`` validates, and every config key is documented.

Adding a field to any config model (core or a plugin's ``config_models``)
without adding it to ``config.example.toml`` and ``docs/configuration.md``
fails here.
"""

from __future__ import annotations

import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import pytest
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from nvr.config import Config, load_config
from nvr.config_lines import line_index
from nvr.plugin_host import PluginHost

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "config.example.toml"
DOCS = REPO / "docs" / "configuration.md"
EXAMPLE_ENV = {"NVR_ONVIF_PASSWORD": "example-onvif", "NVR_RTSP_PASSWORD": "example-rtsp"}

KeyPath = tuple[str, ...]


# --- walking the models ---------------------------------------------------------------------


def _leaf_types(annotation: Any) -> list[Any]:
    """The types inside Optional / Union / list / Annotated."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _leaf_types(get_args(annotation)[0])
    if origin in (Union, types.UnionType, list):
        return [t for arg in get_args(annotation) for t in _leaf_types(arg)]
    return [annotation]


def _submodel(field: FieldInfo) -> type[BaseModel] | None:
    for t in _leaf_types(field.annotation):
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
    return None


def _is_secret(field: FieldInfo) -> bool:
    return SecretStr in _leaf_types(field.annotation)


def _metadata(annotation: Any) -> list[Any]:
    """Every ``Annotated[...]`` metadata item anywhere inside an annotation."""
    found = list(getattr(annotation, "__metadata__", ()))
    for arg in get_args(annotation):
        found += _metadata(arg)
    return found


def _takes_reference(field: FieldInfo) -> bool:
    """Secrets and ``Resolved`` values (user names) accept { env = ... } / { file = ... }."""
    return any(getattr(getattr(m, "func", None), "__module__", "") == "nvr.secrets"
               for m in _metadata(field.annotation) + list(field.metadata))


def _walk(model: type[BaseModel], prefix: KeyPath) -> typing.Iterator[tuple[KeyPath, FieldInfo]]:
    for name, field in model.model_fields.items():
        path = prefix + (name,)
        yield path, field
        sub = _submodel(field)
        if sub is not None:
            yield from _walk(sub, path)


@pytest.fixture(scope="module")
def plugin_models() -> dict[str, type[BaseModel]]:
    return PluginHost(load_entry_points=False).config_models()  # nvr's own keys, not installed third parties


@pytest.fixture(scope="module")
def fields(plugin_models: dict[str, type[BaseModel]]) -> dict[KeyPath, FieldInfo]:
    """Every config key: the core models, then each plugin's table under plugins.<name>."""
    found = dict(_walk(Config, ()))
    for name, model in plugin_models.items():
        found.update(_walk(model, ("plugins", name)))
    return found


def test_the_walk_sees_nested_and_plugin_keys(fields: dict[KeyPath, FieldInfo]) -> None:
    for path in [("server", "port"), ("cameras", "onvif", "password"), ("cameras", "location", "lat"),
                 ("cameras", "detect", "objects"), ("plugins", "camera_log", "level")]:
        assert path in fields
    assert _is_secret(fields[("discovery", "password")])
    assert _takes_reference(fields[("cameras", "onvif", "username")])
    assert not _takes_reference(fields[("cameras", "onvif", "host")])
    assert len(fields) > 50


# --- the example file --------------------------------------------------------------------------


def test_example_validates(monkeypatch: pytest.MonkeyPatch, plugin_models: dict) -> None:
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)
    loaded = load_config(EXAMPLE, plugin_models)
    cfg = loaded.config
    assert len(cfg.cameras) == 3
    assert [c.enabled for c in cfg.cameras].count(False) == 1, "one camera is disabled"
    assert any(c.onvif is not None and c.stream is None for c in cfg.cameras), "one ONVIF-only camera"
    assert any(c.stream is not None and c.stream.main for c in cfg.cameras), "one with explicit RTSP URLs"
    for cam in cfg.cameras:
        assert cam.kelurahan and cam.kecamatan and cam.location is not None
        assert -6.4 < cam.location.lat < -6.0 and 106.6 < cam.location.lon < 107.0, "in Jakarta"
    assert cfg.storage.root == EXAMPLE.parent / "var" / "storage"
    assert loaded.plugin_configs["camera_log"] is not None


def _commented_key(body: str) -> bool:
    """Does a comment's text parse as TOML on its own (a commented-out key or table)?"""
    if not body:
        return False
    try:
        tomllib.loads(body)
    except tomllib.TOMLDecodeError:
        return False
    return True


def example_key_paths(text: str) -> set[KeyPath]:
    """Key paths (array indices dropped) of active and commented-out keys in a TOML file."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            body = stripped.lstrip("#").strip()
            lines.append(body if _commented_key(body) else "")
        else:
            lines.append(line)
    paths: set[KeyPath] = set()
    for path in line_index("\n".join(lines)):
        names = tuple(part for part in path if isinstance(part, str))
        paths.update(names[:end] for end in range(1, len(names) + 1))
    return paths


def test_example_key_paths_helper_sees_commented_keys() -> None:
    text = "[server]\n# Port of the server, default 8080.\n# port = 8080\n[[cameras]]\nonvif = { host = 'h' }\n"
    assert example_key_paths(text) == {("server",), ("server", "port"), ("cameras",), ("cameras", "onvif"),
                                       ("cameras", "onvif", "host")}


def test_every_key_appears_in_the_example(fields: dict[KeyPath, FieldInfo]) -> None:
    documented = example_key_paths(EXAMPLE.read_text(encoding="utf-8"))
    missing = [".".join(path) for path in fields if path not in documented]
    assert not missing, f"add these keys to config.example.toml: {missing}"


def test_every_key_in_the_example_exists(fields: dict[KeyPath, FieldInfo], plugin_models: dict) -> None:
    """Catches typos in commented-out keys, which check-config cannot see."""
    plugin_tables = {("plugins", name) for name in plugin_models}
    holds_secret = {path[:-1] for path, field in fields.items() if _takes_reference(field)}
    unknown = []
    for path in example_key_paths(EXAMPLE.read_text(encoding="utf-8")):
        if path in fields or path in plugin_tables:
            continue
        # { env = "..." } / { file = "..." } of a secret; config_lines files a secret nested in an
        # inline table (onvif = { password = { env = "X" } }) one level up, so allow that too.
        if path[-1] in ("env", "file") and (path[:-1] in fields and _takes_reference(fields[path[:-1]])
                                            or path[:-1] in holds_secret):
            continue
        unknown.append(".".join(path))
    assert not unknown, f"config.example.toml mentions keys no model has: {unknown}"


def test_example_comments_every_key(fields: dict[KeyPath, FieldInfo]) -> None:
    """In the first camera and the other tables, a comment sits at most two lines above each key."""
    text = EXAMPLE.read_text(encoding="utf-8")
    lines = text.splitlines()
    for path, line in line_index(text).items():
        names = tuple(part for part in path if isinstance(part, str))
        if names not in fields or any(isinstance(p, int) and p > 0 for p in path):
            continue  # later cameras may be compact: camera 0 documents the keys
        above = [lines[i].strip() for i in range(max(0, line - 3), line - 1)]
        assert any(a.startswith("#") for a in above), f"line {line} ({'.'.join(names)}) has no comment above it"


def test_example_addresses_are_loopback_or_documentation_ranges() -> None:
    allowed = ("127.", "192.0.2.", "198.51.100.", "203.0.113.", "0.0.0.0", "239.255.255.250")
    for number, line in enumerate(EXAMPLE.read_text(encoding="utf-8").splitlines(), start=1):
        for address in re.findall(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])", line):
            assert address.startswith(allowed), f"line {number}: {address}"
            if not address.startswith(("127.", "239.")):
                assert line.lstrip().startswith("#"), f"line {number}: {address} must stay commented out"


def test_example_names_its_env_vars_at_the_top() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    header = text.split("\n[", 1)[0]
    for name in EXAMPLE_ENV:
        assert name in header
    assert set(re.findall(r'env = "([A-Z0-9_]+)"', text)) - {"NAME"} <= set(EXAMPLE_ENV)


# --- docs/configuration.md ---------------------------------------------------------------------


def _normalise(key: str) -> str:
    """`cameras[].onvif.host` / `cameras[N].onvif.host` -> cameras.onvif.host."""
    return re.sub(r"\[[^\]]*\]", "", key)


def _doc_rows() -> dict[str, str]:
    """Reference table rows, by the key in their first cell."""
    rows = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\|\s*`([^`]+)`\s*\|", line)
        if match:
            rows[_normalise(match.group(1))] = line.replace("\\|", "|")  # a pipe in a cell is written \|
    return rows


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, (str, Path)):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(value)


def _bounds(field: FieldInfo) -> list[str]:
    found = []
    for meta in field.metadata:
        for attr in ("ge", "gt", "le", "lt"):
            if isinstance(meta, getattr(annotated_types, attr.capitalize())):
                found.append(_toml(getattr(meta, attr)))
        pattern = getattr(meta, "pattern", None)
        if pattern:
            found.append(pattern)
    for t in _leaf_types(field.annotation):
        if get_origin(t) is Literal:
            found += [_toml(v) for v in get_args(t)]
    return found


def test_every_key_is_in_the_docs(fields: dict[KeyPath, FieldInfo]) -> None:
    rows = _doc_rows()
    missing = [".".join(path) for path in fields if ".".join(path) not in rows]
    assert not missing, f"add a row for these keys to docs/configuration.md: {missing}"


def test_docs_rows_show_defaults_and_bounds(fields: dict[KeyPath, FieldInfo]) -> None:
    rows = _doc_rows()
    problems = []
    for path, field in fields.items():
        key = ".".join(path)
        row = rows.get(key, "")
        if field.is_required():
            expected = ["required"]
        elif field.default_factory is not None:
            default = field.default_factory()
            expected = [] if isinstance(default, (BaseModel, dict)) else [_toml(default)]
        elif field.default is None:
            expected = ["none"]
        else:
            expected = [_toml(field.default)]
        for text in expected + _bounds(field):
            if text.lower() not in row.lower():
                problems.append(f"{key}: row lacks {text!r}")
    assert not problems, problems


def test_docs_have_no_rows_for_keys_that_do_not_exist(fields: dict[KeyPath, FieldInfo]) -> None:
    known = {".".join(path) for path in fields}
    unknown = [key for key in _doc_rows() if "." in key or key in {"server", "cameras"}
               if key not in known and key.split(".")[0] in {p[0] for p in fields}]
    assert not unknown, f"docs/configuration.md documents keys no model has: {unknown}"


def test_docs_cover_secrets_paths_and_reload() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for needle in ('{ env = "', '{ file = "', "SIGHUP", "config file's folder", "restart",
                   "exits with status **2**", "problem(s)"):
        assert needle in text, needle
