"""Exception types shared across nvr."""

from __future__ import annotations

from dataclasses import dataclass, replace


class NvrError(Exception):
    """Base class for every error nvr raises on purpose."""


class CatalogError(NvrError):
    """The catalog refused an operation or could not be opened / migrated."""


class CatalogUnavailable(CatalogError):
    """The catalog could not do it now (locked, busy, disk I/O); the same call may succeed later."""


class PluginError(NvrError):
    """A plugin could not be loaded or broke the hook contract."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a config file: where (key path, line) and what."""

    path: tuple[str | int, ...]
    message: str
    line: int | None = None

    @property
    def key(self) -> str:
        """The key path as a user writes it: ``cameras[1].stream.main``."""
        out = ""
        for part in self.path:
            if isinstance(part, int):
                out += f"[{part}]"
            else:
                out += f".{part}" if out else str(part)
        return out or "(file)"

    def with_line(self, line: int | None) -> ConfigProblem:
        return replace(self, line=line)

    def __str__(self) -> str:
        where = f"{self.key} (line {self.line})" if self.line else self.key
        return f"{where}: {self.message}"


class ConfigError(NvrError):
    """A config file has one or more problems; ``problems`` lists them all."""

    def __init__(self, source: str, problems: list[ConfigProblem]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(str(p) for p in problems))

    def report(self) -> str:
        """Multi-line text for people: one problem per line."""
        lines = [f"{self.source}: {len(self.problems)} problem(s)"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)
