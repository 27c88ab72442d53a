-- Users: the people and AI agents who act.  Members of intracker_admin
-- create, activate and deactivate them; each user edits their own profile.

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
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- @handle in comments and descriptions; filled on creation (users_fill_handle)
    handle          text NOT NULL
                    CONSTRAINT users_handle_format CHECK (handle ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,38}$')
);
CREATE UNIQUE INDEX users_email_key ON intracker_data.users (lower(email));
CREATE UNIQUE INDEX users_handle_key ON intracker_data.users (lower(handle));
COMMENT ON TABLE intracker_data.users IS 'People and AI agents; ids are the "sub" of their JWTs.';

-- Every constraint's comment is the DETAIL of the 22023 error that
-- intracker_data.explain_violation() raises for it.
COMMENT ON CONSTRAINT users_email_format ON intracker_data.users IS 'email must look like name@host (at most 320 characters).';
COMMENT ON CONSTRAINT users_name_not_blank ON intracker_data.users IS 'name must not be blank (at most 200 characters).';
COMMENT ON CONSTRAINT users_github_username_format ON intracker_data.users IS 'github_username must be a GitHub login: letters, digits and single hyphens, at most 39 characters.';
COMMENT ON CONSTRAINT users_avatar_url_format ON intracker_data.users IS 'avatar_url must be an http or https URL.';
COMMENT ON CONSTRAINT users_kind_valid ON intracker_data.users IS 'kind must be human or agent.';
COMMENT ON CONSTRAINT users_handle_format ON intracker_data.users IS 'handle must be a letter or digit, then letters, digits, _ and -, at most 39 characters.';

