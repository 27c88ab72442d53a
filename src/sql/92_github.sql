-- GitHub sync: a linked todo closes and reopens its issue (calls queued with
-- the webhook deliveries, 91_webhooks.sql, and sent by the deliverer), an
-- editor can have the deliverer create the issue, and GitHub's own webhook
-- (intracker.github_webhook) closes and reopens todos.

-- The GitHub credentials of a project.  No API role has any privilege on it.
CREATE TABLE intracker_data.github_credentials (
    project_id      uuid PRIMARY KEY REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    token           text
                    CONSTRAINT github_credentials_token_format CHECK (token ~ '^[!-~]+$' AND length(token) <= 1000),
    webhook_secret  text
                    CONSTRAINT github_credentials_webhook_secret_length CHECK (length(webhook_secret) BETWEEN 1 AND 1000),
    updated_by      uuid REFERENCES intracker_data.users (id),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX github_credentials_updated_by_idx ON intracker_data.github_credentials (updated_by);
COMMENT ON TABLE intracker_data.github_credentials IS
    'GitHub token (for the deliverer''s API calls) and webhook secret (to verify inbound deliveries) of a project. Set by owners with set_github_token() and set_github_webhook_secret(); never readable through the API.';
COMMENT ON CONSTRAINT github_credentials_token_format ON intracker_data.github_credentials IS 'token must be 1 to 1000 printable ASCII characters without spaces.';
COMMENT ON CONSTRAINT github_credentials_webhook_secret_length ON intracker_data.github_credentials IS 'webhook_secret must be 1 to 1000 characters.';

-- Inbound GitHub webhook deliveries and what became of them.
CREATE TABLE intracker_data.github_inbound (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id      uuid NOT NULL REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    event           text NOT NULL,
    action          text,
    issue_number    integer,
    pr_number       integer,
    todo_id         uuid REFERENCES intracker_data.todos (id) ON DELETE SET NULL,
    outcome         text NOT NULL
                    CONSTRAINT github_inbound_outcome_valid CHECK (outcome IN ('applied', 'unchanged', 'ignored', 'no linked todo', 'conflict', 'rejected')),
    detail          text,
    received_at     timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX github_inbound_project_idx ON intracker_data.github_inbound (project_id, received_at);
CREATE INDEX github_inbound_todo_id_idx ON intracker_data.github_inbound (todo_id);
COMMENT ON CONSTRAINT github_inbound_outcome_valid ON intracker_data.github_inbound IS 'outcome must be applied, unchanged, ignored, no linked todo, conflict or rejected.';
COMMENT ON TABLE intracker_data.github_inbound IS
    'What github_webhook() did with each inbound GitHub event (a conflict is kept here, not lost).';

SELECT pg_catalog.pg_extension_config_dump('intracker_data.github_credentials', '');
SELECT pg_catalog.pg_extension_config_dump('intracker_data.github_inbound', '');
SELECT pg_catalog.pg_extension_config_dump('intracker_data.github_inbound_id_seq', '');

-- Members see the GitHub calls (91_webhooks.sql) and inbound results.
ALTER TABLE intracker_data.github_credentials ENABLE ROW LEVEL SECURITY;
ALTER TABLE intracker_data.github_inbound ENABLE ROW LEVEL SECURITY;
CREATE POLICY github_inbound_select ON intracker_data.github_inbound FOR SELECT
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]));

CREATE VIEW intracker.github_calls WITH (security_invoker = true) AS
SELECT d.id, d.project_id, d.todo_id, pg_catalog.substr(d.event_type, 8) AS action, d.event_seq,
       d.state, d.attempts, d.last_status, d.last_error,
       CASE WHEN d.state IN ('pending', 'failed') THEN d.next_attempt_at END AS next_attempt_at,
       d.duration_ms, d.created_at, d.last_attempt_at, d.delivered_at, d.redelivery_of, d.body AS request_body,
       d.issue_number, d.issue_url, d.github_repo
  FROM intracker_data.deliveries d
 WHERE d.kind = 'github';
COMMENT ON VIEW intracker.github_calls IS
    'GitHub API calls of your projects: create_issue, close_issue, reopen_issue, with the same states and retries as webhook deliveries.';
COMMENT ON COLUMN intracker.github_calls.issue_number IS 'create_issue: the number of the issue GitHub created (stored on the todo as github_issue).';
COMMENT ON COLUMN intracker.github_calls.github_repo IS 'The repository (owner/name) the call was queued for, and is sent to, even if the project''s repository changed since.';

