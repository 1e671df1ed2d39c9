"""Secret values in config: literal strings or references to the environment or a file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, SecretStr, ValidationInfo

_ALLOWED_KEYS = {"env", "file"}


def resolve_secret(value: Any, base_dir: Path | None = None) -> Any:
    """Turn ``{ env = "NAME" }`` or ``{ file = "/path" }`` into the secret's text.

    Plain strings pass through. A relative ``file`` resolves against
    ``base_dir`` (the config file's folder) when given. Any other shape raises ``ValueError`` with a
    message that says what was expected; pydantic attaches the key path.
    The secret's value never appears in an error message.
    """
    if isinstance(value, (str, SecretStr)):
        return value
    if not isinstance(value, dict):
        raise ValueError('expected a string, { env = "NAME" } or { file = "/path" }')
    keys = set(value)
    if len(keys) != 1 or not keys <= _ALLOWED_KEYS:
        raise ValueError(
            f'a secret reference has exactly one key, "env" or "file" (got {sorted(keys)})'
        )
    if "env" in value:
        name = value["env"]
        if not isinstance(name, str) or not name:
            raise ValueError('"env" must name an environment variable')
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        return os.environ[name]
    path = value["file"]
    if not isinstance(path, str) or not path:
        raise ValueError('"file" must be a path')
    file = Path(path)
    if base_dir is not None and not file.is_absolute():
        file = Path(base_dir) / file
    try:
        return file.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"cannot read secret file {file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"secret file {file} is not UTF-8 text") from None


def _validate_secret(value: Any, info: ValidationInfo) -> Any:
    """pydantic hook: ``base_dir`` comes from the validation context (see ``parse_config``)."""
    context = info.context if isinstance(info.context, dict) else {}
    return resolve_secret(value, context.get("base_dir"))


Secret = Annotated[SecretStr, BeforeValidator(_validate_secret)]
"""A config value that may be a literal or a reference; kept as ``SecretStr`` so it never prints."""

Resolved = Annotated[str, BeforeValidator(_validate_secret)]
"""A config value that may also come from ``{ env = ... }`` or ``{ file = ... }`` but is not secret (user names)."""
