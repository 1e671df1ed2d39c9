"""PostgreSQL triggers that tie runs and segments to nodes and fence out a node whose camera lease was lost.

A node's catalog connection says who it is (``SET nvr.node``). Then, on every
insert, whatever the code path (indexer, recovery):

* a run that starts is stamped with the node and the generation of its lease
  on the camera; a node without the lease cannot start one;
* a segment is stamped with the node that holds its file, and refused when
  the lease of its camera is no longer the one its run was recorded under
  (the fencing check: a node that was cut off and came back is refused);
* an update or delete of another node's runs or segments is skipped, so one
  node's start-up recovery or retention never touches footage on another
  node's disk.

A connection without ``nvr.node`` (a single server, the lease manager) is
only subject to the fencing check, which needs a run recorded under a lease.
"""

from __future__ import annotations

__all__ = ["NODE_TRIGGERS", "NOW_US_SQL"]

NOW_US_SQL = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint"
"""The catalog server's clock in µs: leases expire by one clock, not by each node's."""

_RUNS = """
CREATE OR REPLACE FUNCTION nvr_runs_node() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    me text := coalesce(current_setting('nvr.node', true), '');
    g bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF me = '' THEN
            RETURN NEW;
        END IF;
        NEW.node := me;
        IF NEW.ended_at IS NULL THEN
            SELECT l.generation INTO g FROM camera_leases l
             WHERE l.camera_id = NEW.camera_id AND l.node = me FOR SHARE;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'fenced: node % holds no lease on camera id %', me, NEW.camera_id;
            END IF;
            NEW.lease_generation := g;
        END IF;
        RETURN NEW;
    END IF;
    IF me <> '' AND OLD.node IS DISTINCT FROM me THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$fn$"""

_SEGMENTS = """
CREATE OR REPLACE FUNCTION nvr_segments_node() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    me text := coalesce(current_setting('nvr.node', true), '');
    run_node text;
    run_generation bigint;
    lease_node text;
    lease_generation bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT r.node, r.lease_generation INTO run_node, run_generation FROM runs r WHERE r.id = NEW.run_id;
        NEW.node := coalesce(NEW.node, run_node, nullif(me, ''));
        IF run_generation IS NOT NULL THEN
            SELECT l.node, l.generation INTO lease_node, lease_generation FROM camera_leases l
             WHERE l.camera_id = NEW.camera_id FOR SHARE;
            IF lease_node IS DISTINCT FROM run_node OR lease_generation IS DISTINCT FROM run_generation THEN
                RAISE EXCEPTION 'fenced: segment % was recorded by node % under lease generation %, '
                    'but the lease is now generation % held by %', NEW.path, run_node, run_generation,
                    lease_generation, coalesce(lease_node, 'nobody');
            END IF;
        END IF;
        RETURN NEW;
    END IF;
    IF me <> '' AND OLD.node IS DISTINCT FROM me THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$fn$"""

NODE_TRIGGERS: list[str] = [
    _RUNS,
    _SEGMENTS,
    "DROP TRIGGER IF EXISTS nvr_runs_node ON runs",
    "CREATE TRIGGER nvr_runs_node BEFORE INSERT OR UPDATE OR DELETE ON runs"
    " FOR EACH ROW EXECUTE FUNCTION nvr_runs_node()",
    "DROP TRIGGER IF EXISTS nvr_segments_node ON segments",
    "CREATE TRIGGER nvr_segments_node BEFORE INSERT OR UPDATE OR DELETE ON segments"
    " FOR EACH ROW EXECUTE FUNCTION nvr_segments_node()",
]
"""Installed by the PostgreSQL backend when it opens, under the migration lock (after migration 0010)."""
