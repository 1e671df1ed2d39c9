"""Share-link tokens: the signature covers id, expiry, camera, kind and clip range; anything changed is refused."""

from __future__ import annotations

import pytest

from nvr.plugins.kelurahan.share_token import parse, sign, verify

KEY = b"k" * 32


def test_round_trip() -> None:
    token = sign(KEY, 7, 1_900_000_000, "cam1", "clip", 1, 2)
    claims = parse(token)
    assert (claims.share_id, claims.expires_s) == (7, 1_900_000_000)
    assert verify(KEY, token, "cam1", "clip", 1, 2)


@pytest.mark.parametrize("change", [
    lambda t: t.replace("7.", "8.", 1),                       # another link's id
    lambda t: t.replace(".1900000000.", ".1900000001.", 1),   # a later expiry
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),        # one signature character
    lambda t: t + "x",
    lambda t: "",
    lambda t: "../../etc",
])
def test_tampered_tokens_fail(change) -> None:
    token = sign(KEY, 7, 1_900_000_000, "cam1", "clip", 1, 2)
    assert not verify(KEY, change(token), "cam1", "clip", 1, 2)


@pytest.mark.parametrize("args", [("cam2", "clip", 1, 2), ("cam1", "live", None, None), ("cam1", "clip", 1, 3)])
def test_signature_binds_what_is_shown(args) -> None:
    assert not verify(KEY, sign(KEY, 7, 1_900_000_000, "cam1", "clip", 1, 2), *args)
    assert not verify(b"other key", sign(KEY, 7, 1_900_000_000, *args), *args)
