-- The rules every API call goes through: who is acting (identity, C in
-- src/identity.c), what their role in a project lets them do, and the
-- machinery shared by the writes of every entity: optimistic locking (the C
-- row-version trigger), completion tracking, the update_* body and the 22023
-- errors that explain a violated constraint.
--
-- The API functions run as their caller (SECURITY INVOKER), so RLS stays the
-- last word; they check first to answer with a precise error: PT401 without
-- identity, PT404 for what the caller cannot see, 42501 for a role too low,
-- 22023 for bad input.  Writes return the row as the view's type, with its
-- new version.

------------------------------------------------------------------------------
-- Identity
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
-- Project roles
------------------------------------------------------------------------------

-- Role rank: viewer < editor < owner.  The single place that orders roles.
-- The planner inlines it (the RLS helpers call it for every membership row,
-- at every policy check): so no SET search_path (it references no objects),
-- and no STRICT, which a CASE body would not be inlined under (a NULL role
-- ranks NULL all the same).  Called instead, it parsed its body at each call.
CREATE FUNCTION intracker_data.role_rank(role text)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
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

-- Only act_as() asks about another user (intracker_admin only): a user
-- must not learn whether some id is a user.
CREATE FUNCTION intracker_data.user_is_active(user_id uuid)
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (SELECT u.is_active FROM intracker_data.users u WHERE u.id = user_is_active.user_id);
END
$$;
COMMENT ON FUNCTION intracker_data.user_is_active(uuid) IS 'is_active of a user, NULL if no such user (for act_as(): intracker_admin only).';

------------------------------------------------------------------------------
-- Checks at the start of API functions
------------------------------------------------------------------------------

-- The acting user, who must exist and be active; PT401 otherwise.
-- SECURITY DEFINER: it reads the acting user's own row only, whatever RLS
-- would show (a user in no project is still a user).
CREATE FUNCTION intracker_data.require_user()
RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := intracker.current_user_id();
BEGIN
    IF me IS NULL THEN
        RAISE EXCEPTION 'not authenticated'
            USING ERRCODE = 'PT401',
                  DETAIL = 'This function acts on behalf of a user, and no user is identified.',
                  HINT = 'Send a JWT through PostgREST, call intracker.authenticate() with an API token, or as a member of intracker_admin call intracker.act_as(user_id).';
    END IF;
    IF NOT coalesce((SELECT u.is_active FROM intracker_data.users u WHERE u.id = me), false) THEN
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
        WHEN 'intracker_data.documents'::regclass THEN
            SELECT d.project_id INTO project FROM intracker_data.documents d WHERE d.id = row_id;
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

------------------------------------------------------------------------------
-- Writes
------------------------------------------------------------------------------

-- Apply a JSON object of field changes to one row, as one UPDATE that states
-- expected_version (checked by the C row-version trigger).  The caller must
-- be an editor or owner of the row's project (PT404 / 42501 otherwise).  The changeable
-- fields are the columns intracker_user may UPDATE (the grants of each
-- entity's file); a bad value is reported as 22023 naming the field.
-- The shared body of the update_* functions (C, src/apply_changes.c): it
-- keeps the plan of each UPDATE it builds, by entity and set of fields.
CREATE FUNCTION intracker_data.apply_changes(entity regclass, row_id uuid, changes jsonb,
                                             expected_version integer)
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_apply_changes';
COMMENT ON FUNCTION intracker_data.apply_changes(regclass, uuid, jsonb, integer) IS
    'Shared body of the update_* functions (C): validates a changes object and applies it in one optimistic-locked UPDATE, planned once per session for each set of fields.';

-- After apply_changes' UPDATE failed with a data exception: finds the field
-- whose value does not convert to its column's type, and says so.
CREATE FUNCTION intracker_data.explain_bad_value(entity regclass, changes jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    field text;
    problem text;
    entity_name text := rtrim((SELECT c.relname FROM pg_class c WHERE c.oid = entity), 's');
BEGIN
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
END
$$;
COMMENT ON FUNCTION intracker_data.explain_bad_value(regclass, jsonb) IS
    'Raises 22023 naming the first field of changes whose value does not convert to its column''s type; returns if all convert.';

-- The API functions turn a check, foreign-key or not-null violation into
-- 22023 with the constraint's comment (or the column) as DETAIL, so the
-- caller learns which field was wrong and why: every CHECK and foreign key
-- has a COMMENT written for this.  Direct writes through the views keep
-- PostgreSQL's own error, whose message names the constraint.
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

-- Optimistic locking (C, src/optimistic_lock.c), a BEFORE UPDATE trigger
-- on every versioned table; its first argument names the entity, the others
-- name internal columns whose changes alone bump nothing.
CREATE FUNCTION intracker_data.row_version()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'intracker_row_version';
COMMENT ON FUNCTION intracker_data.row_version() IS
    'BEFORE UPDATE trigger (C): rejects a write whose version is not the current one (PT409) or fails If-Match (PT412); bumps version and updated_at.';

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

-- "These rows come from a dump" (src/trigger_util.c): a superuser's client
-- session with row_security off, as pg_restore runs.  Triggers that would
-- judge, count or announce a restored row as a new one ask it first.
CREATE FUNCTION intracker_data.restoring()
RETURNS boolean
LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'intracker_sql_restoring';
COMMENT ON FUNCTION intracker_data.restoring() IS
    'True while this session restores a dump (a superuser''s client session with row_security off, as pg_restore runs): triggers then take restored rows as they were.';

-- API roles call these, directly or through RLS policies and the API
-- functions (which run as the caller).  Trigger functions need no grant: a
-- trigger runs its function whoever fires it.
GRANT EXECUTE ON FUNCTION intracker.current_user_id(), intracker.act_as(uuid), intracker_data.role_rank(text),
    intracker_data.my_project_ids(text), intracker_data.my_role(uuid), intracker_data.visible_user_ids(),
    intracker_data.require_user(), intracker_data.require_role(uuid, text, text),
    intracker_data.project_of(regclass, uuid), intracker_data.apply_changes(regclass, uuid, jsonb, integer),
    intracker_data.explain_violation(text, text), intracker_data.explain_bad_value(regclass, jsonb)
    TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker_data.user_is_active(uuid) TO intracker_admin;
