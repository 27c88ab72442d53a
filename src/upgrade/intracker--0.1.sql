-- intracker 0.1: data model, API schema, row-level security, optimistic locking.
--
-- Layout: tables live in the private schema intracker_data; the schema
-- intracker holds only the API (security_invoker views and functions) that
-- psql users, any client and PostgREST (db-schemas = intracker) use.
--
-- Roles: intracker_user is granted to every role that uses the API (the
-- PostgREST authenticated role, application roles); intracker_admin may
-- create users and act as any user (scripts, tests, the demo).  Neither role
-- can log in; the README shows how a deployment wires them up.

\echo Use "CREATE EXTENSION intracker" to load this file. \quit

-- Roles are cluster-wide and outlive the extension; create them only if an
-- earlier installation (in this or another database) has not.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'intracker_user') THEN
        CREATE ROLE intracker_user NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'intracker_admin') THEN
        CREATE ROLE intracker_admin NOLOGIN;
    END IF;
    IF NOT pg_catalog.pg_has_role('intracker_admin', 'intracker_user', 'MEMBER') THEN
        GRANT intracker_user TO intracker_admin;
    END IF;
END
$roles$;

CREATE SCHEMA intracker;
COMMENT ON SCHEMA intracker IS
    'intracker API: views and functions for projects, features, todos and work sessions. Expose it with PostgREST (db-schemas = intracker).';
CREATE SCHEMA intracker_data;
COMMENT ON SCHEMA intracker_data IS
    'intracker private storage: tables and internal helpers. Use the views and functions of schema intracker instead.';

REVOKE ALL ON SCHEMA intracker, intracker_data FROM PUBLIC;
GRANT USAGE ON SCHEMA intracker TO intracker_user;
-- The API functions run as their caller (SECURITY INVOKER), so the caller
-- needs the private schema too; row-level security guards every table.
GRANT USAGE ON SCHEMA intracker_data TO intracker_user;

------------------------------------------------------------------------------
-- Identity (C, src/identity.c)
------------------------------------------------------------------------------

CREATE FUNCTION intracker.current_user_id()
RETURNS uuid
LANGUAGE c STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'intracker_current_user_id';
COMMENT ON FUNCTION intracker.current_user_id() IS
    'The acting user: the JWT "sub" on PostgREST''s authenticator connection, else the user chosen with act_as(), else NULL.';

CREATE FUNCTION intracker.act_as(user_id uuid)
RETURNS uuid
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_act_as';
COMMENT ON FUNCTION intracker.act_as(uuid) IS
    'Act as the given user for the rest of the session (NULL stops). Members of intracker_admin only; undone by ROLLBACK and RESET ALL like SET.';

------------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------------

