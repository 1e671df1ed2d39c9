"""Map TOML key paths to line numbers so config errors can point at a line.

``tomllib`` keeps no positions, so this scans the text: table headers
(``[a.b]``, ``[[a]]`` with a counter per array) and ``key = value`` lines,
including dotted keys and one level of inline tables on the same line. It is
a best effort for error messages only; a path it cannot place falls back to
its closest known parent.
"""

from __future__ import annotations

import re

Path = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[|\[)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*((?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-]+))*)\s*=""")
_INLINE_KEY = re.compile(r"""[{,]\s*("[^"]*"|[A-Za-z0-9_\-]+)\s*=""")


def _split_dotted(text: str) -> list[str]:
    parts = re.findall(r"""\"[^\"]*\"|'[^']*'|[A-Za-z0-9_\-]+""", text)
    return [p.strip("\"'") for p in parts]


def line_index(text: str) -> dict[Path, int]:
    """Return ``{key path: 1-based line}`` for every table and key found in ``text``."""
    index: dict[Path, int] = {}
    array_counts: dict[tuple[str, ...], int] = {}
    table: Path = ()
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        header = _HEADER.match(line)
        if header and not _KEY.match(line):
            names = _split_dotted(header.group(2))
            if header.group(1) == "[[":
                key = tuple(names)
                count = array_counts.get(key, -1) + 1
                array_counts[key] = count
                # forget sub-array counters of the previous element
                for other in [k for k in array_counts if len(k) > len(key) and k[: len(key)] == key]:
                    del array_counts[other]
                table = _resolve(names, array_counts) + (count,)
            else:
                table = _resolve(names, array_counts)
            index.setdefault(table, lineno)
            continue
        key = _KEY.match(line)
        if key:
            path = table + tuple(_split_dotted(key.group(1)))
            index.setdefault(path, lineno)
            rest = line[key.end():]
            for inner in _INLINE_KEY.finditer(rest):
                index.setdefault(path + (inner.group(1).strip('"'),), lineno)
    return index


def _resolve(names: list[str], array_counts: dict[tuple[str, ...], int]) -> Path:
    """Insert array element indices for any prefix that is an array of tables."""
    path: list[str | int] = []
    for i, name in enumerate(names):
        path.append(name)
        prefix = tuple(names[: i + 1])
        if prefix in array_counts and i < len(names) - 1:
            path.append(array_counts[prefix])
    return tuple(path)


def find_line(index: dict[Path, int], path: Path) -> int | None:
    """Line of ``path`` or of its nearest ancestor that has one."""
    for end in range(len(path), 0, -1):
        line = index.get(tuple(path[:end]))
        if line is not None:
            return line
    return None
