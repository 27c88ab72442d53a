-- Work sessions: what a person or agent set out to do, what they did, and
-- what the next one should do (the resume context reads them).

CREATE TABLE intracker_data.sessions (
    id              uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    project_id      uuid NOT NULL REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES intracker_data.users (id) DEFAULT intracker.current_user_id(),
    started_at      timestamptz NOT NULL DEFAULT now(),
    ended_at        timestamptz,
    goal            text,
    summary         text,
    next_steps      text[] NOT NULL DEFAULT '{}',
    blockers        text[] NOT NULL DEFAULT '{}',
    todo_ids        uuid[] NOT NULL DEFAULT '{}',
    CONSTRAINT sessions_end_after_start CHECK (ended_at >= started_at)
);
CREATE UNIQUE INDEX sessions_one_open_per_user ON intracker_data.sessions (project_id, user_id) WHERE ended_at IS NULL;
CREATE INDEX sessions_project_started_idx ON intracker_data.sessions (project_id, started_at DESC);
CREATE INDEX sessions_user_id_idx ON intracker_data.sessions (user_id, project_id, started_at DESC);

COMMENT ON CONSTRAINT sessions_end_after_start ON intracker_data.sessions IS 'ended_at must not be before started_at.';

SELECT pg_catalog.pg_extension_config_dump('intracker_data.sessions', '');

-- Sessions: members read the project's sessions; editors and owners record
-- their own; owners may delete any.
ALTER TABLE intracker_data.sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY sessions_select ON intracker_data.sessions FOR SELECT
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]));
CREATE POLICY sessions_insert ON intracker_data.sessions FOR INSERT
    WITH CHECK (user_id = (SELECT intracker.current_user_id())
                AND project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]));
CREATE POLICY sessions_update ON intracker_data.sessions FOR UPDATE
    USING (user_id = (SELECT intracker.current_user_id())
           AND project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]))
    WITH CHECK (user_id = (SELECT intracker.current_user_id())
                AND project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]));
CREATE POLICY sessions_delete ON intracker_data.sessions FOR DELETE
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('owner'))::uuid[]));


-- May the acting user read the working notes of a session of this user in
-- this project?  Its author may, and the project's editors and owners (and
-- an admin acting as nobody); viewers may not.  SECURITY DEFINER like the
-- membership helpers it calls; it tells the caller nothing about projects
-- they are not in.
CREATE FUNCTION intracker_data.may_read_session_notes(project_id uuid, author uuid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN author = intracker.current_user_id()
       OR intracker_data.role_rank(intracker_data.my_role(project_id)) >= intracker_data.role_rank('editor')
       OR (intracker.current_user_id() IS NULL AND pg_catalog.pg_has_role('intracker_admin', 'MEMBER'));
COMMENT ON FUNCTION intracker_data.may_read_session_notes(uuid, uuid) IS
    'Whether the acting user may read a session''s summary and next steps: its author, editors and owners of the project, admins acting as nobody; not viewers.';

-- Working notes (summary, next steps) are for the people doing the work:
-- a viewer reads them only in their own sessions.  The one rule lives in
-- intracker_data.may_read_session_notes(); here, in intracker.events and in
-- the context documents it is applied, and users cannot read the note
-- columns of the table itself (its grants below).  So the view reads the
-- table as its owner (not security_invoker), keeps only the caller's
-- projects, as the table's RLS would, and is a security barrier so that no
-- function in a caller's WHERE clause sees rows before that filter.  Writes
-- through it go to the table as the caller (INSTEAD OF triggers), under RLS.
CREATE VIEW intracker.sessions WITH (security_barrier = true) AS
SELECT s.id, s.project_id, s.user_id, s.started_at, s.ended_at, s.goal,
       CASE WHEN intracker_data.may_read_session_notes(s.project_id, s.user_id) THEN s.summary END AS summary,
       CASE WHEN intracker_data.may_read_session_notes(s.project_id, s.user_id) THEN s.next_steps END AS next_steps,
       s.blockers, s.todo_ids
  FROM intracker_data.sessions s
 WHERE s.project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]);
COMMENT ON VIEW intracker.sessions IS 'Work sessions of people and agents in your projects; one open session per user and project. Summary and next steps (working notes) are NULL for viewers but in their own sessions.';
COMMENT ON COLUMN intracker.sessions.todo_ids IS 'Todos worked on during the session.';

-- Writes through the view: as the caller, to the table, where RLS lets a
-- user change and delete only their own sessions (owners delete any).  The
-- row returned is the view's, as the caller reads it.
CREATE FUNCTION intracker_data.sessions_view_write()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    written uuid;
    result intracker.sessions;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO intracker_data.sessions AS s (id, project_id, user_id, goal)
        VALUES (coalesce(NEW.id, gen_random_uuid()), NEW.project_id, coalesce(NEW.user_id, intracker.current_user_id()),
                NEW.goal)
        RETURNING s.id INTO written;
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE intracker_data.sessions AS s
           SET goal = NEW.goal, summary = NEW.summary, next_steps = NEW.next_steps, blockers = NEW.blockers,
               todo_ids = NEW.todo_ids, ended_at = NEW.ended_at
         WHERE s.id = OLD.id
        RETURNING s.id INTO written;
    ELSE
        DELETE FROM intracker_data.sessions AS s WHERE s.id = OLD.id RETURNING s.id INTO written;
        RETURN CASE WHEN written IS NULL THEN NULL ELSE OLD END;
    END IF;
    IF written IS NULL THEN
        RETURN NULL;    -- RLS hid the row: nothing written, no row reported
    END IF;
    SELECT * INTO result FROM intracker.sessions v WHERE v.id = written;
    RETURN result;
