"""Secret values in config: literal strings or references to the environment or a file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, SecretStr

_ALLOWED_KEYS = {"env", "file"}


def resolve_secret(value: Any) -> Any:
    """Turn ``{ env = "NAME" }`` or ``{ file = "/path" }`` into the secret's text.

    Plain strings pass through. Any other shape raises ``ValueError`` with a
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
    try:
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None


Secret = Annotated[SecretStr, BeforeValidator(resolve_secret)]
"""A config value that may be a literal or a reference; kept as ``SecretStr`` so it never prints."""
