-- History that lasts: every change of a project, feature, todo, comment or
-- document (and of a todo's dependencies), from its creation on, kept after
-- the event log has pruned it.  intracker.event_retention bounds replay;
-- intracker.history_retention (default forever) bounds history.
--
-- The publisher copies each published event of those kinds here, in the
-- transaction that publishes it (src/publication.c), so the history is
-- exactly the published changes, in seq order, and costs writers nothing.
-- A project's history goes with the project.  Readers see the history of
-- their projects' entities (RLS); no column of these entities is hidden
-- from viewers (the session notes, which are, have no history here).

CREATE TABLE intracker_data.history (
    seq             bigint PRIMARY KEY,
    type            text NOT NULL,
    project_id      uuid NOT NULL,
    entity_id       uuid NOT NULL,
    actor           uuid,
    version         integer,
    changes         jsonb NOT NULL,
    occurred_at     timestamptz NOT NULL
);
CREATE INDEX history_entity_idx ON intracker_data.history (entity_id, seq DESC);
CREATE INDEX history_project_idx ON intracker_data.history (project_id);
COMMENT ON TABLE intracker_data.history IS
    'Published changes of projects, features, todos (and their dependencies), comments and documents, kept for intracker.history_retention (default forever); read with intracker.history().';
SELECT pg_catalog.pg_extension_config_dump('intracker_data.history', '');

ALTER TABLE intracker_data.history ENABLE ROW LEVEL SECURITY;
CREATE POLICY history_select ON intracker_data.history FOR SELECT
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[])
           OR ((SELECT intracker.current_user_id()) IS NULL
               AND pg_catalog.pg_has_role('intracker_admin', 'MEMBER')));

-- Called by the publisher for each batch it publishes.  Events of a project
-- deleted meanwhile are not kept: its history went with it.
CREATE FUNCTION intracker_data.record_history(after_seq bigint, last_seq bigint)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO intracker_data.history (seq, type, project_id, entity_id, actor, version, changes, occurred_at)
    SELECT e.seq, e.type, e.project_id, e.entity_id, e.actor, e.version, e.changes, e.occurred_at
      FROM intracker_data.events e
     WHERE e.seq > record_history.after_seq AND e.seq <= record_history.last_seq
       AND split_part(e.type, '.', 1) IN ('project', 'feature', 'todo', 'dependency', 'comment', 'document')
       AND EXISTS (SELECT FROM intracker_data.projects p WHERE p.id = e.project_id)
     ORDER BY e.seq;
END;
COMMENT ON FUNCTION intracker_data.record_history(bigint, bigint) IS
    'Copies the published events after after_seq up to last_seq that are changes of a project, feature, todo (or its dependencies), comment or document into intracker_data.history (for the publisher).';

CREATE FUNCTION intracker_data.forget_project_history()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM intracker_data.history h WHERE h.project_id = OLD.id;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION intracker_data.forget_project_history() IS
    'Trigger: a deleted project''s history goes with it.';
CREATE TRIGGER projects_forget_history AFTER DELETE ON intracker_data.projects
    FOR EACH ROW EXECUTE FUNCTION intracker_data.forget_project_history();

CREATE FUNCTION intracker.history(entity_id uuid, max_entries integer DEFAULT 100, before timestamptz DEFAULT NULL)
RETURNS TABLE (seq bigint, occurred_at timestamptz, actor uuid, type text, version integer, changes jsonb)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM intracker_data.require_user();
    IF max_entries IS NULL OR max_entries NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION 'max_entries must be between 1 and 10000'
            USING ERRCODE = '22023',
                  DETAIL = format('max_entries is %s.', coalesce(max_entries::text, 'NULL')),
                  HINT = 'Read older entries with before => the occurred_at of the oldest you have.';
    END IF;
    PERFORM intracker_data.publish_pending_events();
    -- The changes of one transaction share their occurred_at, so a page
    -- ends at a transaction boundary: paging with before => the oldest
    -- occurred_at of a page then misses nothing.  (A page is cut inside a
    -- transaction only when that one transaction alone has more than
    -- max_entries changes of the entity.)
    RETURN QUERY
        WITH page AS (
            SELECT h.*, row_number() OVER (ORDER BY h.seq DESC) AS n
              FROM (SELECT h.* FROM intracker_data.history h
                     WHERE h.entity_id = history.entity_id
                       AND (history.before IS NULL OR h.occurred_at < history.before)
                     ORDER BY h.seq DESC
                     LIMIT max_entries + 1) h),
        cut AS (SELECT p.occurred_at FROM page p WHERE p.n = max_entries + 1)
        SELECT p.seq, p.occurred_at, p.actor, p.type, p.version, p.changes
          FROM page p
         WHERE p.n <= max_entries
           AND (NOT EXISTS (SELECT FROM cut)
                OR p.occurred_at <> (SELECT c.occurred_at FROM cut c)
                OR NOT EXISTS (SELECT FROM page q
                                WHERE q.n <= max_entries AND q.occurred_at <> (SELECT c.occurred_at FROM cut c)))
         ORDER BY p.seq DESC;
    IF NOT FOUND
       AND NOT EXISTS (SELECT FROM intracker_data.history h WHERE h.entity_id = history.entity_id)
       AND NOT EXISTS (SELECT FROM intracker_data.todos t WHERE t.id = history.entity_id)
       AND NOT EXISTS (SELECT FROM intracker_data.features f WHERE f.id = history.entity_id)
       AND NOT EXISTS (SELECT FROM intracker_data.projects p WHERE p.id = history.entity_id) THEN
        RAISE EXCEPTION 'no history of % found', coalesce(entity_id::text, 'NULL')
            USING ERRCODE = 'PT404',
                  HINT = 'Pass the id of a project, feature, todo, comment or document of a project you are a member of.';
    END IF;
END
$$;
COMMENT ON FUNCTION intracker.history(uuid, integer, timestamptz) IS
    'Every change of a project, feature, todo (its dependencies included), comment or document since its creation, deleted ones included, newest first: seq, occurred_at, actor, type, version and changes ({"field": {"old", "new"}}); at most max_entries (1 to 10000), ending at a transaction boundary, so that before => the oldest occurred_at of a page gives the next. Kept for intracker.history_retention (default forever), whatever intracker.event_retention.';

GRANT SELECT ON intracker_data.history TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker.history(uuid, integer, timestamptz) TO intracker_user;