CREATE TABLE intracker_data.users (
    id              uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    email           text NOT NULL
                    CONSTRAINT users_email_format CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$' AND length(email) <= 320),
    name            text NOT NULL
                    CONSTRAINT users_name_not_blank CHECK (btrim(name) <> '' AND length(name) <= 200),
    github_username text
                    CONSTRAINT users_github_username_format CHECK (github_username ~ '^[A-Za-z0-9](-?[A-Za-z0-9])*$' AND length(github_username) <= 39),
    avatar_url      text
                    CONSTRAINT users_avatar_url_format CHECK (avatar_url ~ '^https?://'),
    kind            text NOT NULL DEFAULT 'human'
                    CONSTRAINT users_kind_valid CHECK (kind IN ('human', 'agent')),
    is_active       boolean NOT NULL DEFAULT true,
    last_login_at   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON intracker_data.users (lower(email));
COMMENT ON TABLE intracker_data.users IS 'People and AI agents; ids are the "sub" of their JWTs.';

CREATE TABLE intracker_data.projects (
    id              uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    name            text NOT NULL
                    CONSTRAINT projects_name_not_blank CHECK (btrim(name) <> '' AND length(name) <= 200),
    description     text,
    status          text NOT NULL DEFAULT 'active'
                    CONSTRAINT projects_status_valid CHECK (status IN ('active', 'paused', 'archived')),
    tags            text[] NOT NULL DEFAULT '{}',
    github_repo     text
                    CONSTRAINT projects_github_repo_format CHECK (github_repo ~ '^[A-Za-z0-9](-?[A-Za-z0-9]){0,38}/[A-Za-z0-9._-]{1,100}$'),
    resume_context  jsonb NOT NULL DEFAULT '{}'
                    CONSTRAINT projects_resume_context_object CHECK (jsonb_typeof(resume_context) = 'object'),
    created_by      uuid REFERENCES intracker_data.users (id) DEFAULT intracker.current_user_id(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         integer NOT NULL DEFAULT 1
);
CREATE INDEX projects_created_by_idx ON intracker_data.projects (created_by);

CREATE TABLE intracker_data.project_members (
    project_id      uuid NOT NULL REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES intracker_data.users (id),
    role            text NOT NULL
                    CONSTRAINT project_members_role_valid CHECK (role IN ('owner', 'editor', 'viewer')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_user_id_idx ON intracker_data.project_members (user_id);

-- assigned_to references the membership, not just the user: only members can
-- hold work, and removing a member unassigns their work (ON DELETE SET NULL
-- of that one column).  The plain FK to users lets PostgREST embed the user.
CREATE TABLE intracker_data.features (
    id              uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    project_id      uuid NOT NULL REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    title           text NOT NULL
                    CONSTRAINT features_title_not_blank CHECK (btrim(title) <> '' AND length(title) <= 500),
    description     text,
    status          text NOT NULL DEFAULT 'todo'
                    CONSTRAINT features_status_valid CHECK (status IN ('todo', 'in_progress', 'blocked', 'done')),
    priority        text NOT NULL DEFAULT 'medium'
                    CONSTRAINT features_priority_valid CHECK (priority IN ('low', 'medium', 'high', 'critical')),
    assigned_to     uuid REFERENCES intracker_data.users (id),
    created_by      uuid REFERENCES intracker_data.users (id) DEFAULT intracker.current_user_id(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    completed_by    uuid REFERENCES intracker_data.users (id),
    completed_at    timestamptz,
    version         integer NOT NULL DEFAULT 1,
    CONSTRAINT features_id_project_key UNIQUE (id, project_id),
    CONSTRAINT features_assignee_is_member FOREIGN KEY (project_id, assigned_to)
        REFERENCES intracker_data.project_members (project_id, user_id) ON DELETE SET NULL (assigned_to)
);
CREATE INDEX features_project_id_idx ON intracker_data.features (project_id, status);
CREATE INDEX features_assigned_to_idx ON intracker_data.features (assigned_to, project_id);
CREATE INDEX features_created_by_idx ON intracker_data.features (created_by);
CREATE INDEX features_completed_by_idx ON intracker_data.features (completed_by);

CREATE TABLE intracker_data.todos (
    id              uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    project_id      uuid NOT NULL REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    feature_id      uuid,
    title           text NOT NULL
                    CONSTRAINT todos_title_not_blank CHECK (btrim(title) <> '' AND length(title) <= 500),
    description     text,
    status          text NOT NULL DEFAULT 'todo'
                    CONSTRAINT todos_status_valid CHECK (status IN ('todo', 'in_progress', 'blocked', 'review', 'done', 'cancelled')),
    priority        text NOT NULL DEFAULT 'medium'
                    CONSTRAINT todos_priority_valid CHECK (priority IN ('low', 'medium', 'high', 'critical')),
    estimate        integer NOT NULL DEFAULT 1
                    CONSTRAINT todos_estimate_positive CHECK (estimate > 0),
    tags            text[] NOT NULL DEFAULT '{}',
    assigned_to     uuid REFERENCES intracker_data.users (id),
    created_by      uuid REFERENCES intracker_data.users (id) DEFAULT intracker.current_user_id(),
    completed_by    uuid REFERENCES intracker_data.users (id),
    blocked_reason  text,
    due_date        date,
    github_issue    integer CONSTRAINT todos_github_issue_positive CHECK (github_issue > 0),
    github_pr       integer CONSTRAINT todos_github_pr_positive CHECK (github_pr > 0),
    completed_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         integer NOT NULL DEFAULT 1,
    CONSTRAINT todos_id_project_key UNIQUE (id, project_id),
    -- feature_id must belong to the same project; deleting the feature
    -- keeps the todo and clears only feature_id.
    CONSTRAINT todos_feature_same_project FOREIGN KEY (feature_id, project_id)
        REFERENCES intracker_data.features (id, project_id) ON DELETE SET NULL (feature_id),
    CONSTRAINT todos_assignee_is_member FOREIGN KEY (project_id, assigned_to)
        REFERENCES intracker_data.project_members (project_id, user_id) ON DELETE SET NULL (assigned_to)
);
CREATE INDEX todos_project_id_idx ON intracker_data.todos (project_id, status);
CREATE INDEX todos_feature_id_idx ON intracker_data.todos (feature_id, project_id);
CREATE INDEX todos_assigned_to_idx ON intracker_data.todos (assigned_to, project_id, status);
CREATE INDEX todos_created_by_idx ON intracker_data.todos (created_by);
CREATE INDEX todos_completed_by_idx ON intracker_data.todos (completed_by);

-- "todo_id is blocked by blocked_by".  Both todos are in project_id (the
-- composite keys enforce it); cycles are rejected by a trigger.
CREATE TABLE intracker_data.todo_dependencies (
    todo_id         uuid NOT NULL,
    blocked_by      uuid NOT NULL,
    project_id      uuid NOT NULL REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    created_by      uuid REFERENCES intracker_data.users (id) DEFAULT intracker.current_user_id(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (todo_id, blocked_by),
    CONSTRAINT todo_dependencies_not_self CHECK (todo_id <> blocked_by),
    CONSTRAINT todo_dependencies_todo_same_project FOREIGN KEY (todo_id, project_id)
        REFERENCES intracker_data.todos (id, project_id) ON DELETE CASCADE,
    CONSTRAINT todo_dependencies_blocker_same_project FOREIGN KEY (blocked_by, project_id)
        REFERENCES intracker_data.todos (id, project_id) ON DELETE CASCADE
);
CREATE INDEX todo_dependencies_blocked_by_idx ON intracker_data.todo_dependencies (blocked_by, project_id);
CREATE INDEX todo_dependencies_project_id_idx ON intracker_data.todo_dependencies (project_id);
CREATE INDEX todo_dependencies_todo_project_idx ON intracker_data.todo_dependencies (todo_id, project_id);
CREATE INDEX todo_dependencies_created_by_idx ON intracker_data.todo_dependencies (created_by);

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

-- pg_dump would otherwise skip the rows of extension tables.
SELECT pg_catalog.pg_extension_config_dump('intracker_data.users', '');
SELECT pg_catalog.pg_extension_config_dump('intracker_data.projects', '');
SELECT pg_catalog.pg_extension_config_dump('intracker_data.project_members', '');
SELECT pg_catalog.pg_extension_config_dump('intracker_data.features', '');
SELECT pg_catalog.pg_extension_config_dump('intracker_data.todos', '');
SELECT pg_catalog.pg_extension_config_dump('intracker_data.todo_dependencies', '');
SELECT pg_catalog.pg_extension_config_dump('intracker_data.sessions', '');

------------------------------------------------------------------------------
-- Internal helpers
------------------------------------------------------------------------------

-- Role rank: viewer < editor < owner.  The single place that orders roles.
-- No SET search_path: it references no objects, and without one the planner
-- can inline it (the RLS helpers call it for every membership row).
CREATE FUNCTION intracker_data.role_rank(role text)
RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE role WHEN 'viewer' THEN 1 WHEN 'editor' THEN 2 WHEN 'owner' THEN 3 END;
COMMENT ON FUNCTION intracker_data.role_rank(text) IS 'Orders project roles: viewer 1 < editor 2 < owner 3.';

-- The membership helpers below are SECURITY DEFINER: the RLS policies call
-- them, and they must read memberships without recursing into those same
-- policies.  They are plpgsql, not SQL, so that each session plans their
-- query once (a SECURITY DEFINER SQL function cannot be inlined and would be
-- planned again at every call, several times per statement).
CREATE FUNCTION intracker_data.my_project_ids(min_role text)
RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(m.project_id), '{}')
              FROM intracker_data.project_members m
              JOIN intracker_data.users u ON u.id = m.user_id AND u.is_active
             WHERE m.user_id = intracker.current_user_id()
               AND intracker_data.role_rank(m.role) >= intracker_data.role_rank(min_role));
END
$$;
COMMENT ON FUNCTION intracker_data.my_project_ids(text) IS
    'Projects in which the acting (active) user has at least min_role. Used by the RLS policies as an InitPlan: (SELECT intracker_data.my_project_ids(...)).';

CREATE FUNCTION intracker_data.my_role(project_id uuid)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (SELECT m.role
              FROM intracker_data.project_members m
              JOIN intracker_data.users u ON u.id = m.user_id AND u.is_active
             WHERE m.project_id = my_role.project_id
               AND m.user_id = intracker.current_user_id());
END
$$;
COMMENT ON FUNCTION intracker_data.my_role(uuid) IS 'The acting user''s role in a project, or NULL for non-members.';

CREATE FUNCTION intracker_data.visible_user_ids()
RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(DISTINCT other.user_id), '{}')
              FROM intracker_data.project_members mine
              JOIN intracker_data.users u ON u.id = mine.user_id AND u.is_active
              JOIN intracker_data.project_members other ON other.project_id = mine.project_id
             WHERE mine.user_id = intracker.current_user_id());
END
$$;
COMMENT ON FUNCTION intracker_data.visible_user_ids() IS 'Users who share at least one project with the acting (active) user.';

CREATE FUNCTION intracker_data.user_is_active(user_id uuid)
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (SELECT u.is_active FROM intracker_data.users u WHERE u.id = user_is_active.user_id);
END
$$;
COMMENT ON FUNCTION intracker_data.user_is_active(uuid) IS 'is_active of a user, NULL if no such user (whatever RLS lets the caller see).';

-- The acting user, who must exist and be active; PT401 otherwise.
CREATE FUNCTION intracker_data.require_user()
RETURNS uuid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := intracker.current_user_id();
BEGIN
    IF me IS NULL THEN
        RAISE EXCEPTION 'not authenticated'
            USING ERRCODE = 'PT401',
                  DETAIL = 'This function acts on behalf of a user, and no user is identified.',
                  HINT = 'Send a JWT through PostgREST, or as a member of intracker_admin call intracker.act_as(user_id).';
    END IF;
    IF NOT coalesce(intracker_data.user_is_active(me), false) THEN
        RAISE EXCEPTION 'user % is not an active intracker user', me
            USING ERRCODE = 'PT401',
                  HINT = 'The identified user does not exist or was deactivated.';
    END IF;
    RETURN me;
END
$$;
COMMENT ON FUNCTION intracker_data.require_user() IS 'The acting user''s id; raises PT401 when there is none or it is inactive.';

-- Check the acting user's role in a project.  Non-members get PT404 (the
-- project may as well not exist), members below min_role get 42501.
CREATE FUNCTION intracker_data.require_role(project_id uuid, min_role text, action text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    role text;
BEGIN
    PERFORM intracker_data.require_user();
    role := intracker_data.my_role(project_id);
    IF role IS NULL THEN
        RAISE EXCEPTION 'project % not found', project_id
            USING ERRCODE = 'PT404',
                  HINT = 'The project does not exist or you are not a member of it.';
    END IF;
    IF intracker_data.role_rank(role) < intracker_data.role_rank(min_role) THEN
        RAISE EXCEPTION 'permission denied to %', action
            USING ERRCODE = '42501',
                  DETAIL = format('Your role in project %s is %s; this needs %s or higher.', project_id, role, min_role),
                  HINT = 'Ask a project owner to change your role.';
    END IF;
    RETURN role;
END
$$;
COMMENT ON FUNCTION intracker_data.require_role(uuid, text, text) IS
    'Raises PT404 unless the acting user is a member of the project, 42501 unless their role is at least min_role; returns the role.';

-- Project of a row in a project-scoped table, as the caller sees it under
-- RLS; PT404 when the row does not exist or is not visible.
CREATE FUNCTION intracker_data.project_of(entity regclass, row_id uuid)
RETURNS uuid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    project uuid;
    entity_name text := rtrim((SELECT c.relname FROM pg_class c WHERE c.oid = entity), 's');
BEGIN
    -- Without this an anonymous caller would be told "not found" (RLS hides
    -- everything from it) instead of how to authenticate.
    PERFORM intracker_data.require_user();
    IF row_id IS NULL THEN
        RAISE EXCEPTION '% id must not be null', entity_name USING ERRCODE = '22023';
    END IF;
    -- Static queries, planned once per session.
    CASE entity
        WHEN 'intracker_data.todos'::regclass THEN
            SELECT t.project_id INTO project FROM intracker_data.todos t WHERE t.id = row_id;
        WHEN 'intracker_data.features'::regclass THEN
            SELECT f.project_id INTO project FROM intracker_data.features f WHERE f.id = row_id;
        WHEN 'intracker_data.projects'::regclass THEN
            SELECT p.id INTO project FROM intracker_data.projects p WHERE p.id = row_id;
    END CASE;
    IF project IS NULL THEN
        RAISE EXCEPTION '% % not found', entity_name, row_id
            USING ERRCODE = 'PT404',
                  HINT = CASE WHEN entity = 'intracker_data.projects'::regclass
                              THEN 'The project does not exist or you are not a member of it.'
                              ELSE format('The %s does not exist or you are not a member of its project.', entity_name) END;
    END IF;
    RETURN project;
END
$$;
COMMENT ON FUNCTION intracker_data.project_of(regclass, uuid) IS 'Project id of a visible row of a project-scoped table; PT404 if not visible.';

-- Apply a JSON object of field changes to one row, as one UPDATE that states
-- expected_version (checked by the C row-version trigger).  The caller must
-- be an editor or owner of the row's project (PT404 / 42501 otherwise).  The changeable
-- fields are the columns intracker_user may UPDATE (the grants at the end of
-- this script); a bad value is reported as 22023 naming the field.
CREATE FUNCTION intracker_data.apply_changes(entity regclass, row_id uuid, changes jsonb,
                                             expected_version integer)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    field text;
    assignments text;
    entity_name text := rtrim((SELECT c.relname FROM pg_class c WHERE c.oid = entity), 's');
    changeable text[];
    updated bigint;
    problem text;
    problem_column text;
BEGIN
    PERFORM intracker_data.require_role(intracker_data.project_of(entity, row_id), 'editor',
                                        format('edit %ss', entity_name));

    IF expected_version IS NULL THEN
        RAISE EXCEPTION 'expected_version must not be null'
            USING ERRCODE = '22023',
                  DETAIL = format('Updates of a %s state the version they were based on.', entity_name),
                  HINT = 'Pass the version you read with the row.';
    END IF;
    IF changes IS NULL OR jsonb_typeof(changes) <> 'object' THEN
        RAISE EXCEPTION 'changes must be a JSON object'
            USING ERRCODE = '22023',
                  DETAIL = format('Got %s.', coalesce(jsonb_typeof(changes), 'NULL')),
                  HINT = 'Pass an object of field names to new values, e.g. {"title": "New title"}.';
    END IF;
    FOR field IN SELECT jsonb_object_keys(changes) LOOP
        IF field = 'version'
           OR NOT EXISTS (SELECT FROM pg_attribute a
                           WHERE a.attrelid = entity AND a.attname = field AND a.attnum > 0 AND NOT a.attisdropped)
           OR NOT has_column_privilege('intracker_user', entity, field, 'UPDATE') THEN
            SELECT array_agg(a.attname ORDER BY a.attnum) INTO changeable
              FROM pg_attribute a
             WHERE a.attrelid = entity AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> 'version'
               AND has_column_privilege('intracker_user', entity, a.attname, 'UPDATE');
            RAISE EXCEPTION 'field "%" of a % cannot be changed here', field, entity_name
                USING ERRCODE = '22023',
                      DETAIL = format('Changeable fields: %s.', array_to_string(changeable, ', ')),
                      HINT = CASE WHEN field = 'version'
                                  THEN 'Pass the version as expected_version.'
                                  ELSE 'Remove the field from changes.' END;
        END IF;
    END LOOP;

    SELECT string_agg(format('%1$I = changed.%1$I', key), ', ')
      INTO assignments
      FROM jsonb_object_keys(changes) AS key;

    BEGIN
        EXECUTE format('UPDATE %s AS target SET %s version = $2
                          FROM jsonb_populate_record(NULL::%s, $1) AS changed
                         WHERE target.id = $3',
                       entity, coalesce(assignments || ',', ''), entity)
          USING changes, expected_version, row_id;
        GET DIAGNOSTICS updated = ROW_COUNT;
    EXCEPTION
        WHEN data_exception THEN
            -- A value did not convert to its column's type: find which.
            FOR field IN SELECT jsonb_object_keys(changes) LOOP
                BEGIN
                    EXECUTE format('SELECT FROM jsonb_populate_record(NULL::%s, $1)', entity)
                        USING jsonb_build_object(field, changes -> field);
                EXCEPTION WHEN data_exception THEN
                    GET STACKED DIAGNOSTICS problem = MESSAGE_TEXT;
                    RAISE EXCEPTION 'invalid value for %', field
                        USING ERRCODE = '22023',
                              DETAIL = format('%s of a %s: %s.', field, entity_name, problem),
                              COLUMN = field;
                END;
            END LOOP;
            RAISE;
        WHEN check_violation OR foreign_key_violation OR not_null_violation THEN
            GET STACKED DIAGNOSTICS problem = CONSTRAINT_NAME, problem_column = COLUMN_NAME;
            PERFORM intracker_data.explain_violation(problem, problem_column);
            RAISE;
    END;
    IF updated = 0 THEN
        RAISE EXCEPTION '% % not found', entity_name, row_id USING ERRCODE = 'PT404';
    END IF;
END
$$;
COMMENT ON FUNCTION intracker_data.apply_changes(regclass, uuid, jsonb, integer) IS
    'Shared body of the update_* functions: validates a changes object and applies it in one optimistic-locked UPDATE.';

------------------------------------------------------------------------------
-- Triggers
------------------------------------------------------------------------------

CREATE FUNCTION intracker_data.row_version()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'intracker_row_version';
COMMENT ON FUNCTION intracker_data.row_version() IS
    'BEFORE UPDATE trigger (C): rejects a write whose version is not the current one (PT409) or fails If-Match (PT412); bumps version and updated_at.';

CREATE TRIGGER users_row_version BEFORE UPDATE ON intracker_data.users
    FOR EACH ROW EXECUTE FUNCTION intracker_data.row_version('user');
CREATE TRIGGER projects_row_version BEFORE UPDATE ON intracker_data.projects
    FOR EACH ROW EXECUTE FUNCTION intracker_data.row_version('project');
CREATE TRIGGER features_row_version BEFORE UPDATE ON intracker_data.features
    FOR EACH ROW EXECUTE FUNCTION intracker_data.row_version('feature');
CREATE TRIGGER todos_row_version BEFORE UPDATE ON intracker_data.todos
    FOR EACH ROW EXECUTE FUNCTION intracker_data.row_version('todo');

-- completed_at and completed_by follow status: set when a feature or todo
-- becomes done, cleared when it is reopened.
CREATE FUNCTION intracker_data.track_completion()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NEW;
    END IF;
    IF NEW.status = 'done' AND TG_OP = 'INSERT' THEN
        -- Keep supplied values: pg_restore inserts rows that were completed
        -- long ago (API users cannot supply these columns).
        NEW.completed_at := coalesce(NEW.completed_at, now());
        NEW.completed_by := coalesce(NEW.completed_by, intracker.current_user_id(), NEW.assigned_to);
    ELSIF NEW.status = 'done' THEN
        NEW.completed_at := now();
        NEW.completed_by := coalesce(intracker.current_user_id(), NEW.assigned_to);
    ELSE
        NEW.completed_at := NULL;
        NEW.completed_by := NULL;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION intracker_data.track_completion() IS
    'Trigger: sets completed_at/completed_by when status becomes done, clears them when it leaves done.';

CREATE TRIGGER features_track_completion BEFORE INSERT OR UPDATE OF status ON intracker_data.features
    FOR EACH ROW EXECUTE FUNCTION intracker_data.track_completion();
CREATE TRIGGER todos_track_completion BEFORE INSERT OR UPDATE OF status ON intracker_data.todos
    FOR EACH ROW EXECUTE FUNCTION intracker_data.track_completion();

-- The dependency gate: a todo cannot start or finish while one of its
-- blockers is still open.
CREATE FUNCTION intracker_data.todos_blocker_gate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    open_blockers text;
BEGIN
    IF NEW.status NOT IN ('in_progress', 'done') OR NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NEW;
    END IF;
    SELECT string_agg(format('%s "%s" (%s)', b.id, b.title, b.status), ', ' ORDER BY b.created_at, b.id)
      INTO open_blockers
      FROM intracker_data.todo_dependencies d
      JOIN intracker_data.todos b ON b.id = d.blocked_by
     WHERE d.todo_id = NEW.id
       AND b.status NOT IN ('done', 'cancelled');
    IF open_blockers IS NOT NULL THEN
        RAISE EXCEPTION 'todo % is blocked and cannot move to %', NEW.id, NEW.status
            USING ERRCODE = '23514',
                  DETAIL = format('Open blockers: %s.', open_blockers),
                  HINT = 'Finish or cancel the blockers first, or remove the dependencies.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION intracker_data.todos_blocker_gate() IS
    'Trigger: refuses to move a todo to in_progress or done while a blocker is open (23514 naming the blockers).';

-- A new todo has no dependencies yet, so only updates need the gate.
CREATE TRIGGER todos_blocker_gate BEFORE UPDATE OF status ON intracker_data.todos
    FOR EACH ROW EXECUTE FUNCTION intracker_data.todos_blocker_gate();

-- Reject dependency cycles.  Concurrent inserts in one project are
-- serialised by an advisory lock, or two transactions could each add one
-- half of a cycle without seeing the other.
CREATE FUNCTION intracker_data.todo_dependencies_no_cycle()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cycle uuid[];
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('intracker.todo_dependencies:' || NEW.project_id::text, 0));

    WITH RECURSIVE chain (todo_id, path) AS (
        SELECT d.blocked_by, ARRAY[NEW.todo_id, NEW.blocked_by, d.blocked_by]
          FROM intracker_data.todo_dependencies d
         WHERE d.todo_id = NEW.blocked_by
        UNION ALL
        SELECT d.blocked_by, c.path || d.blocked_by
          FROM chain c
          JOIN intracker_data.todo_dependencies d ON d.todo_id = c.todo_id
         WHERE c.todo_id <> NEW.todo_id
    ) CYCLE todo_id SET is_cycle USING visited
    SELECT c.path INTO cycle FROM chain c WHERE c.todo_id = NEW.todo_id LIMIT 1;

    IF cycle IS NOT NULL THEN
        RAISE EXCEPTION 'dependency would create a cycle'
            USING ERRCODE = '23514',
                  DETAIL = format('Todo %s would block itself: %s.', NEW.todo_id, array_to_string(cycle, ' is blocked by ')),
                  HINT = 'Remove one of the existing dependencies first.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION intracker_data.todo_dependencies_no_cycle() IS 'Trigger: rejects a dependency that would close a cycle (23514 with the cycle in DETAIL).';

CREATE TRIGGER todo_dependencies_no_cycle BEFORE INSERT OR UPDATE ON intracker_data.todo_dependencies
    FOR EACH ROW EXECUTE FUNCTION intracker_data.todo_dependencies_no_cycle();

-- A project always keeps an owner.  The project row is locked so that two
-- owners removing each other at the same time cannot both succeed.  When the
-- project itself is being deleted its members go with it.
CREATE FUNCTION intracker_data.project_keeps_an_owner()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF OLD.role <> 'owner' OR (TG_OP = 'UPDATE' AND NEW.role = 'owner') THEN
        RETURN coalesce(NEW, OLD);
    END IF;
    PERFORM FROM intracker_data.projects p WHERE p.id = OLD.project_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN coalesce(NEW, OLD);  -- cascading from the project's deletion
    END IF;
    IF NOT EXISTS (SELECT FROM intracker_data.project_members m
                    WHERE m.project_id = OLD.project_id AND m.role = 'owner' AND m.user_id <> OLD.user_id) THEN
        RAISE EXCEPTION 'project % must keep at least one owner', OLD.project_id
            USING ERRCODE = '23514',
                  DETAIL = format('User %s is its only owner.', OLD.user_id),
                  HINT = 'Make another member an owner first.';
    END IF;
    RETURN coalesce(NEW, OLD);
END
$$;
COMMENT ON FUNCTION intracker_data.project_keeps_an_owner() IS 'Trigger: refuses to remove or demote the last owner of a project (23514).';

CREATE TRIGGER project_members_keep_owner BEFORE DELETE OR UPDATE OF role ON intracker_data.project_members
    FOR EACH ROW EXECUTE FUNCTION intracker_data.project_keeps_an_owner();

------------------------------------------------------------------------------
-- Row-level security
--
-- Policies call the SECURITY DEFINER helpers inside (SELECT ...) so that the
-- membership list is computed once per statement (an InitPlan), not per row.
-- Non-members see nothing; viewers read; editors also insert and update;
-- owners also delete and manage members.
------------------------------------------------------------------------------

ALTER TABLE intracker_data.users ENABLE ROW LEVEL SECURITY;
CREATE POLICY users_select ON intracker_data.users FOR SELECT
    USING (id = (SELECT intracker.current_user_id())
           OR id = ANY ((SELECT intracker_data.visible_user_ids())::uuid[])
           OR pg_has_role('intracker_admin', 'MEMBER'));
CREATE POLICY users_update_self ON intracker_data.users FOR UPDATE
    USING (id = (SELECT intracker.current_user_id()))
    WITH CHECK (id = (SELECT intracker.current_user_id()));

ALTER TABLE intracker_data.projects ENABLE ROW LEVEL SECURITY;
CREATE POLICY projects_select ON intracker_data.projects FOR SELECT
    USING (id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]));