END
$$;
COMMENT ON FUNCTION intracker_data.sessions_view_write() IS
    'INSTEAD OF INSERT/UPDATE/DELETE on intracker.sessions: writes the table as the caller (RLS applies) and returns the view''s row.';
CREATE TRIGGER sessions_write INSTEAD OF INSERT OR UPDATE OR DELETE ON intracker.sessions
    FOR EACH ROW EXECUTE FUNCTION intracker_data.sessions_view_write();

CREATE FUNCTION intracker.start_session(project_id uuid, goal text DEFAULT NULL)
RETURNS intracker.sessions
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := intracker_data.require_user();
    open_session uuid;
    started intracker.sessions;
BEGIN
    PERFORM intracker_data.require_role(start_session.project_id, 'editor', 'record work sessions');
    SELECT s.id INTO open_session FROM intracker_data.sessions s
     WHERE s.project_id = start_session.project_id AND s.user_id = me AND s.ended_at IS NULL;
    IF open_session IS NOT NULL THEN
        RAISE EXCEPTION 'you already have an open session in project %', start_session.project_id
            USING ERRCODE = '23505',
                  DETAIL = format('Session %s is still open.', open_session),
                  HINT = 'End it with intracker.end_session() first.';
    END IF;
    INSERT INTO intracker_data.sessions AS s (project_id, user_id, goal)
    VALUES (start_session.project_id, me, start_session.goal)
    RETURNING s.id INTO started.id;
    SELECT * INTO started FROM intracker.sessions v WHERE v.id = started.id;
    RETURN started;
END
$$;
COMMENT ON FUNCTION intracker.start_session(uuid, text) IS
    'Start a work session in a project (one open session per user and project). Editors and owners.';

CREATE FUNCTION intracker.end_session(session_id uuid, summary text, next_steps text[] DEFAULT NULL,
                                      blockers text[] DEFAULT NULL, todo_ids uuid[] DEFAULT NULL)
RETURNS intracker.sessions
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := intracker_data.require_user();
    session record;
    unknown_todos uuid[];
    ended intracker.sessions;
BEGIN
    SELECT s.id, s.project_id, s.user_id INTO session FROM intracker_data.sessions s WHERE s.id = end_session.session_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'session % not found', end_session.session_id
            USING ERRCODE = 'PT404',
                  HINT = 'The session does not exist or you are not a member of its project.';
    END IF;
    IF session.user_id <> me THEN
        RAISE EXCEPTION 'permission denied to end another user''s session'
            USING ERRCODE = '42501',
                  DETAIL = format('Session %s belongs to user %s.', session.id, session.user_id);
    END IF;
    SELECT array_agg(wanted) INTO unknown_todos
      FROM unnest(end_session.todo_ids) AS wanted
     WHERE NOT EXISTS (SELECT FROM intracker_data.todos t WHERE t.id = wanted AND t.project_id = session.project_id);
    IF unknown_todos IS NOT NULL THEN
        RAISE EXCEPTION 'invalid value for todo_ids'
            USING ERRCODE = '22023',
                  DETAIL = format('Not todos of project %s: %s.', session.project_id, array_to_string(unknown_todos, ', '));
    END IF;

    -- "ended_at IS NULL" here, not in a check above, so that of two
    -- concurrent calls exactly one ends the session.
    UPDATE intracker_data.sessions AS s
       SET ended_at = now(),
           summary = end_session.summary,
           next_steps = coalesce(end_session.next_steps, '{}'),
           blockers = coalesce(end_session.blockers, '{}'),
           todo_ids = coalesce(end_session.todo_ids, '{}')
     WHERE s.id = session.id AND s.ended_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'session % has already ended', session.id
            USING ERRCODE = '22023',
                  HINT = 'Start a new session with intracker.start_session().';
    END IF;
    SELECT * INTO ended FROM intracker.sessions v WHERE v.id = session.id;
    RETURN ended;
END
$$;
COMMENT ON FUNCTION intracker.end_session(uuid, text, text[], text[], uuid[]) IS
    'End your open session with a summary, next steps, blockers and the todos worked on; the next agent resumes from these.';

-- Not the note columns of the table: users read notes through the view.
GRANT SELECT (id, project_id, user_id, started_at, ended_at, goal, blockers, todo_ids)
    ON intracker_data.sessions TO intracker_user;
GRANT SELECT ON intracker.sessions TO intracker_user;
GRANT INSERT (id, project_id, user_id, goal), UPDATE (goal, summary, next_steps, blockers, todo_ids, ended_at), DELETE
    ON intracker.sessions, intracker_data.sessions TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker_data.may_read_session_notes(uuid, uuid), intracker.start_session(uuid, text),
    intracker.end_session(uuid, text, text[], text[], uuid[]) TO intracker_user;
