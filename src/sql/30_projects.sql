-- Projects and their members.  A member's role (owner, editor, viewer)
-- decides what they may do in the project; availability and capacity are
-- what automatic assignment (70_assignment.sql) reads.

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
    version         integer NOT NULL DEFAULT 1,
    -- free-form, for what an integration needs to keep (0.6)
    metadata        jsonb NOT NULL DEFAULT '{}'
                    CONSTRAINT projects_metadata_object CHECK (jsonb_typeof(metadata) = 'object'
                                                               AND octet_length(metadata::text) <= 16384)
);
CREATE INDEX projects_created_by_idx ON intracker_data.projects (created_by);

CREATE TABLE intracker_data.project_members (
    project_id      uuid NOT NULL REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES intracker_data.users (id),
    role            text NOT NULL
                    CONSTRAINT project_members_role_valid CHECK (role IN ('owner', 'editor', 'viewer')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- automatic assignment: only available members below capacity get work
    available       boolean NOT NULL DEFAULT true,
    capacity        integer CONSTRAINT project_members_capacity_not_negative CHECK (capacity >= 0),
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_user_id_idx ON intracker_data.project_members (user_id);

COMMENT ON CONSTRAINT projects_name_not_blank ON intracker_data.projects IS 'name must not be blank (at most 200 characters).';
COMMENT ON CONSTRAINT projects_status_valid ON intracker_data.projects IS 'status must be one of: active, paused, archived.';
COMMENT ON CONSTRAINT projects_github_repo_format ON intracker_data.projects IS 'github_repo must be owner/name, e.g. octocat/hello-world.';
COMMENT ON CONSTRAINT projects_resume_context_object ON intracker_data.projects IS 'resume_context must be a JSON object.';
COMMENT ON CONSTRAINT projects_metadata_object ON intracker_data.projects IS 'metadata must be a JSON object of at most 16384 bytes.';
COMMENT ON CONSTRAINT project_members_role_valid ON intracker_data.project_members IS 'role must be one of: owner, editor, viewer.';
COMMENT ON CONSTRAINT project_members_capacity_not_negative ON intracker_data.project_members IS
    'capacity must be zero or more points (NULL means unlimited).';

SELECT pg_catalog.pg_extension_config_dump('intracker_data.projects', '');
SELECT pg_catalog.pg_extension_config_dump('intracker_data.project_members', '');

CREATE TRIGGER projects_row_version BEFORE UPDATE ON intracker_data.projects
    FOR EACH ROW EXECUTE FUNCTION intracker_data.row_version('project');

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

-- Row-level security: non-members see nothing; viewers read; editors also
-- update; owners also delete and manage members.  New projects go through
-- create_project(), which makes the creator the owner.
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


CREATE VIEW intracker.projects WITH (security_invoker = true) AS
SELECT id, name, description, status, tags, github_repo, resume_context, created_by, created_at, updated_at, version,
       metadata
  FROM intracker_data.projects;
COMMENT ON VIEW intracker.projects IS 'Projects you are a member of. INSERT creates a project owned by you; updates need editor, deletes owner.';
COMMENT ON COLUMN intracker.projects.status IS 'active, paused or archived.';
COMMENT ON COLUMN intracker.projects.metadata IS 'Free-form JSON object (at most 16 kB) for what an integration needs to keep.';
COMMENT ON COLUMN intracker.projects.github_repo IS 'GitHub repository as owner/name; only owners change it (the deliverer spends the owner''s token there).';
COMMENT ON COLUMN intracker.projects.resume_context IS 'Free notes and constraints (a JSON object) for agents resuming work on the project.';
COMMENT ON COLUMN intracker.projects.version IS 'Row version for optimistic locking: write back the version you read (SET version = n) and a stale write fails with PT409.';

CREATE VIEW intracker.project_members WITH (security_invoker = true) AS
SELECT project_id, user_id, role, created_at
  FROM intracker_data.project_members;
COMMENT ON VIEW intracker.project_members IS 'Members of your projects and their roles (owner, editor, viewer). Owners manage membership.';

CREATE FUNCTION intracker.create_project(name text, description text DEFAULT NULL, github_repo text DEFAULT NULL,
                                         tags text[] DEFAULT '{}', resume_context jsonb DEFAULT '{}',
                                         status text DEFAULT 'active', metadata jsonb DEFAULT '{}')
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
    INSERT INTO intracker_data.projects AS p (name, description, github_repo, tags, resume_context, status, created_by,
                                              metadata)
    VALUES (create_project.name, create_project.description, create_project.github_repo,
            coalesce(create_project.tags, '{}'), coalesce(create_project.resume_context, '{}'),
            coalesce(create_project.status, 'active'), me, coalesce(create_project.metadata, '{}'))
    RETURNING p.id, p.name, p.description, p.status, p.tags, p.github_repo, p.resume_context,
              p.created_by, p.created_at, p.updated_at, p.version, p.metadata
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
COMMENT ON FUNCTION intracker.create_project(text, text, text, text[], jsonb, text, jsonb) IS
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
                                    NEW.tags, NEW.resume_context, NEW.status, NEW.metadata);
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
    'Change fields of a project (name, description, status, tags, github_repo, resume_context, metadata). Editors and owners, github_repo owners only (42501); PT409 if expected_version is stale.';

-- Only a project's owners learn whether an id they hold is an (active)
-- user: the check reads users whatever RLS shows, after the role check.
CREATE FUNCTION intracker_data.require_joinable_user(project_id uuid, user_id uuid)
RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    active boolean;
BEGIN
    PERFORM intracker_data.require_role(require_joinable_user.project_id, 'owner', 'manage members');
    active := (SELECT u.is_active FROM intracker_data.users u WHERE u.id = require_joinable_user.user_id);
    IF active IS NULL THEN
        RAISE EXCEPTION 'user % not found', require_joinable_user.user_id USING ERRCODE = 'PT404';
    ELSIF NOT active THEN
        RAISE EXCEPTION 'user % is inactive', require_joinable_user.user_id
            USING ERRCODE = '22023', HINT = 'Only active users can join projects.';
    END IF;
END
$$;
COMMENT ON FUNCTION intracker_data.require_joinable_user(uuid, uuid) IS
    'For add_member: the acting user must own the project (PT401/PT404/42501), and user_id must be an active user (PT404, 22023).';

CREATE FUNCTION intracker.add_member(project_id uuid, user_id uuid, role text)
RETURNS intracker.project_members
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    added intracker.project_members;
    violated text;
    violated_column text;
BEGIN
    PERFORM intracker_data.require_joinable_user(add_member.project_id, add_member.user_id);
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

GRANT SELECT ON intracker_data.projects, intracker_data.project_members, intracker.projects,
    intracker.project_members TO intracker_user;
GRANT INSERT ON intracker.projects TO intracker_user;
GRANT UPDATE (name, description, status, tags, github_repo, resume_context, version, metadata)
    ON intracker.projects, intracker_data.projects TO intracker_user;
GRANT DELETE ON intracker.projects, intracker_data.projects TO intracker_user;
GRANT INSERT (project_id, user_id, role), UPDATE (role), DELETE
    ON intracker.project_members, intracker_data.project_members TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker_data.require_joinable_user(uuid, uuid),
    intracker.create_project(text, text, text, text[], jsonb, text, jsonb), intracker.update_project(uuid, jsonb, integer),
    intracker.add_member(uuid, uuid, text), intracker.remove_member(uuid, uuid) TO intracker_user;
