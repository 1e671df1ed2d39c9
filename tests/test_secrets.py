"""``nvr.secrets``: literal secrets and { env = ... } / { file = ... } references."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from nvr.secrets import Resolved, Secret, resolve_secret

SECRET = "s3cret-Jakarta-2024!"


class Holder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: Secret | None = None


def _error(value: object, context: dict | None = None) -> tuple[tuple, str]:
    with pytest.raises(ValidationError) as info:
        Holder.model_validate({"password": value}, context=context)
    (err,) = info.value.errors(include_url=False, include_input=False)
    return err["loc"], err["msg"]


def test_plain_string_passes_through() -> None:
    assert resolve_secret("literal") == "literal"
    assert Holder(password="literal").password.get_secret_value() == "literal"


def test_env_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVR_TEST_SECRET", SECRET)
    assert resolve_secret({"env": "NVR_TEST_SECRET"}) == SECRET
    held = Holder.model_validate({"password": {"env": "NVR_TEST_SECRET"}})
    assert isinstance(held.password, SecretStr)
    assert held.password.get_secret_value() == SECRET


def test_env_set_to_empty_string_is_an_empty_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVR_TEST_EMPTY", "")
    assert resolve_secret({"env": "NVR_TEST_EMPTY"}) == ""


def test_unset_env_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NVR_TEST_UNSET", raising=False)
    loc, msg = _error({"env": "NVR_TEST_UNSET"})
    assert loc == ("password",)
    assert msg == "Value error, environment variable NVR_TEST_UNSET is not set"


@pytest.mark.parametrize("name", ["", 5, ["X"]])
def test_env_must_be_a_non_empty_name(name: object) -> None:
    _, msg = _error({"env": name})
    assert '"env" must name an environment variable' in msg


def test_file_reference_strips_only_the_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text(f"  {SECRET} \r\n", encoding="utf-8")
    assert resolve_secret({"file": str(path)}) == f"  {SECRET} "


def test_file_reference_keeps_inner_lines(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text("line1\nline2\n\n", encoding="utf-8")
    assert resolve_secret({"file": str(path)}) == "line1\nline2"


def test_missing_file_is_an_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "pw"
    loc, msg = _error({"file": str(missing)})
    assert loc == ("password",)
    assert msg == f"Value error, cannot read secret file {missing}: No such file or directory"


def test_directory_is_an_unreadable_secret_file(tmp_path: Path) -> None:
    _, msg = _error({"file": str(tmp_path)})
    assert f"cannot read secret file {tmp_path}" in msg


def test_non_utf8_file_is_an_error_without_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_bytes(b"\xff\xfe" + SECRET.encode())
    _, msg = _error({"file": str(path)})
    assert msg == f"Value error, secret file {path} is not UTF-8 text"
    assert "0xff" not in msg


def test_relative_file_resolves_against_base_dir_from_context(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "pw").write_text(SECRET + "\n", encoding="utf-8")
    assert resolve_secret({"file": "secrets/pw"}, base_dir=tmp_path) == SECRET
    held = Holder.model_validate({"password": {"file": "secrets/pw"}}, context={"base_dir": tmp_path})
    assert held.password.get_secret_value() == SECRET


def test_absolute_file_ignores_base_dir(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text(SECRET, encoding="utf-8")
    assert resolve_secret({"file": str(path)}, base_dir=Path("/nonexistent")) == SECRET


@pytest.mark.parametrize(
    "value, expected",
    [
        ({"env": "A", "file": "/b"}, "got ['env', 'file']"),
        ({"vault": "x"}, "got ['vault']"),
        ({}, "got []"),
        ({"env": "A", "extra": 1}, "got ['env', 'extra']"),
    ],
)
def test_reference_has_exactly_one_key(value: dict, expected: str) -> None:
    loc, msg = _error(value)
    assert loc == ("password",)
    assert 'a secret reference has exactly one key, "env" or "file"' in msg
    assert expected in msg


@pytest.mark.parametrize("value", [1234, 1.5, True, ["x"]])
def test_other_types_are_rejected_with_the_expected_shapes(value: object) -> None:
    _, msg = _error(value)
    assert msg == 'Value error, expected a string, { env = "NAME" } or { file = "/path" }'


def test_secret_never_prints(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NVR_TEST_SECRET", SECRET)
    held = Holder.model_validate({"password": {"env": "NVR_TEST_SECRET"}})
    for text in (repr(held), str(held), held.model_dump_json(), str(held.model_dump())):
        assert SECRET not in text
        assert "**********" in text


def test_errors_never_contain_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_bytes(SECRET.encode() + b"\xff")
    with pytest.raises(ValidationError) as info:
        Holder.model_validate({"password": {"file": str(path)}})
    assert SECRET not in str(info.value)


class UserHolder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Resolved | None = None


def test_resolved_values_take_references_but_stay_plain_strings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NVR_TEST_USER", "operator")
    assert UserHolder(username="admin").username == "admin"
    assert UserHolder.model_validate({"username": {"env": "NVR_TEST_USER"}}).username == "operator"
    (tmp_path / "user").write_text("from-file\n", encoding="utf-8")
    held = UserHolder.model_validate({"username": {"file": "user"}}, context={"base_dir": tmp_path})
    assert held.username == "from-file"
    assert "from-file" in repr(held)  # not a secret


def test_resolved_errors_name_the_key() -> None:
    with pytest.raises(ValidationError) as info:
        UserHolder.model_validate({"username": {"env": "A", "file": "b"}})
    (err,) = info.value.errors(include_url=False)
    assert err["loc"] == ("username",)
    assert "exactly one key" in err["msg"]