CREATE POLICY projects_update ON intracker_data.projects FOR UPDATE
    USING (id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]))
    WITH CHECK (id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]));
CREATE POLICY projects_delete ON intracker_data.projects FOR DELETE
    USING (id = ANY ((SELECT intracker_data.my_project_ids('owner'))::uuid[]));

ALTER TABLE intracker_data.project_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_members_select ON intracker_data.project_members FOR SELECT
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]));
CREATE POLICY project_members_insert ON intracker_data.project_members FOR INSERT
    WITH CHECK (project_id = ANY ((SELECT intracker_data.my_project_ids('owner'))::uuid[]));
CREATE POLICY project_members_update ON intracker_data.project_members FOR UPDATE
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('owner'))::uuid[]))
    WITH CHECK (project_id = ANY ((SELECT intracker_data.my_project_ids('owner'))::uuid[]));
-- Owners remove anyone; every member may leave.
CREATE POLICY project_members_delete ON intracker_data.project_members FOR DELETE
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('owner'))::uuid[])
           OR user_id = (SELECT intracker.current_user_id()));

ALTER TABLE intracker_data.features ENABLE ROW LEVEL SECURITY;
CREATE POLICY features_select ON intracker_data.features FOR SELECT
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]));
CREATE POLICY features_insert ON intracker_data.features FOR INSERT
    WITH CHECK (project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]));
