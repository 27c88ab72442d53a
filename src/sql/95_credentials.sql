-- Credentials: API tokens for agents and scripts, passwords and login for
-- PostgREST's web clients, authenticate() for everyone else, and what a
-- read-only token may not do.  The C side is src/authentication.c (with
-- the design notes), src/identity.c (the identity they set) and
-- src/login_throttle.c (failed logins).

------------------------------------------------------------------------------
-- API tokens
------------------------------------------------------------------------------

CREATE TABLE intracker_data.api_tokens (
    id              uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES intracker_data.users (id) ON DELETE CASCADE,
    name            text NOT NULL
                    CONSTRAINT api_tokens_name_not_blank CHECK (btrim(name) <> '' AND length(name) <= 200),
    selector        text NOT NULL
                    CONSTRAINT api_tokens_selector_key UNIQUE,
    token_hash      bytea NOT NULL,
    read_only       boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz
                    CONSTRAINT api_tokens_expires_in_future CHECK (expires_at > created_at),
    last_used_at    timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX api_tokens_user_id_idx ON intracker_data.api_tokens (user_id);
COMMENT ON TABLE intracker_data.api_tokens IS
    'API tokens: the selector (the characters after itk_ that find the row) and the SHA-256 of the whole token; never the token.';
COMMENT ON CONSTRAINT api_tokens_name_not_blank ON intracker_data.api_tokens IS 'name must not be blank (at most 200 characters).';
COMMENT ON CONSTRAINT api_tokens_expires_in_future ON intracker_data.api_tokens IS 'expires_at must be in the future.';
SELECT pg_catalog.pg_extension_config_dump('intracker_data.api_tokens', '');

-- Users see their own tokens, admins all; nobody writes them but the
-- functions below (no grant), and nobody reads token_hash (no grant).
ALTER TABLE intracker_data.api_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY api_tokens_select ON intracker_data.api_tokens FOR SELECT
    USING (user_id = (SELECT intracker.current_user_id()) OR pg_has_role('intracker_admin', 'MEMBER'));

CREATE VIEW intracker.api_tokens WITH (security_invoker = true) AS
SELECT id, user_id, name, 'itk_' || selector AS token_prefix, read_only, created_at, expires_at,
       last_used_at, revoked_at
  FROM intracker_data.api_tokens;
COMMENT ON VIEW intracker.api_tokens IS
    'Your API tokens (members of intracker_admin: everyone''s). Never the token nor its hash.';
COMMENT ON COLUMN intracker.api_tokens.token_prefix IS
    'The token''s first 16 characters: enough to recognise it, nothing that helps to guess the rest.';
COMMENT ON COLUMN intracker.api_tokens.last_used_at IS
    'Last authenticate() with it, to the minute.';

CREATE FUNCTION intracker.create_api_token(name text, expires_at timestamptz DEFAULT NULL,
                                           read_only boolean DEFAULT false, user_id uuid DEFAULT NULL)
RETURNS TABLE (token_id uuid, token text)
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_create_api_token';
COMMENT ON FUNCTION intracker.create_api_token(text, timestamptz, boolean, uuid) IS
    'A new API token (itk_...) for yourself, or for user_id (members of intracker_admin only), shown this once. read_only tokens may read, not write. At most 100 usable tokens per user.';

CREATE FUNCTION intracker.revoke_api_token(token_id uuid)
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_revoke_api_token';
COMMENT ON FUNCTION intracker.revoke_api_token(uuid) IS
    'Revoke an API token (yours, or anyone''s for members of intracker_admin): authenticate() refuses it, and sessions that use it lose their identity at their next transaction.';

-- The helpers below are called by the C functions as the extension's
-- owner (see src/authentication.c) and granted to nobody.

CREATE FUNCTION intracker_data.store_api_token(owner uuid, name text, selector text, token_hash bytea,
                                               read_only boolean, expires_at timestamptz)
RETURNS uuid
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    owner_active boolean;
    created uuid;
    violated text;
    violated_column text;
BEGIN
    -- locks the user row: a concurrent deactivation or token count waits
    SELECT u.is_active INTO owner_active FROM intracker_data.users u WHERE u.id = owner FOR SHARE;
    IF owner_active IS NULL THEN
        RAISE EXCEPTION 'user % not found', owner USING ERRCODE = 'PT404';
    ELSIF NOT owner_active THEN
        RAISE EXCEPTION 'user % is inactive', owner
            USING ERRCODE = '22023', DETAIL = 'Inactive users cannot have new tokens.';
    END IF;
    IF (SELECT count(*) FROM intracker_data.api_tokens t
         WHERE t.user_id = owner AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())) >= 100 THEN
        RAISE EXCEPTION 'too many API tokens'
            USING ERRCODE = '54000',
                  DETAIL = 'A user has at most 100 tokens that are neither revoked nor expired.',
                  HINT = 'Revoke tokens you no longer use (intracker.revoke_api_token).';
    END IF;
    INSERT INTO intracker_data.api_tokens AS t (user_id, name, selector, token_hash, read_only, expires_at)
    VALUES (owner, store_api_token.name, store_api_token.selector, store_api_token.token_hash,
            store_api_token.read_only, store_api_token.expires_at)
    RETURNING t.id INTO created;
    RETURN created;
