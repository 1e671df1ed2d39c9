"""Permission decisions: plugins vote first, ``for_actions`` keeps camera lists free of hook calls, and the
batched ``decide_many`` agrees with ``decide`` camera by camera."""

from __future__ import annotations

import types

from nvr.config import CameraConfig
from nvr.hookspecs import hookimpl
from nvr.models import User
from nvr.plugin_host import PluginHost
from nvr.web.permissions import decide, decide_many, for_actions, plugins_concerned

CAMERAS = [CameraConfig(name=f"cam{i}", kelurahan=("Menteng", "Gambir")[i % 2], enabled=False) for i in range(40)]


def user(role: str = "viewer", kelurahan: str | None = None) -> User:
    return User(1, "u", "x", role, kelurahan, 0)


def runtime(*plugins: tuple[str, object]) -> types.SimpleNamespace:
    return types.SimpleNamespace(plugins=PluginHost(load_entry_points=False, extra_plugins=list(plugins)), extras={})


def test_declared_plugins_are_asked_only_about_their_actions() -> None:
    asked: list[str] = []

    @hookimpl
    @for_actions("plates.view")
    def permission(user, action, camera):
        asked.append(action)
        return False if camera is not None and camera.name == "cam2" else None

    rt = runtime(("declared", types.SimpleNamespace(permission=permission)))
    assert not plugins_concerned(rt, "camera.view") and plugins_concerned(rt, "plates.view")
    assert len(decide_many(rt, user(), "camera.view", CAMERAS)) == 40
    assert "camera.view" not in asked  # 40 cameras listed, the plugin never called for them
    ops = decide_many(rt, user("operator"), "plates.view", CAMERAS)
    assert "cam2" not in {c.name for c in ops} and len(asked) == 40  # any False forbids, camera by camera
    assert rt.plugins.status["declared"].calls == 40


def test_undeclared_plugins_vote_on_everything_and_batch_agrees_with_single() -> None:
    @hookimpl
    def permission(user, action, camera):
        if camera is not None and camera.name == "cam1":
            return True  # shown to everyone, whatever their kelurahan
        if camera is not None and camera.name == "cam0":
            return False
        return None

    rt = runtime(("public", types.SimpleNamespace(permission=permission)))
    assert plugins_concerned(rt, "camera.view")
    for who in (user(), user("viewer", "Menteng"), user("admin", "Gambir")):
        batch = [c.name for c in decide_many(rt, who, "camera.view", CAMERAS)]
        assert batch == [c.name for c in CAMERAS if decide(rt, who, "camera.view", c)]
        assert "cam1" in batch and "cam0" not in batch
    menteng = {c.name for c in decide_many(rt, user("viewer", "Menteng"), "camera.view", CAMERAS)}
    assert menteng == {c.name for c in CAMERAS if c.kelurahan == "Menteng" and c.name != "cam0"} | {"cam1"}


def test_without_plugins_the_default_rule_decides() -> None:
    rt = runtime()
    assert not plugins_concerned(rt, "camera.view")
    assert [c.kelurahan for c in decide_many(rt, user("viewer", "Gambir"), "camera.view", CAMERAS)] == ["Gambir"] * 20
    assert decide_many(rt, user("viewer"), "camera.retry", CAMERAS) == []  # the role is too low
    assert len(decide_many(rt, user("operator"), "camera.retry", CAMERAS)) == 40
