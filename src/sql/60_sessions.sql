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


CREATE VIEW intracker.sessions WITH (security_invoker = true) AS
SELECT id, project_id, user_id, started_at, ended_at, goal, summary, next_steps, blockers, todo_ids
  FROM intracker_data.sessions;
COMMENT ON VIEW intracker.sessions IS 'Work sessions of people and agents in your projects; one open session per user and project.';
COMMENT ON COLUMN intracker.sessions.todo_ids IS 'Todos worked on during the session.';

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
    RETURNING s.id, s.project_id, s.user_id, s.started_at, s.ended_at, s.goal, s.summary,
              s.next_steps, s.blockers, s.todo_ids
         INTO started;
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
    session intracker_data.sessions;
    unknown_todos uuid[];
    ended intracker.sessions;
BEGIN
    SELECT * INTO session FROM intracker_data.sessions s WHERE s.id = end_session.session_id;
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
     WHERE s.id = session.id AND s.ended_at IS NULL
    RETURNING s.id, s.project_id, s.user_id, s.started_at, s.ended_at, s.goal, s.summary,
              s.next_steps, s.blockers, s.todo_ids
         INTO ended;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'session % has already ended', session.id
            USING ERRCODE = '22023',
                  HINT = 'Start a new session with intracker.start_session().';
    END IF;
    RETURN ended;
END
$$;
COMMENT ON FUNCTION intracker.end_session(uuid, text, text[], text[], uuid[]) IS
    'End your open session with a summary, next steps, blockers and the todos worked on; the next agent resumes from these.';

GRANT SELECT ON intracker_data.sessions, intracker.sessions TO intracker_user;
GRANT INSERT (id, project_id, user_id, goal), UPDATE (goal, summary, next_steps, blockers, todo_ids, ended_at), DELETE
    ON intracker.sessions, intracker_data.sessions TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker.start_session(uuid, text),
    intracker.end_session(uuid, text, text[], text[], uuid[]) TO intracker_user;
