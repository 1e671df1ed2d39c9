"""File paths in config tables: ``~`` expanded, relative ones taken from the config file's folder."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationInfo


def config_path(value: str, info: ValidationInfo) -> str:
    """``value`` as a path: relative to the ``base_dir`` the loader puts in the validation context, if any."""
    context = info.context if isinstance(info.context, dict) else {}
    path, base = Path(value).expanduser(), context.get("base_dir")
    return str(Path(base) / path) if base is not None and not path.is_absolute() else str(path)