CREATE VIEW intracker.github_inbound WITH (security_invoker = true) AS
SELECT id, project_id, event, action, issue_number, pr_number, todo_id, outcome, detail, received_at
  FROM intracker_data.github_inbound;
COMMENT ON VIEW intracker.github_inbound IS
    'Inbound GitHub events received by github_webhook() and their outcome: applied, unchanged, ignored, no linked todo, conflict (a concurrent change won; nothing applied) or rejected (the change was not allowed).';

-- Members see whether GitHub sync is configured, never the secrets.
CREATE VIEW intracker.github_settings WITH (security_barrier = true) AS
SELECT p.id AS project_id, p.github_repo,
       c.token IS NOT NULL AS has_token,
       c.webhook_secret IS NOT NULL AS has_webhook_secret,
       c.updated_by, c.updated_at
  FROM intracker_data.projects p
  LEFT JOIN intracker_data.github_credentials c ON c.project_id = p.id
 WHERE p.id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]);
COMMENT ON VIEW intracker.github_settings IS
    'GitHub sync of your projects: the repository and whether a token and a webhook secret are set (never their values).';

-- The repository is where the deliverer spends the owner's token (0.6):
-- only an owner may change it, through every path (update_project, an
-- UPDATE of intracker.projects, PostgREST's PATCH), though editors may
-- change the project's other fields.  Maintenance without an acting user
-- (a superuser, pg_restore) is not a member's act and is not checked.
CREATE FUNCTION intracker_data.github_repo_owner_only()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.github_repo IS DISTINCT FROM OLD.github_repo AND intracker.current_user_id() IS NOT NULL THEN
        PERFORM intracker_data.require_role(NEW.id, 'owner', 'change the GitHub repository');
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION intracker_data.github_repo_owner_only() IS
    'Trigger: a change of a project''s github_repo by a user who is not an owner of the project is refused (42501).';
CREATE TRIGGER projects_github_repo_owner_only BEFORE UPDATE OF github_repo ON intracker_data.projects
    FOR EACH ROW EXECUTE FUNCTION intracker_data.github_repo_owner_only();

------------------------------------------------------------------------------
-- Signatures (C, src/signature.c)
------------------------------------------------------------------------------

CREATE FUNCTION intracker_data.signature_matches(secret text, body text, signature text)
RETURNS boolean
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'intracker_signature_matches';
COMMENT ON FUNCTION intracker_data.signature_matches(text, text, text) IS
    'Is signature "sha256=<hex HMAC-SHA256 of body with secret>"? Compared in constant time; false for NULL arguments.';

------------------------------------------------------------------------------
-- API: GitHub
------------------------------------------------------------------------------

-- The one writer of github_credentials: stores one credential (token or
-- webhook_secret) of a project for its owner and returns the settings row.
CREATE FUNCTION intracker_data.store_github_credential(project_id uuid, credential text, value text)
RETURNS intracker.github_settings
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    is_token boolean := credential = 'token';
    result intracker.github_settings;
    problem text;
    problem_column text;
BEGIN
    PERFORM intracker_data.require_role(store_github_credential.project_id, 'owner',
                                        'set the GitHub ' || replace(credential, '_', ' '));
    BEGIN
        INSERT INTO intracker_data.github_credentials AS c (project_id, token, webhook_secret, updated_by)
        VALUES (store_github_credential.project_id, CASE WHEN is_token THEN value END,
                CASE WHEN NOT is_token THEN value END, intracker.current_user_id())
        ON CONFLICT ON CONSTRAINT github_credentials_pkey DO UPDATE
           SET token = CASE WHEN is_token THEN excluded.token ELSE c.token END,
               webhook_secret = CASE WHEN is_token THEN c.webhook_secret ELSE excluded.webhook_secret END,
               updated_by = excluded.updated_by, updated_at = now();
    EXCEPTION
        WHEN check_violation THEN
            GET STACKED DIAGNOSTICS problem = CONSTRAINT_NAME, problem_column = COLUMN_NAME;
            PERFORM intracker_data.explain_violation(problem, coalesce(nullif(problem_column, ''), credential));
            RAISE;
    END;
    SELECT s.* INTO result FROM intracker.github_settings s WHERE s.project_id = store_github_credential.project_id;
    RETURN result;
END
$$;
COMMENT ON FUNCTION intracker_data.store_github_credential(uuid, text, text) IS
    'Shared body of set_github_token() and set_github_webhook_secret(): owners only; credential is ''token'' or ''webhook_secret''.';

CREATE FUNCTION intracker.set_github_token(project_id uuid, token text)
RETURNS intracker.github_settings
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN intracker_data.store_github_credential(project_id, 'token', token);
COMMENT ON FUNCTION intracker.set_github_token(uuid, text) IS
    'Owners: the GitHub token the deliverer uses for this project''s repository (NULL removes it). Nobody can read it back; intracker.github_settings shows whether one is set.';

CREATE FUNCTION intracker.set_github_webhook_secret(project_id uuid, secret text)
RETURNS intracker.github_settings
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN intracker_data.store_github_credential(project_id, 'webhook_secret', secret);
COMMENT ON FUNCTION intracker.set_github_webhook_secret(uuid, text) IS
    'Owners: the secret of the GitHub webhook that calls intracker.github_webhook() for this project''s repository (NULL removes it). Nobody can read it back.';

-- The project's repository and token, or 55000 saying what is missing.
CREATE FUNCTION intracker_data.require_github(project_id uuid, need_token boolean)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    repo text;
BEGIN
    PERFORM intracker_data.require_role(require_github.project_id, 'viewer', 'use GitHub sync');
    repo := (SELECT p.github_repo FROM intracker_data.projects p WHERE p.id = require_github.project_id);
    IF repo IS NULL THEN
        RAISE EXCEPTION 'project % has no GitHub repository', project_id
            USING ERRCODE = '55000', HINT = 'Set github_repo with intracker.update_project().';
    END IF;
    IF need_token AND NOT EXISTS (SELECT FROM intracker_data.github_credentials c
                                   WHERE c.project_id = require_github.project_id AND c.token IS NOT NULL) THEN
        RAISE EXCEPTION 'project % has no GitHub token', project_id
            USING ERRCODE = '55000', HINT = 'A project owner can set one with intracker.set_github_token().';
    END IF;
    RETURN repo;
END
$$;
COMMENT ON FUNCTION intracker_data.require_github(uuid, boolean) IS
    'The project''s github_repo for a member of it (PT404 otherwise); 55000 when it (or, with need_token, the token) is not set.';

CREATE FUNCTION intracker.link_github_issue(todo_id uuid, issue_number integer)
RETURNS intracker.todos
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    project uuid := intracker_data.project_of('intracker_data.todos', link_github_issue.todo_id);
    repo text;
    linked intracker.todos;
BEGIN
    PERFORM intracker_data.require_role(project, 'editor', 'link GitHub issues');
    IF issue_number IS NULL OR issue_number <= 0 THEN
        RAISE EXCEPTION 'issue_number must be a positive issue number'
            USING ERRCODE = '22023', DETAIL = format('issue_number is %s.', coalesce(issue_number::text, 'NULL'));
    END IF;
    repo := intracker_data.require_github(project, false);
    UPDATE intracker_data.todos t
       SET github_issue = issue_number,
           github_issue_url = CASE WHEN rtrim(coalesce(current_setting('intracker.github_api_url', true), ''), '/') = 'https://api.github.com'
                                   THEN format('https://github.com/%s/issues/%s', repo, issue_number) END
     WHERE t.id = link_github_issue.todo_id;
    SELECT v.* INTO linked FROM intracker.todos v WHERE v.id = link_github_issue.todo_id;
    RETURN linked;
END
$$;
COMMENT ON FUNCTION intracker.link_github_issue(uuid, integer) IS
    'Editors: link a todo to an existing issue of the project''s repository. From then on the deliverer closes the issue when the todo becomes done or cancelled and reopens it when the todo is reopened.';

CREATE FUNCTION intracker.create_github_issue(todo_id uuid)
RETURNS intracker.github_calls
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    project uuid;
    repo text;
    todo intracker_data.todos;
    call_id uuid;
    result intracker.github_calls;
BEGIN
    -- As definer RLS does not hide the todo: say "not found" to non-members
    -- before anything else, as project_of() does under RLS.
    PERFORM intracker_data.require_user();
    PERFORM intracker_data.require_writable_identity();
    IF create_github_issue.todo_id IS NULL THEN
        RAISE EXCEPTION 'todo id must not be null' USING ERRCODE = '22023';
    END IF;
    project := (SELECT t.project_id FROM intracker_data.todos t WHERE t.id = create_github_issue.todo_id);
    IF project IS NULL OR intracker_data.my_role(project) IS NULL THEN
        RAISE EXCEPTION 'todo % not found', create_github_issue.todo_id
            USING ERRCODE = 'PT404', HINT = 'The todo does not exist or you are not a member of its project.';
    END IF;
    PERFORM intracker_data.require_role(project, 'editor', 'create GitHub issues');
    repo := intracker_data.require_github(project, true);
    SELECT t.* INTO todo FROM intracker_data.todos t WHERE t.id = create_github_issue.todo_id FOR UPDATE;
    IF todo.github_issue IS NOT NULL THEN
        RAISE EXCEPTION 'todo % is already linked to GitHub issue #%', todo.id, todo.github_issue
            USING ERRCODE = '55000';
    END IF;
    IF EXISTS (SELECT FROM intracker_data.deliveries d
                WHERE d.todo_id = todo.id AND d.event_type = 'github.create_issue' AND d.state IN ('pending', 'failed')) THEN
        RAISE EXCEPTION 'a GitHub issue for todo % is already being created', todo.id
            USING ERRCODE = '55000', HINT = 'See intracker.github_calls.';
    END IF;
    -- The call goes to the repository of now, kept on the row: a later
    -- change of the project's repository does not redirect it.
    INSERT INTO intracker_data.deliveries AS d (kind, queue_id, project_id, todo_id, event_type, body, github_repo)
    VALUES ('github', project, project, todo.id, 'github.create_issue',
            jsonb_build_object('title', todo.title,
                               'body', concat_ws(E'\n\n', todo.description,
                                                 format('_Tracked in intracker as todo %s._', todo.id)))::text,
            repo)
    RETURNING d.id INTO call_id;
    PERFORM intracker_data.wake_deliverer();
    SELECT c.* INTO result FROM intracker.github_calls c WHERE c.id = call_id;
    RETURN result;
END
$$;
COMMENT ON FUNCTION intracker.create_github_issue(uuid) IS
    'Editors: the deliverer creates an issue for the todo in the project''s repository (as it is now: the call keeps it) and stores its number and URL on the todo. Returns the queued call (see intracker.github_calls).';

-- One inbound change to one todo, with optimistic locking: the version read
-- is written back, so a concurrent change makes this one fail (PT409) and
-- the conflict is recorded instead of silently overwritten.
CREATE FUNCTION intracker_data.apply_github_change(project uuid, event text, action text, issue integer,
                                                   pr integer, target_status text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    todo record;
    outcome text;
    detail text;
    results jsonb := '[]';
BEGIN
    FOR todo IN SELECT t.id, t.status, t.version FROM intracker_data.todos t
                 WHERE t.project_id = project AND t.github_issue = issue ORDER BY t.id LOOP
        detail := NULL;
        IF todo.status = target_status
           OR (target_status = 'todo' AND todo.status NOT IN ('done', 'cancelled')) THEN
            outcome := 'unchanged';
        ELSE
            BEGIN
                UPDATE intracker_data.todos t
                   SET status = target_status, version = todo.version, github_pr = coalesce(pr, t.github_pr)
                 WHERE t.id = todo.id;
                outcome := 'applied';
                detail := format('%s -> %s', todo.status, target_status);
            EXCEPTION
                WHEN SQLSTATE 'PT409' THEN
                    outcome := 'conflict';
                    detail := format('%s (wanted %s -> %s)', SQLERRM, todo.status, target_status);
                WHEN raise_exception OR check_violation OR SQLSTATE '23514' OR SQLSTATE '55000' THEN
                    outcome := 'rejected';
                    detail := SQLERRM;
            END;
        END IF;
        INSERT INTO intracker_data.github_inbound (project_id, event, action, issue_number, pr_number, todo_id, outcome, detail)
        VALUES (project, event, action, issue, pr, todo.id, outcome, detail);
        results := results || jsonb_build_object('todo_id', todo.id, 'outcome', outcome, 'detail', detail);
    END LOOP;
    IF results = '[]' THEN
        INSERT INTO intracker_data.github_inbound (project_id, event, action, issue_number, pr_number, outcome)
        VALUES (project, event, action, issue, pr, 'no linked todo');
        results := jsonb_build_array(jsonb_build_object('issue', issue, 'outcome', 'no linked todo'));
    END IF;
    RETURN results;
END
$$;
COMMENT ON FUNCTION intracker_data.apply_github_change(uuid, text, text, integer, integer, text) IS
    'github_webhook(): move the todos linked to an issue to target_status under optimistic locking; records each outcome in github_inbound.';

CREATE FUNCTION intracker.github_webhook(payload jsonb, signature text DEFAULT NULL, event text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    repo text := payload #>> '{repository,full_name}';
    action text := payload ->> 'action';
    headers jsonb := nullif(current_setting('request.headers', true), '')::jsonb;
    project record;
    verified uuid[] := '{}';
    results jsonb := '[]';
    pr integer;
    issue integer;
    pr_text text;
BEGIN
    -- Through PostgREST the signature and event arrive as headers.
    signature := coalesce(signature, headers ->> 'x-hub-signature-256');
    event := coalesce(event, headers ->> 'x-github-event');
    IF repo IS NULL OR event IS NULL THEN
        RAISE EXCEPTION 'not a GitHub webhook delivery'
            USING ERRCODE = '22023',
                  DETAIL = format('repository.full_name is %s, event is %s.', coalesce(repo, 'missing'), coalesce(event, 'missing')),
                  HINT = 'Pass the X-GitHub-Event header as event and the X-Hub-Signature-256 header as signature.';
    END IF;
    FOR project IN SELECT p.id, c.webhook_secret FROM intracker_data.projects p
                     JOIN intracker_data.github_credentials c ON c.project_id = p.id
                    WHERE lower(p.github_repo) = lower(repo) AND c.webhook_secret IS NOT NULL LOOP
        IF intracker_data.signature_matches(project.webhook_secret, payload::text, signature) THEN
            verified := verified || project.id;
        END IF;
    END LOOP;
    IF cardinality(verified) = 0 THEN
        RAISE EXCEPTION 'invalid webhook signature'
            USING ERRCODE = 'PT401',
                  DETAIL = format('No project linked to %s has a GitHub webhook secret that signs this payload.', repo),
                  HINT = 'Set the same secret in GitHub and with intracker.set_github_webhook_secret(); the signature covers the payload''s jsonb text.';
    END IF;

    FOR i IN 1 .. cardinality(verified) LOOP
        IF event = 'issues' AND action IN ('closed', 'reopened') THEN
            issue := (payload #>> '{issue,number}')::integer;
            results := results || intracker_data.apply_github_change(
                verified[i], event, action, issue, NULL,
                CASE WHEN action = 'reopened' THEN 'todo'
                     WHEN payload #>> '{issue,state_reason}' = 'not_planned' THEN 'cancelled'
                     ELSE 'done' END);
        ELSIF event = 'pull_request' AND action = 'closed' AND (payload #>> '{pull_request,merged}')::boolean THEN
            pr := (payload #>> '{pull_request,number}')::integer;
            pr_text := concat_ws(E'\n', payload #>> '{pull_request,title}', payload #>> '{pull_request,body}');
            FOR issue IN SELECT DISTINCT m[1]::integer
                           FROM regexp_matches(pr_text, '\m(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?):?\s+#([0-9]{1,9})\M', 'gi') AS m LOOP
                results := results || intracker_data.apply_github_change(verified[i], event, action, issue, pr, 'done');
            END LOOP;
            IF results = '[]' THEN
                INSERT INTO intracker_data.github_inbound (project_id, event, action, pr_number, outcome, detail)
                VALUES (verified[i], event, action, pr, 'ignored', 'the pull request names no issue with "Fixes #N"');
            END IF;
        ELSE
            INSERT INTO intracker_data.github_inbound (project_id, event, action, issue_number, pr_number, outcome)
            VALUES (verified[i], event, action, (payload #>> '{issue,number}')::integer,
                    (payload #>> '{pull_request,number}')::integer, 'ignored');
        END IF;
    END LOOP;
    RETURN jsonb_build_object('event', event, 'action', action, 'projects', to_jsonb(verified), 'results', results);
END
$$;
COMMENT ON FUNCTION intracker.github_webhook(jsonb, text, text) IS
    'Inbound GitHub webhook (PostgREST RPC): verifies signature (X-Hub-Signature-256, sha256=<hex HMAC>) with the GitHub webhook secret of the projects linked to payload.repository.full_name (PT401 when none matches), then applies: issues closed -> linked todos done (cancelled when not planned), reopened -> todo; a merged pull request saying "Fixes #N" -> the todos linked to #N done, with the PR recorded. Every outcome, conflicts included, is kept in intracker.github_inbound. signature and event default to the request''s X-Hub-Signature-256 and X-GitHub-Event headers.';

------------------------------------------------------------------------------
-- What the deliverer sends next (here, after both kinds of queue exist)
------------------------------------------------------------------------------

-- src/deliveries.c reads it: for every active queue
-- not in hand (busy), its next deliveries in order, at most chain_length,
-- with what sending them takes: URL, body, secret or token, or the problem
-- that makes one unsendable.  A SQL-standard body, bound to its objects
-- when created, and inlined into the deliverer's kept generic plan; the
-- GitHub columns are subqueries inside CASE, so that webhook rows never
-- touch todos (joins made the planner scan todos every time).  A GitHub
-- call goes to the repository it was queued for (deliveries.github_repo),
-- never to one the project was switched to since.
CREATE FUNCTION intracker_data.deliverer_next_deliveries(busy uuid[], github_api_url text, chain_length integer)
RETURNS TABLE (id uuid, queue_id uuid, is_github boolean, event_type text, body text, attempts integer,
               next_attempt_at timestamptz, url text, problem text, credential text, todo_id uuid)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH queues AS (
        SELECT w.id FROM intracker_data.webhooks w WHERE w.active
        UNION ALL
        SELECT c.project_id FROM intracker_data.github_credentials c WHERE c.token IS NOT NULL
    )
    SELECT d.id, d.queue_id, d.kind = 'github' AS is_github, d.event_type, d.body, d.attempts, d.next_attempt_at,
           CASE WHEN d.kind = 'webhook' THEN w.url
                ELSE pg_catalog.rtrim(deliverer_next_deliveries.github_api_url, '/') || '/repos/' || d.github_repo
                     || '/issues'
                     || CASE WHEN d.event_type = 'github.create_issue' THEN ''
                             ELSE '/' || coalesce((SELECT t.github_issue FROM intracker_data.todos t
                                                    WHERE t.id = d.todo_id),
                                                  (SELECT c.issue_number FROM intracker_data.deliveries c
                                                    WHERE c.todo_id = d.todo_id
                                                      AND c.event_type = 'github.create_issue'
                                                      AND c.state = 'delivered'
                                                    ORDER BY c.position DESC LIMIT 1)) END END AS url,
           CASE WHEN d.kind = 'webhook' THEN NULL
                WHEN d.github_repo IS NULL
                  THEN 'the project had no GitHub repository when the call was queued'
                WHEN (SELECT t.id FROM intracker_data.todos t WHERE t.id = d.todo_id) IS NULL
                  THEN 'the todo was deleted'
                ELSE 'the todo has no linked GitHub issue' END AS problem,
           CASE WHEN d.kind = 'webhook' THEN w.secret
                ELSE (SELECT c.token FROM intracker_data.github_credentials c WHERE c.project_id = d.project_id) END
             AS credential,
           d.todo_id
      FROM queues q
     CROSS JOIN LATERAL (SELECT * FROM intracker_data.deliveries d
                          WHERE d.queue_id = q.id AND d.state IN ('pending', 'failed')
                          ORDER BY d.position LIMIT deliverer_next_deliveries.chain_length) d
      LEFT JOIN intracker_data.webhooks w ON w.id = d.webhook_id
     WHERE q.id <> ALL (deliverer_next_deliveries.busy)
     ORDER BY q.id, d.position;
END;
COMMENT ON FUNCTION intracker_data.deliverer_next_deliveries(uuid[], text, integer) IS
    'The deliverer''s load: each active queue''s next deliveries (at most chain_length) but those of the busy queues, with URL, body, credential or the problem that stops one; secrets included, so for the deliverer only.';

GRANT SELECT ON intracker_data.github_inbound, intracker.github_calls, intracker.github_inbound,
    intracker.github_settings TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker.set_github_token(uuid, text), intracker.set_github_webhook_secret(uuid, text),
    intracker.link_github_issue(uuid, integer), intracker.create_github_issue(uuid),
    intracker_data.require_github(uuid, boolean), intracker.github_webhook(jsonb, text, text) TO intracker_user;