CREATE POLICY features_update ON intracker_data.features FOR UPDATE
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]))
    WITH CHECK (project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]));
CREATE POLICY features_delete ON intracker_data.features FOR DELETE
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('owner'))::uuid[]));

ALTER TABLE intracker_data.todos ENABLE ROW LEVEL SECURITY;
CREATE POLICY todos_select ON intracker_data.todos FOR SELECT
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]));
CREATE POLICY todos_insert ON intracker_data.todos FOR INSERT
    WITH CHECK (project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]));
CREATE POLICY todos_update ON intracker_data.todos FOR UPDATE
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]))
    WITH CHECK (project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]));
CREATE POLICY todos_delete ON intracker_data.todos FOR DELETE
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('owner'))::uuid[]));

-- Dependencies are part of editing a todo: editors add and remove them.
ALTER TABLE intracker_data.todo_dependencies ENABLE ROW LEVEL SECURITY;
CREATE POLICY todo_dependencies_select ON intracker_data.todo_dependencies FOR SELECT
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]));
CREATE POLICY todo_dependencies_insert ON intracker_data.todo_dependencies FOR INSERT
    WITH CHECK (project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]));
CREATE POLICY todo_dependencies_delete ON intracker_data.todo_dependencies FOR DELETE
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]));

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


------------------------------------------------------------------------------
-- API views (security_invoker: the caller's privileges and RLS apply)
--
-- Simple views, so INSERT/UPDATE/DELETE through them work (PostgREST
-- POST/PATCH/DELETE).  Foreign-key columns stay plain so PostgREST can embed.
------------------------------------------------------------------------------

CREATE VIEW intracker.users WITH (security_invoker = true) AS
SELECT id, email, name, github_username, avatar_url, kind, is_active, last_login_at, created_at, updated_at
  FROM intracker_data.users;
COMMENT ON VIEW intracker.users IS 'Users you share a project with, and yourself. You may update your own name, github_username and avatar_url.';
COMMENT ON COLUMN intracker.users.kind IS 'human or agent.';

CREATE VIEW intracker.projects WITH (security_invoker = true) AS
SELECT id, name, description, status, tags, github_repo, resume_context, created_by, created_at, updated_at, version
  FROM intracker_data.projects;
COMMENT ON VIEW intracker.projects IS 'Projects you are a member of. INSERT creates a project owned by you; updates need editor, deletes owner.';
COMMENT ON COLUMN intracker.projects.status IS 'active, paused or archived.';
COMMENT ON COLUMN intracker.projects.github_repo IS 'GitHub repository as owner/name.';
COMMENT ON COLUMN intracker.projects.resume_context IS 'Free notes and constraints (a JSON object) for agents resuming work on the project.';
COMMENT ON COLUMN intracker.projects.version IS 'Row version for optimistic locking: write back the version you read (SET version = n) and a stale write fails with PT409.';

CREATE VIEW intracker.project_members WITH (security_invoker = true) AS
SELECT project_id, user_id, role, created_at
  FROM intracker_data.project_members;
COMMENT ON VIEW intracker.project_members IS 'Members of your projects and their roles (owner, editor, viewer). Owners manage membership.';

-- Scalar subqueries (not a join) keep the view automatically updatable.
CREATE VIEW intracker.features WITH (security_invoker = true) AS
SELECT f.id, f.project_id, f.title, f.description, f.status, f.priority, f.assigned_to, f.created_by,
       f.created_at, f.updated_at, f.completed_at, f.completed_by, f.version,
       (SELECT count(*)::integer FROM intracker_data.todos t
         WHERE t.feature_id = f.id AND t.status <> 'cancelled') AS todos_total,
       (SELECT count(*)::integer FROM intracker_data.todos t
         WHERE t.feature_id = f.id AND t.status = 'done') AS todos_done,
       (SELECT CASE WHEN count(*) = 0 THEN CASE WHEN f.status = 'done' THEN 100 ELSE 0 END
                    ELSE (100 * count(*) FILTER (WHERE t.status = 'done') / count(*))::integer END
          FROM intracker_data.todos t
         WHERE t.feature_id = f.id AND t.status <> 'cancelled') AS progress
  FROM intracker_data.features f;
COMMENT ON VIEW intracker.features IS 'Features of your projects with their progress. Editors create and update, owners delete; a stale version fails with PT409.';
COMMENT ON COLUMN intracker.features.todos_done IS 'Todos of the feature that are done.';
COMMENT ON COLUMN intracker.features.todos_total IS 'Todos of the feature, not counting cancelled ones.';
COMMENT ON COLUMN intracker.features.progress IS 'Percent (0-100) of the feature''s non-cancelled todos that are done; a feature without todos is 100 when done, else 0.';

CREATE VIEW intracker.todos WITH (security_invoker = true) AS
SELECT id, project_id, feature_id, title, description, status, priority, estimate, tags, assigned_to,
       created_by, completed_by, blocked_reason, due_date, github_issue, github_pr,
       completed_at, created_at, updated_at, version
  FROM intracker_data.todos;
COMMENT ON VIEW intracker.todos IS 'Todos of your projects. Editors create and update, owners delete; a stale version fails with PT409.';
COMMENT ON COLUMN intracker.todos.status IS 'todo, in_progress, blocked, review, done or cancelled. in_progress and done need every blocker done or cancelled.';
COMMENT ON COLUMN intracker.todos.estimate IS 'Positive integer points.';
COMMENT ON COLUMN intracker.todos.version IS 'Row version for optimistic locking: write back the version you read (SET version = n) and a stale write fails with PT409.';

CREATE VIEW intracker.todo_dependencies WITH (security_invoker = true) AS
SELECT todo_id, blocked_by, project_id, created_by, created_at
  FROM intracker_data.todo_dependencies;
COMMENT ON VIEW intracker.todo_dependencies IS 'todo_id is blocked by blocked_by (same project, no cycles).';

CREATE VIEW intracker.sessions WITH (security_invoker = true) AS
SELECT id, project_id, user_id, started_at, ended_at, goal, summary, next_steps, blockers, todo_ids
  FROM intracker_data.sessions;
COMMENT ON VIEW intracker.sessions IS 'Work sessions of people and agents in your projects; one open session per user and project.';
COMMENT ON COLUMN intracker.sessions.todo_ids IS 'Todos worked on during the session.';

CREATE VIEW intracker.my_todos WITH (security_invoker = true) AS
SELECT id, project_id, feature_id, title, description, status, priority, estimate, tags, assigned_to,
       created_by, completed_by, blocked_reason, due_date, github_issue, github_pr,
       completed_at, created_at, updated_at, version
  FROM intracker_data.todos
 WHERE assigned_to = (SELECT intracker.current_user_id())
   AND status NOT IN ('done', 'cancelled');
COMMENT ON VIEW intracker.my_todos IS 'Open (not done, not cancelled) todos assigned to you, in all your projects.';


------------------------------------------------------------------------------
-- Constraint explanations
--
-- The API functions turn a check, foreign-key or not-null violation into
-- 22023 with the constraint's comment (or the column) as DETAIL, so the caller learns which field was
-- wrong and why.  Direct writes through the views keep PostgreSQL's own
-- error, whose message names the constraint.
------------------------------------------------------------------------------

COMMENT ON CONSTRAINT users_email_format ON intracker_data.users IS 'email must look like name@host (at most 320 characters).';
COMMENT ON CONSTRAINT users_name_not_blank ON intracker_data.users IS 'name must not be blank (at most 200 characters).';
COMMENT ON CONSTRAINT users_github_username_format ON intracker_data.users IS 'github_username must be a GitHub login: letters, digits and single hyphens, at most 39 characters.';
COMMENT ON CONSTRAINT users_avatar_url_format ON intracker_data.users IS 'avatar_url must be an http or https URL.';
COMMENT ON CONSTRAINT users_kind_valid ON intracker_data.users IS 'kind must be human or agent.';
COMMENT ON CONSTRAINT projects_name_not_blank ON intracker_data.projects IS 'name must not be blank (at most 200 characters).';
COMMENT ON CONSTRAINT projects_status_valid ON intracker_data.projects IS 'status must be one of: active, paused, archived.';
COMMENT ON CONSTRAINT projects_github_repo_format ON intracker_data.projects IS 'github_repo must be owner/name, e.g. octocat/hello-world.';
COMMENT ON CONSTRAINT projects_resume_context_object ON intracker_data.projects IS 'resume_context must be a JSON object.';
COMMENT ON CONSTRAINT project_members_role_valid ON intracker_data.project_members IS 'role must be one of: owner, editor, viewer.';
COMMENT ON CONSTRAINT features_title_not_blank ON intracker_data.features IS 'title must not be blank (at most 500 characters).';
COMMENT ON CONSTRAINT features_status_valid ON intracker_data.features IS 'status must be one of: todo, in_progress, blocked, done.';
COMMENT ON CONSTRAINT features_priority_valid ON intracker_data.features IS 'priority must be one of: low, medium, high, critical.';
COMMENT ON CONSTRAINT features_assignee_is_member ON intracker_data.features IS 'assigned_to must be a member of the project.';
COMMENT ON CONSTRAINT features_assigned_to_fkey ON intracker_data.features IS 'assigned_to must be a member of the project.';
COMMENT ON CONSTRAINT todos_title_not_blank ON intracker_data.todos IS 'title must not be blank (at most 500 characters).';
COMMENT ON CONSTRAINT todos_status_valid ON intracker_data.todos IS 'status must be one of: todo, in_progress, blocked, review, done, cancelled.';
COMMENT ON CONSTRAINT todos_priority_valid ON intracker_data.todos IS 'priority must be one of: low, medium, high, critical.';
COMMENT ON CONSTRAINT todos_estimate_positive ON intracker_data.todos IS 'estimate must be a positive number of points.';
COMMENT ON CONSTRAINT todos_github_issue_positive ON intracker_data.todos IS 'github_issue must be a positive issue number.';
COMMENT ON CONSTRAINT todos_github_pr_positive ON intracker_data.todos IS 'github_pr must be a positive pull request number.';
COMMENT ON CONSTRAINT todos_feature_same_project ON intracker_data.todos IS 'feature_id must be a feature of the same project.';
COMMENT ON CONSTRAINT todos_assignee_is_member ON intracker_data.todos IS 'assigned_to must be a member of the project.';
COMMENT ON CONSTRAINT todos_assigned_to_fkey ON intracker_data.todos IS 'assigned_to must be a member of the project.';
COMMENT ON CONSTRAINT todo_dependencies_not_self ON intracker_data.todo_dependencies IS 'blocked_by must be another todo: a todo cannot block itself.';
COMMENT ON CONSTRAINT todo_dependencies_todo_same_project ON intracker_data.todo_dependencies IS 'todo_id must be a todo of the project.';
COMMENT ON CONSTRAINT todo_dependencies_blocker_same_project ON intracker_data.todo_dependencies IS 'blocked_by must be a todo of the same project.';
COMMENT ON CONSTRAINT sessions_end_after_start ON intracker_data.sessions IS 'ended_at must not be before started_at.';

CREATE FUNCTION intracker_data.explain_violation(constraint_name text, column_name text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    explanation text;
BEGIN
    IF coalesce(constraint_name, '') = '' AND coalesce(column_name, '') <> '' THEN
        -- PostgreSQL reports NOT NULL violations by column, not constraint.
        explanation := format('%s must not be null.', column_name);
    ELSE
        SELECT d.description INTO explanation
          FROM pg_constraint c
          JOIN pg_description d ON d.classoid = 'pg_constraint'::regclass AND d.objoid = c.oid
         WHERE c.conname = constraint_name
           AND c.connamespace = 'intracker_data'::regnamespace;
    END IF;
    IF explanation IS NOT NULL THEN
        RAISE EXCEPTION 'invalid value for %', split_part(explanation, ' ', 1)
            USING ERRCODE = '22023',
                  DETAIL = explanation,
                  CONSTRAINT = coalesce(constraint_name, ''),
                  COLUMN = split_part(explanation, ' ', 1);
    END IF;
END
$$;
COMMENT ON FUNCTION intracker_data.explain_violation(text, text) IS
    'Raises 22023 explaining a violated constraint (from its comment) or NOT NULL column; returns if there is nothing to explain.';

------------------------------------------------------------------------------
-- API functions
--
-- They run as their caller (SECURITY INVOKER), so RLS stays the last word;
-- they check first to answer with a precise error: PT401 without identity,
-- PT404 for what the caller cannot see, 42501 for a role too low, 22023 for
-- bad input.  Writes return the row as the view's type, with its new version.
------------------------------------------------------------------------------

CREATE FUNCTION intracker.create_user(email text, name text, kind text DEFAULT 'human',
                                      github_username text DEFAULT NULL, user_id uuid DEFAULT NULL)
RETURNS intracker.users
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    created intracker.users;
    violated text;
    violated_column text;
BEGIN
    IF NOT pg_has_role('intracker_admin', 'MEMBER') THEN
        RAISE EXCEPTION 'permission denied to create users'
            USING ERRCODE = '42501',
                  DETAIL = 'Only members of intracker_admin create users.',
                  HINT = 'Ask an administrator to create the user.';
    END IF;
    INSERT INTO intracker_data.users AS u (id, email, name, kind, github_username)
    VALUES (coalesce(create_user.user_id, gen_random_uuid()), create_user.email, create_user.name,
            create_user.kind, create_user.github_username)
    RETURNING u.id, u.email, u.name, u.github_username, u.avatar_url, u.kind, u.is_active,
              u.last_login_at, u.created_at, u.updated_at
         INTO created;
    RETURN created;
EXCEPTION
    WHEN unique_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME;
        IF violated = 'users_pkey' THEN
            RAISE EXCEPTION 'a user with id % already exists', create_user.user_id USING ERRCODE = '23505';
        END IF;
        RAISE EXCEPTION 'a user with email % already exists', create_user.email
            USING ERRCODE = '23505',
                  HINT = 'Emails are unique regardless of case.';
    WHEN check_violation OR not_null_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME, violated_column = COLUMN_NAME;
        PERFORM intracker_data.explain_violation(violated, violated_column);
        RAISE;
END
$$;
COMMENT ON FUNCTION intracker.create_user(text, text, text, text, uuid) IS
    'Create a user (kind human or agent). Members of intracker_admin only. Pass user_id to use the id your identity provider puts in JWT "sub".';

-- Users need the admin INSERT path above; give it a policy.
CREATE POLICY users_insert_admin ON intracker_data.users FOR INSERT TO intracker_admin WITH CHECK (true);

CREATE FUNCTION intracker.create_project(name text, description text DEFAULT NULL, github_repo text DEFAULT NULL,
                                         tags text[] DEFAULT '{}', resume_context jsonb DEFAULT '{}',
                                         status text DEFAULT 'active')
RETURNS intracker.projects
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := intracker_data.require_user();
    created intracker.projects;
    violated text;
    violated_column text;
BEGIN
    -- SECURITY DEFINER: the creator is not yet a member, so neither the
    -- project row nor its owner membership would pass RLS.
    INSERT INTO intracker_data.projects AS p (name, description, github_repo, tags, resume_context, status, created_by)
    VALUES (create_project.name, create_project.description, create_project.github_repo,
            coalesce(create_project.tags, '{}'), coalesce(create_project.resume_context, '{}'),
            coalesce(create_project.status, 'active'), me)
    RETURNING p.id, p.name, p.description, p.status, p.tags, p.github_repo, p.resume_context,
              p.created_by, p.created_at, p.updated_at, p.version
         INTO created;
    INSERT INTO intracker_data.project_members (project_id, user_id, role) VALUES (created.id, me, 'owner');
    RETURN created;
EXCEPTION
    WHEN check_violation OR not_null_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME, violated_column = COLUMN_NAME;
        PERFORM intracker_data.explain_violation(violated, violated_column);
        RAISE;
END
$$;
COMMENT ON FUNCTION intracker.create_project(text, text, text, text[], jsonb, text) IS
    'Create a project; you become its owner.';

-- INSERT on the view (PostgREST POST /projects) goes through create_project,
-- so the creator becomes the owner there too.
CREATE FUNCTION intracker_data.projects_view_insert()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.id IS NOT NULL OR NEW.version IS NOT NULL OR NEW.created_by IS NOT NULL THEN
        RAISE EXCEPTION 'id, version and created_by of a new project are set by intracker'
            USING ERRCODE = '22023',
                  HINT = 'Leave them out of the insert.';
    END IF;
    NEW := intracker.create_project(NEW.name, NEW.description, NEW.github_repo,
                                    NEW.tags, NEW.resume_context, NEW.status);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION intracker_data.projects_view_insert() IS 'INSTEAD OF INSERT on intracker.projects: creates the project with intracker.create_project().';
CREATE TRIGGER projects_insert INSTEAD OF INSERT ON intracker.projects
    FOR EACH ROW EXECUTE FUNCTION intracker_data.projects_view_insert();

CREATE FUNCTION intracker.update_project(project_id uuid, changes jsonb, expected_version integer)
RETURNS intracker.projects
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    updated intracker.projects;
BEGIN
    PERFORM intracker_data.apply_changes('intracker_data.projects', update_project.project_id, changes, expected_version);
    SELECT * INTO updated FROM intracker.projects p WHERE p.id = update_project.project_id;
    RETURN updated;
END
$$;
COMMENT ON FUNCTION intracker.update_project(uuid, jsonb, integer) IS
    'Change fields of a project (name, description, status, tags, github_repo, resume_context). Editors and owners; PT409 if expected_version is stale.';

CREATE FUNCTION intracker.add_member(project_id uuid, user_id uuid, role text)
RETURNS intracker.project_members
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    added intracker.project_members;
    active boolean;
    violated text;
    violated_column text;
BEGIN
    PERFORM intracker_data.require_role(add_member.project_id, 'owner', 'manage members');
    active := intracker_data.user_is_active(add_member.user_id);
    IF active IS NULL THEN
        RAISE EXCEPTION 'user % not found', add_member.user_id USING ERRCODE = 'PT404';
    ELSIF NOT active THEN
        RAISE EXCEPTION 'user % is inactive', add_member.user_id
            USING ERRCODE = '22023', HINT = 'Only active users can join projects.';
    END IF;
    INSERT INTO intracker_data.project_members AS m (project_id, user_id, role)
    VALUES (add_member.project_id, add_member.user_id, add_member.role)
    ON CONFLICT ON CONSTRAINT project_members_pkey DO UPDATE SET role = EXCLUDED.role
    RETURNING m.project_id, m.user_id, m.role, m.created_at INTO added;
    RETURN added;
EXCEPTION
    WHEN check_violation OR not_null_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME, violated_column = COLUMN_NAME;
        PERFORM intracker_data.explain_violation(violated, violated_column);
        RAISE;
END
$$;
COMMENT ON FUNCTION intracker.add_member(uuid, uuid, text) IS
    'Add a user to a project with a role (owner, editor, viewer), or change the role of a member. Owners only; the last owner cannot be demoted.';

CREATE FUNCTION intracker.remove_member(project_id uuid, user_id uuid)
RETURNS intracker.project_members
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    removed intracker.project_members;
BEGIN
    -- Owners remove anyone; any member may remove themselves (leave).
    IF remove_member.user_id IS DISTINCT FROM intracker_data.require_user() THEN
        PERFORM intracker_data.require_role(remove_member.project_id, 'owner', 'manage members');
    ELSE
        PERFORM intracker_data.require_role(remove_member.project_id, 'viewer', 'leave the project');
    END IF;
    DELETE FROM intracker_data.project_members m
     WHERE m.project_id = remove_member.project_id AND m.user_id = remove_member.user_id
    RETURNING m.project_id, m.user_id, m.role, m.created_at INTO removed;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % is not a member of project %', remove_member.user_id, remove_member.project_id
            USING ERRCODE = 'PT404';
    END IF;
    RETURN removed;
END
$$;
COMMENT ON FUNCTION intracker.remove_member(uuid, uuid) IS
    'Remove a member from a project (owners; any member may remove themselves). Their features and todos in the project become unassigned. The last owner cannot be removed.';

CREATE FUNCTION intracker.create_feature(project_id uuid, title text, description text DEFAULT NULL,
                                         priority text DEFAULT 'medium', assigned_to uuid DEFAULT NULL,
                                         status text DEFAULT 'todo')
RETURNS intracker.features
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id uuid;
    created intracker.features;
    violated text;
    violated_column text;
BEGIN
    PERFORM intracker_data.require_role(create_feature.project_id, 'editor', 'create features');
    INSERT INTO intracker_data.features AS f (project_id, title, description, priority, assigned_to, status)
    VALUES (create_feature.project_id, create_feature.title, create_feature.description,
            create_feature.priority, create_feature.assigned_to, create_feature.status)
    RETURNING f.id INTO new_id;
    SELECT * INTO created FROM intracker.features f WHERE f.id = new_id;
    RETURN created;
EXCEPTION
    WHEN check_violation OR foreign_key_violation OR not_null_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME, violated_column = COLUMN_NAME;
        PERFORM intracker_data.explain_violation(violated, violated_column);
        RAISE;
END
$$;
COMMENT ON FUNCTION intracker.create_feature(uuid, text, text, text, uuid, text) IS
    'Create a feature in a project. Editors and owners.';

CREATE FUNCTION intracker.update_feature(feature_id uuid, changes jsonb, expected_version integer)
RETURNS intracker.features
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    updated intracker.features;
BEGIN
    PERFORM intracker_data.apply_changes('intracker_data.features', feature_id, changes, expected_version);
    SELECT * INTO updated FROM intracker.features f WHERE f.id = update_feature.feature_id;
    RETURN updated;
END
$$;
COMMENT ON FUNCTION intracker.update_feature(uuid, jsonb, integer) IS
    'Change fields of a feature (title, description, status, priority, assigned_to). Editors and owners; PT409 if expected_version is stale.';

CREATE FUNCTION intracker.create_todo(project_id uuid, title text, feature_id uuid DEFAULT NULL,
                                      description text DEFAULT NULL, priority text DEFAULT 'medium',
                                      estimate integer DEFAULT 1, tags text[] DEFAULT '{}',
                                      due_date date DEFAULT NULL, assigned_to uuid DEFAULT NULL,
                                      status text DEFAULT 'todo')
RETURNS intracker.todos
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    created intracker.todos;
    violated text;
    violated_column text;
BEGIN
    PERFORM intracker_data.require_role(create_todo.project_id, 'editor', 'create todos');
    INSERT INTO intracker_data.todos AS t (project_id, title, feature_id, description, priority, estimate,
                                           tags, due_date, assigned_to, status)
    VALUES (create_todo.project_id, create_todo.title, create_todo.feature_id, create_todo.description,
            create_todo.priority, create_todo.estimate, coalesce(create_todo.tags, '{}'),
            create_todo.due_date, create_todo.assigned_to, create_todo.status)
    RETURNING t.id, t.project_id, t.feature_id, t.title, t.description, t.status, t.priority, t.estimate,
              t.tags, t.assigned_to, t.created_by, t.completed_by, t.blocked_reason, t.due_date,
              t.github_issue, t.github_pr, t.completed_at, t.created_at, t.updated_at, t.version
         INTO created;
    RETURN created;
EXCEPTION
    WHEN check_violation OR foreign_key_violation OR not_null_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME, violated_column = COLUMN_NAME;
        PERFORM intracker_data.explain_violation(violated, violated_column);
        RAISE;
END
$$;
COMMENT ON FUNCTION intracker.create_todo(uuid, text, uuid, text, text, integer, text[], date, uuid, text) IS
    'Create a todo in a project, optionally in a feature of the same project. Editors and owners.';

CREATE FUNCTION intracker.update_todo(todo_id uuid, changes jsonb, expected_version integer)
RETURNS intracker.todos
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    updated intracker.todos;
BEGIN
    PERFORM intracker_data.apply_changes('intracker_data.todos', todo_id, changes, expected_version);
    SELECT * INTO updated FROM intracker.todos t WHERE t.id = update_todo.todo_id;
    RETURN updated;
END
$$;
COMMENT ON FUNCTION intracker.update_todo(uuid, jsonb, integer) IS
    'Change fields of a todo, e.g. {"title": "…", "estimate": 3}. Editors and owners; PT409 if expected_version is stale; 23514 if a status change is blocked.';

CREATE FUNCTION intracker.set_todo_status(todo_id uuid, status text, expected_version integer)
RETURNS intracker.todos
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT intracker.update_todo(todo_id, jsonb_build_object('status', status), expected_version);
END;
COMMENT ON FUNCTION intracker.set_todo_status(uuid, text, integer) IS
    'Move a todo to a status (todo, in_progress, blocked, review, done, cancelled). in_progress and done need every blocker done or cancelled.';

CREATE FUNCTION intracker.add_dependency(todo_id uuid, blocked_by uuid)
RETURNS intracker.todo_dependencies
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    project uuid := intracker_data.project_of('intracker_data.todos', todo_id);
    added intracker.todo_dependencies;
    violated text;
    violated_column text;
BEGIN
    PERFORM intracker_data.require_role(project, 'editor', 'edit dependencies');
    IF intracker_data.project_of('intracker_data.todos', blocked_by) <> project THEN
        RAISE EXCEPTION 'invalid value for blocked_by'
            USING ERRCODE = '22023',
                  DETAIL = 'blocked_by must be a todo of the same project.';
    END IF;
    INSERT INTO intracker_data.todo_dependencies AS d (todo_id, blocked_by, project_id)
    VALUES (add_dependency.todo_id, add_dependency.blocked_by, project)
    ON CONFLICT ON CONSTRAINT todo_dependencies_pkey DO NOTHING;
    SELECT * INTO added FROM intracker.todo_dependencies d
     WHERE d.todo_id = add_dependency.todo_id AND d.blocked_by = add_dependency.blocked_by;
    RETURN added;
EXCEPTION
    WHEN check_violation OR foreign_key_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME, violated_column = COLUMN_NAME;
        PERFORM intracker_data.explain_violation(violated, violated_column);
        RAISE;
END
$$;
COMMENT ON FUNCTION intracker.add_dependency(uuid, uuid) IS
    'Record that todo_id is blocked by blocked_by (same project). Idempotent; 23514 if it would create a cycle.';

CREATE FUNCTION intracker.remove_dependency(todo_id uuid, blocked_by uuid)
RETURNS intracker.todo_dependencies
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    removed intracker.todo_dependencies;
BEGIN
    PERFORM intracker_data.require_role(intracker_data.project_of('intracker_data.todos', todo_id),
                                        'editor', 'edit dependencies');
    DELETE FROM intracker_data.todo_dependencies d
     WHERE d.todo_id = remove_dependency.todo_id AND d.blocked_by = remove_dependency.blocked_by
    RETURNING d.todo_id, d.blocked_by, d.project_id, d.created_by, d.created_at INTO removed;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'todo % is not blocked by %', todo_id, blocked_by USING ERRCODE = 'PT404';
    END IF;
    RETURN removed;
END
$$;
COMMENT ON FUNCTION intracker.remove_dependency(uuid, uuid) IS 'Remove a dependency. Editors and owners.';

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

------------------------------------------------------------------------------
-- Function privileges
------------------------------------------------------------------------------

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA intracker, intracker_data FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA intracker TO intracker_user;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA intracker_data TO intracker_user;

------------------------------------------------------------------------------
-- Table and view privileges
--
-- A security_invoker view checks the caller's privileges on both the view
-- and its table, so each grant names both.  RLS then narrows them to rows.
-- The UPDATE column lists are the one statement of what a user may change:
-- intracker_data.apply_changes (the update_* functions) reads them.
------------------------------------------------------------------------------

REVOKE ALL ON ALL TABLES IN SCHEMA intracker, intracker_data FROM PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA intracker TO intracker_user;
GRANT SELECT ON ALL TABLES IN SCHEMA intracker_data TO intracker_user;

GRANT UPDATE (name, github_username, avatar_url) ON intracker.users, intracker_data.users TO intracker_user;
GRANT INSERT ON intracker_data.users TO intracker_admin;

-- New projects go through create_project (the INSTEAD OF trigger on the
-- view), which also makes the creator the owner.
GRANT INSERT ON intracker.projects TO intracker_user;
GRANT UPDATE (name, description, status, tags, github_repo, resume_context, version)
    ON intracker.projects, intracker_data.projects TO intracker_user;
GRANT DELETE ON intracker.projects, intracker_data.projects TO intracker_user;

GRANT INSERT (project_id, user_id, role), UPDATE (role), DELETE
    ON intracker.project_members, intracker_data.project_members TO intracker_user;

GRANT INSERT (id, project_id, title, description, status, priority, assigned_to),
      UPDATE (title, description, status, priority, assigned_to, version), DELETE
    ON intracker.features, intracker_data.features TO intracker_user;

GRANT INSERT (id, project_id, feature_id, title, description, status, priority, estimate, tags,
              assigned_to, blocked_reason, due_date, github_issue, github_pr),
      UPDATE (feature_id, title, description, status, priority, estimate, tags, assigned_to,
              blocked_reason, due_date, github_issue, github_pr, version),
      DELETE
    ON intracker.todos, intracker_data.todos, intracker.my_todos TO intracker_user;

GRANT INSERT (todo_id, blocked_by, project_id), DELETE
    ON intracker.todo_dependencies, intracker_data.todo_dependencies TO intracker_user;

GRANT INSERT (id, project_id, user_id, goal), UPDATE (goal, summary, next_steps, blockers, todo_ids, ended_at), DELETE
    ON intracker.sessions, intracker_data.sessions TO intracker_user;