-- A free handle for a user: their GitHub login, else the local part of
-- their email, made to fit the format, with -2, -3 … when another user has
-- it already (in any case).  Users get one on creation (users_fill_handle,
-- SECURITY DEFINER: it must see every handle, not only those of the users
-- the creator shares a project with); two users created at once with the
-- same base can still meet the unique index (23505): create them again.
CREATE FUNCTION intracker_data.free_handle(github_username text, email text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    base text := left(regexp_replace(regexp_replace(coalesce(github_username, split_part(email, '@', 1)),
                                                    '[^A-Za-z0-9_-]+', '-', 'g'),
                                     '^[_-]+', ''), 32);
    candidate text;
    n integer := 1;
BEGIN
    IF base = '' THEN
        base := 'user';
    END IF;
    candidate := base;
    WHILE EXISTS (SELECT FROM intracker_data.users u WHERE lower(u.handle) = lower(candidate)) LOOP
        n := n + 1;
        candidate := base || '-' || n;
    END LOOP;
    RETURN candidate;
END
$$;
COMMENT ON FUNCTION intracker_data.free_handle(text, text) IS
    'A handle no user has (regardless of case), from a GitHub login or else an email''s local part.';

CREATE FUNCTION intracker_data.fill_handle()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.handle IS NULL THEN
        NEW.handle := intracker_data.free_handle(NEW.github_username, NEW.email);
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION intracker_data.fill_handle() IS
    'Trigger: gives a new user without a handle a free one (free_handle).';
CREATE TRIGGER users_fill_handle BEFORE INSERT ON intracker_data.users
    FOR EACH ROW EXECUTE FUNCTION intracker_data.fill_handle();

-- pg_dump would otherwise skip the rows of extension tables.
SELECT pg_catalog.pg_extension_config_dump('intracker_data.users', '');

-- (last_login_at is noted by login and authenticate: not a change of the row)
CREATE TRIGGER users_row_version BEFORE UPDATE ON intracker_data.users
    FOR EACH ROW EXECUTE FUNCTION intracker_data.row_version('user', 'last_login_at');

-- Row-level security: you see yourself and the users you share a project
-- with (admins see everyone); you update only yourself.  Policies call the
-- SECURITY DEFINER helpers inside (SELECT ...) so that they run once per
-- statement (an InitPlan), not per row.
ALTER TABLE intracker_data.users ENABLE ROW LEVEL SECURITY;
CREATE POLICY users_select ON intracker_data.users FOR SELECT
    USING (id = (SELECT intracker.current_user_id())
           OR id = ANY ((SELECT intracker_data.visible_user_ids())::uuid[])
           OR pg_has_role('intracker_admin', 'MEMBER'));
CREATE POLICY users_update_self ON intracker_data.users FOR UPDATE
    USING (id = (SELECT intracker.current_user_id()))
    WITH CHECK (id = (SELECT intracker.current_user_id()));

-- Admins create users (create_user) and activate or deactivate them.
CREATE POLICY users_insert_admin ON intracker_data.users FOR INSERT TO intracker_admin WITH CHECK (true);
CREATE POLICY users_update_admin ON intracker_data.users FOR UPDATE TO intracker_admin USING (true) WITH CHECK (true);

-- The API views are security_invoker (the caller's privileges and RLS
-- apply) and simple, so INSERT/UPDATE/DELETE through them work (PostgREST
-- POST/PATCH/DELETE); foreign-key columns stay plain so PostgREST can embed.
CREATE VIEW intracker.users WITH (security_invoker = true) AS
SELECT id, email, name, github_username, avatar_url, kind, is_active, last_login_at, created_at, updated_at, handle
  FROM intracker_data.users;
COMMENT ON VIEW intracker.users IS 'Users you share a project with, and yourself. You may update your own name, github_username, avatar_url and handle.';
COMMENT ON COLUMN intracker.users.handle IS 'How others @mention you: unique regardless of case; from your GitHub login or email at creation; yours to change.';
COMMENT ON COLUMN intracker.users.kind IS 'human or agent.';

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
              u.last_login_at, u.created_at, u.updated_at, u.handle
         INTO created;
    RETURN created;
EXCEPTION
    WHEN unique_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME;
        IF violated = 'users_pkey' THEN
            RAISE EXCEPTION 'a user with id % already exists', create_user.user_id USING ERRCODE = '23505';
        END IF;
        IF violated = 'users_handle_key' THEN
            RAISE EXCEPTION 'another user took the same handle at the same time'
                USING ERRCODE = '23505', HINT = 'Create the user again: it gets the next free handle.';
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

CREATE FUNCTION intracker.set_user_active(user_id uuid, active boolean)
RETURNS intracker.users
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    changed intracker.users;
BEGIN
    IF NOT pg_has_role('intracker_admin', 'MEMBER') THEN
        RAISE EXCEPTION 'permission denied to activate or deactivate users'
            USING ERRCODE = '42501',
                  DETAIL = 'Only members of intracker_admin manage users.';
    END IF;
    IF active IS NULL THEN
        RAISE EXCEPTION 'active must not be null' USING ERRCODE = '22023';
    END IF;
    UPDATE intracker_data.users AS u SET is_active = set_user_active.active
     WHERE u.id = set_user_active.user_id
    RETURNING u.id, u.email, u.name, u.github_username, u.avatar_url, u.kind, u.is_active,
              u.last_login_at, u.created_at, u.updated_at, u.handle
         INTO changed;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % not found', set_user_active.user_id USING ERRCODE = 'PT404';
    END IF;
    RETURN changed;
END
$$;
COMMENT ON FUNCTION intracker.set_user_active(uuid, boolean) IS
    'Activate or deactivate a user (intracker_admin). A deactivated user cannot act and their open todos and features become unassigned.';
-- A security_invoker view checks the caller's privileges on both the view
-- and its table, so each grant names both.  RLS then narrows them to rows.
-- The UPDATE column lists are the one statement of what a user may change:
-- intracker_data.apply_changes (the update_* functions) reads them.
GRANT SELECT ON intracker_data.users, intracker.users TO intracker_user;
GRANT UPDATE (name, github_username, avatar_url, handle) ON intracker.users, intracker_data.users TO intracker_user;
GRANT INSERT, UPDATE (is_active) ON intracker_data.users TO intracker_admin;
GRANT EXECUTE ON FUNCTION intracker.create_user(text, text, text, text, uuid),
    intracker.set_user_active(uuid, boolean) TO intracker_user;
