"""Meta tests: every hook has a section in docs/plugins.md and a test_hook_<name> test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nvr.plugin_host import hook_names

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def plugin_docs() -> str:
    return (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def test_sources() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py"))


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_is_documented(hook: str, plugin_docs: str) -> None:
    assert re.search(rf"^### {hook}$", plugin_docs, re.M), f"docs/plugins.md has no '### {hook}' section"


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_has_a_test(hook: str, test_sources: str) -> None:
    assert re.search(rf"def test_hook_{hook}\b", test_sources), f"no test named test_hook_{hook}"


def test_docs_describe_no_hook_that_does_not_exist(plugin_docs: str) -> None:
    documented = set(re.findall(r"^### (\w+)$", plugin_docs, re.M))
    assert documented == set(hook_names())