EXCEPTION
    WHEN check_violation OR not_null_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME, violated_column = COLUMN_NAME;
        PERFORM intracker_data.explain_violation(violated, violated_column);
        RAISE;
END
$$;
COMMENT ON FUNCTION intracker_data.store_api_token(uuid, text, text, bytea, boolean, timestamptz) IS
    'For create_api_token() only (run as the extension''s owner): stores a token''s selector and hash.';

CREATE FUNCTION intracker_data.revoke_api_token_as(token_id uuid, revoker uuid, any_user boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE intracker_data.api_tokens t SET revoked_at = coalesce(t.revoked_at, now())
     WHERE t.id = token_id AND (any_user OR t.user_id = revoker);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'API token % not found', token_id
            USING ERRCODE = 'PT404',
                  HINT = 'intracker.api_tokens lists your tokens.';
    END IF;
END
$$;
COMMENT ON FUNCTION intracker_data.revoke_api_token_as(uuid, uuid, boolean) IS
    'For revoke_api_token() only (run as the extension''s owner): revokes a token of revoker''s, or any token when any_user.';

CREATE FUNCTION intracker_data.api_token_by_selector(selector text)
RETURNS TABLE (id uuid, user_id uuid, token_hash bytea, read_only boolean, usable boolean, recently_used boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- plpgsql, not sql: its plan is kept for the session (a sql function
    -- with SET is planned again at every call)
    RETURN QUERY
    SELECT t.id, t.user_id, t.token_hash, t.read_only,
           t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now()) AND u.is_active,
           coalesce(t.last_used_at >= now() - interval '1 minute', false)
      FROM intracker_data.api_tokens t
      JOIN intracker_data.users u ON u.id = t.user_id
     WHERE t.selector = api_token_by_selector.selector;
END
$$;
COMMENT ON FUNCTION intracker_data.api_token_by_selector(text) IS
    'For authenticate() only (run as the extension''s owner): the token with this selector, whether it may be used, and whether its use was noted in the last minute.';

-- last_used_at (and the user's last_login_at) to the minute: not every
-- authenticate() is a write, and a row another session holds is skipped,
-- never waited for.
CREATE FUNCTION intracker_data.note_api_token_use(token_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    owner uuid;
BEGIN
    UPDATE intracker_data.api_tokens t SET last_used_at = now()
     WHERE t.id = (SELECT s.id FROM intracker_data.api_tokens s
                    WHERE s.id = token_id AND (s.last_used_at IS NULL OR s.last_used_at < now() - interval '1 minute')
                      FOR UPDATE SKIP LOCKED)
    RETURNING t.user_id INTO owner;
    IF owner IS NOT NULL THEN
        PERFORM intracker_data.note_login(owner);
    END IF;
END
$$;
COMMENT ON FUNCTION intracker_data.note_api_token_use(uuid) IS
    'For authenticate() only (run as the extension''s owner): sets last_used_at and the user''s last_login_at, at most once a minute, without waiting for a lock.';

-- Answers about the calling session's own token only (its credential
-- setting), so it tells nobody anything about other tokens.
CREATE FUNCTION intracker_data.session_token_is_valid()
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN EXISTS (
        SELECT FROM intracker_data.api_tokens t
          JOIN intracker_data.users u ON u.id = t.user_id
         WHERE t.id = split_part(current_setting('intracker.acting_credential'), ':', 2)::uuid
           AND t.user_id = current_setting('intracker.acting_user')::uuid
           AND t.revoked_at IS NULL
           AND (t.expires_at IS NULL OR t.expires_at > now())
           AND u.is_active);
END
$$;
COMMENT ON FUNCTION intracker_data.session_token_is_valid() IS
    'Whether the API token the session authenticated with still holds (not revoked, not expired, user active); identity.c asks once per transaction.';

------------------------------------------------------------------------------
-- Passwords and login
------------------------------------------------------------------------------

CREATE TABLE intracker_data.user_passwords (
    user_id         uuid PRIMARY KEY REFERENCES intracker_data.users (id) ON DELETE CASCADE,
    secret          text NOT NULL
                    CONSTRAINT user_passwords_secret_is_scram CHECK (secret LIKE 'SCRAM-SHA-256$%'),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON CONSTRAINT user_passwords_secret_is_scram ON intracker_data.user_passwords IS 'secret must be a SCRAM-SHA-256 secret.';
COMMENT ON TABLE intracker_data.user_passwords IS
    'Users'' passwords as SCRAM-SHA-256 secrets (salted, 4096 iterations, as PostgreSQL stores role passwords). No role but the owner reads them.';
SELECT pg_catalog.pg_extension_config_dump('intracker_data.user_passwords', '');
ALTER TABLE intracker_data.user_passwords ENABLE ROW LEVEL SECURITY;

-- One function, not two overloads (PostgREST resolves /rpc/set_password
-- by its arguments' names, and intracker has no overloaded API function).
CREATE FUNCTION intracker.set_password(password text, user_id uuid DEFAULT NULL)
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_set_password';
COMMENT ON FUNCTION intracker.set_password(text, uuid) IS
    'Set your password for intracker.login(), or user_id''s (members of intracker_admin only): at least 12 characters and 5 different ones, at most 1024 bytes, not containing the email''s name.';

CREATE FUNCTION intracker_data.password_secret(password text, email text)
RETURNS text
LANGUAGE c STRICT VOLATILE
AS 'MODULE_PATHNAME', 'intracker_password_secret';
COMMENT ON FUNCTION intracker_data.password_secret(text, text) IS
    'The SCRAM-SHA-256 secret of a password that keeps the strength rules (22023 otherwise).';

CREATE FUNCTION intracker_data.store_password(user_id uuid, password text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    email text := (SELECT u.email FROM intracker_data.users u WHERE u.id = store_password.user_id);
BEGIN
    IF email IS NULL THEN
        RAISE EXCEPTION 'user % not found', user_id USING ERRCODE = 'PT404';
    END IF;
    INSERT INTO intracker_data.user_passwords AS p (user_id, secret)
    VALUES (store_password.user_id, intracker_data.password_secret(password, email))
    ON CONFLICT ON CONSTRAINT user_passwords_pkey
    DO UPDATE SET secret = excluded.secret, updated_at = now();
END
$$;
COMMENT ON FUNCTION intracker_data.store_password(uuid, text) IS
    'For set_password() only (run as the extension''s owner): checks and stores a password''s secret.';

CREATE FUNCTION intracker_data.login_candidate(email text)
RETURNS TABLE (user_id uuid, secret text, usable boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT u.id, p.secret, u.is_active
      FROM intracker_data.users u
      LEFT JOIN intracker_data.user_passwords p ON p.user_id = u.id
     WHERE lower(u.email) = lower(login_candidate.email)
$$;
COMMENT ON FUNCTION intracker_data.login_candidate(text) IS
    'For login() only (run as the extension''s owner): the user of an email, their password secret, and whether they are active.';

CREATE FUNCTION intracker_data.note_login(user_id uuid)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE intracker_data.users u SET last_login_at = now()
     WHERE u.id = (SELECT s.id FROM intracker_data.users s
                    WHERE s.id = note_login.user_id
                      AND (s.last_login_at IS NULL OR s.last_login_at < now() - interval '1 minute')
                      FOR UPDATE SKIP LOCKED)
$$;
COMMENT ON FUNCTION intracker_data.note_login(uuid) IS
    'For login() and authenticate() only (run as the extension''s owner): sets last_login_at, at most once a minute, without waiting for a lock.';

CREATE FUNCTION intracker.login(email text, password text)
RETURNS jsonb
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_login';
COMMENT ON FUNCTION intracker.login(text, text) IS
    'A JWT for PostgREST and authenticate(): {"token", "expires_at", "user_id"}. Wrong email or password: PT401; 10 failures for an email within 15 minutes: PT429 until the window has passed. Needs intracker preloaded and intracker.jwt_secret.';

CREATE FUNCTION intracker.authenticate(token text)
RETURNS uuid
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_authenticate';
COMMENT ON FUNCTION intracker.authenticate(text) IS
    'Make the user of an API token or of a JWT from login() the session''s identity, as act_as() does (undone by ROLLBACK, RESET ALL, DISCARD ALL); NULL signs out. Any bad token: PT401.';

------------------------------------------------------------------------------
-- Read-only tokens
--
-- While a read-only token is the identity, no statement may write a table
-- users write: one statement trigger per table, so that functions, views
-- and PostgREST are refused alike.  Functions that write only tables of
-- their own call require_writable_identity() instead.
------------------------------------------------------------------------------

CREATE FUNCTION intracker_data.refuse_read_only_write()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'intracker_refuse_read_only_write';
COMMENT ON FUNCTION intracker_data.refuse_read_only_write() IS
    'Statement trigger (C): 42501 when the identity is a read-only API token.';

CREATE FUNCTION intracker_data.require_writable_identity()
RETURNS void
LANGUAGE c
AS 'MODULE_PATHNAME', 'intracker_refuse_read_only_write';
COMMENT ON FUNCTION intracker_data.require_writable_identity() IS
    '42501 when the identity is a read-only API token.';

CREATE FUNCTION intracker.identity_is_read_only()
RETURNS boolean
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'intracker_identity_is_read_only_sql';
COMMENT ON FUNCTION intracker.identity_is_read_only() IS
    'True when the session''s identity comes from a read-only API token (writes fail with 42501): a client can offer only what reads.';

CREATE TRIGGER users_refuse_read_only BEFORE INSERT OR DELETE OR UPDATE OF email, name, github_username, avatar_url, kind, is_active, handle
    ON intracker_data.users FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();
CREATE TRIGGER projects_refuse_read_only BEFORE INSERT OR UPDATE OR DELETE
    ON intracker_data.projects FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();
CREATE TRIGGER project_members_refuse_read_only BEFORE INSERT OR UPDATE OR DELETE
    ON intracker_data.project_members FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();
CREATE TRIGGER features_refuse_read_only BEFORE INSERT OR UPDATE OR DELETE
    ON intracker_data.features FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();
CREATE TRIGGER todos_refuse_read_only BEFORE INSERT OR UPDATE OR DELETE
    ON intracker_data.todos FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();
CREATE TRIGGER todo_dependencies_refuse_read_only BEFORE INSERT OR UPDATE OR DELETE
    ON intracker_data.todo_dependencies FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();
CREATE TRIGGER sessions_refuse_read_only BEFORE INSERT OR UPDATE OR DELETE
    ON intracker_data.sessions FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();
CREATE TRIGGER webhooks_refuse_read_only BEFORE INSERT OR UPDATE OR DELETE
    ON intracker_data.webhooks FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();
CREATE TRIGGER github_credentials_refuse_read_only BEFORE INSERT OR UPDATE OR DELETE
    ON intracker_data.github_credentials FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();

-- The trigger functions are executable by no one (see 99_privileges.sql);
-- these are the grants the API needs.
GRANT SELECT ON intracker.api_tokens TO intracker_user;
GRANT SELECT (id, user_id, name, selector, read_only, created_at, expires_at, last_used_at, revoked_at)
    ON intracker_data.api_tokens TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker.create_api_token(text, timestamptz, boolean, uuid),
    intracker.revoke_api_token(uuid), intracker.set_password(text, uuid),
    intracker.login(text, text), intracker.authenticate(text),
    intracker_data.session_token_is_valid(), intracker_data.require_writable_identity(),
    intracker.identity_is_read_only()
    TO intracker_user;
