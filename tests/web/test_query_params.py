"""Query-string parsing shared by pages and the API: values, bounds, errors naming the parameter, paging links."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from nvr.web import query_params as qp


def req(query: str) -> web.Request:
    return make_mocked_request("GET", "/api/things?" + query)


def error_of(fn, *args) -> str:
    with pytest.raises(web.HTTPBadRequest) as info:
        fn(*args)
    return info.value.text


def test_values_and_absence() -> None:
    r = req("a=5&b=2.5&c=true&d=false&e=&t=+hi+&m=fuzzy")
    assert qp.integer(r, "a") == 5 and qp.integer(r, "e") is None and qp.integer(r, "missing") is None
    assert qp.number(r, "b") == 2.5 and qp.boolean(r, "c") is True and qp.boolean(r, "d") is False
    assert qp.text(r, "t") == "hi" and qp.text(r, "e") is None
    assert qp.choice(r, "m", ("exact", "fuzzy")) == "fuzzy" and qp.choice(r, "x", ("exact",), "exact") == "exact"


def test_errors_name_the_parameter() -> None:
    assert error_of(qp.integer, req("limit=ten"), "limit").startswith("limit: not an integer")
    assert error_of(qp.integer, req("before_id=0"), "before_id", 1) == "before_id: must be at least 1"
    assert error_of(qp.number, req("max_age=5000"), "max_age", 1, 3600) == "max_age: must be at most 3600"
    assert error_of(qp.number, req("x=nan"), "x").startswith("x: not a number")
    assert error_of(qp.boolean, req("ongoing=yes"), "ongoing").startswith("ongoing: use true or false")
    assert error_of(qp.choice, req("mode=regex"), "mode", ("exact", "prefix", "fuzzy")) == \
        "mode: use exact, prefix or fuzzy, not 'regex'"
    assert error_of(qp.text, req("q=" + "x" * 300), "q").startswith("q: at most 200")
    assert error_of(qp.page, req("offset=-1")).startswith("offset: must be at least 0")


def test_limit_is_clamped_and_pages_link_onwards() -> None:
    assert qp.limit(req("limit=9999"), 100, 500) == 500 and qp.limit(req(""), 100, 500) == 100
    r = req("kelurahan=Menteng&limit=10&offset=20")
    page = qp.page(r)
    assert (page.limit, page.offset) == (10, 20) and page.cut(list(range(35))) == list(range(20, 30))
    body = qp.page_json(r, page, 35)
    assert body["total"] == 35 and body["next"] == "/api/things?kelurahan=Menteng&offset=30&limit=10"
    assert qp.page_json(r, qp.Page(10, 30), 35)["next"] is None
    more = qp.cursor_json(req("label=car&limit=2"), 2, 41, 2)
    assert more == {"limit": 2, "next_before_id": 41, "next": "/api/things?label=car&before_id=41&limit=2"}
    assert qp.cursor_json(req("limit=2"), 2, 41, 1)["next"] is None
