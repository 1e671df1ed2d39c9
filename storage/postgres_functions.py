"""PostgreSQL twins of the Python functions the SQLite catalog registers with ``create_function``."""

from __future__ import annotations

from nvr.plate_text import CONFUSION_COST, CONFUSIONS, WEAK_CONFUSION_COST, WEAK_CONFUSIONS

__all__ = ["FUNCTIONS"]


def _plate_distance_sql() -> str:
    """``nvr_plate_distance(a, b)``: ``nvr.plate_text.plate_distance`` in PL/pgSQL, its cost table generated."""
    whens = []
    for pairs, cost in ((CONFUSIONS, CONFUSION_COST), (WEAK_CONFUSIONS, WEAK_CONFUSION_COST)):
        for a, b in pairs:
            whens.append(f"WHEN (ca = '{a}' AND cb = '{b}') OR (ca = '{b}' AND cb = '{a}') THEN {cost}")
    cases = "\n                ".join(whens)
    return f"""
CREATE OR REPLACE FUNCTION nvr_plate_distance(a text, b text) RETURNS double precision
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
    prev double precision[];
    cur double precision[];
    ca text;
    cb text;
    sub double precision;
    i integer;
    j integer;
BEGIN
    IF a = b THEN
        RETURN 0;
    END IF;
    prev := ARRAY(SELECT g::double precision FROM generate_series(0, length(b)) g);
    FOR i IN 1..length(a) LOOP
        ca := substr(a, i, 1);
        cur := ARRAY[i::double precision];
        FOR j IN 1..length(b) LOOP
            cb := substr(b, j, 1);
            sub := CASE WHEN ca = cb THEN 0
                {cases}
                ELSE 1 END;
            cur := cur || LEAST(prev[j + 1] + 1, cur[j] + 1, prev[j] + sub);
        END LOOP;
        prev := cur;
    END LOOP;
    RETURN prev[length(b) + 1];
END
$fn$"""


FUNCTIONS: dict[str, str] = {"nvr_plate_distance": _plate_distance_sql()}
"""Name -> ``CREATE OR REPLACE FUNCTION`` text; the backend installs them when it opens."""
