-- test/pgtap/schema.sql — the shape of the installed extension.
--
-- Catalog checks that hold for every object, written as queries over the
-- catalogs ("find the objects that break the rule; expect none"), so that a
-- table, view or function added later without RLS, a comment, a pinned
-- search_path or a revoke fails here without anyone editing this file.
-- Runs as the superuser; nothing is created, everything is rolled back.
--
-- Deliberate exceptions to a rule are named in the rule's query (with the
-- reason next to it) and asserted on their own, so that a new object breaking
-- the rule still fails: the 0.3 progress counters (project_stats,
-- project_daily_done, feature_stats) are derived data (not dumped; since
-- 0.6 member_load is dumped), intracker.member_load, intracker.team_dashboard and
-- intracker.worker_status are read-only views, and the 0.4 event tables
-- (outbox, events) are written only by the extension's trigger and worker.
-- 0.5: intracker_data.github_credentials holds secrets and, like the outbox,
-- has no policy and no privilege for any API role (only SECURITY DEFINER
-- functions write it); intracker.github_settings is the one view that is not
-- security_invoker (it filters by membership itself); the 0.5 views are
-- read-only.

BEGIN;
SELECT plan(193);

------------------------------------------------------------------------------
-- Extension, schemas, roles, settings
------------------------------------------------------------------------------

SELECT has_extension('intracker', 'extension intracker is installed');
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'intracker'), '0.6',
          'intracker is at version 0.6');
SELECT is((SELECT default_version FROM pg_available_extensions WHERE name = 'intracker'), '0.6',
          'the control file''s default_version is 0.6');
SELECT is((SELECT path FROM pg_extension_update_paths('intracker') WHERE source = '0.1' AND target = '0.2'),
          '0.1--0.2', 'an installation at 0.1 updates to 0.2 in one step (intracker--0.1--0.2.sql)');
SELECT is((SELECT path FROM pg_extension_update_paths('intracker') WHERE source = '0.2' AND target = '0.3'),
          '0.2--0.3', 'an installation at 0.2 updates to 0.3 in one step (intracker--0.2--0.3.sql)');
SELECT is((SELECT path FROM pg_extension_update_paths('intracker') WHERE source = '0.1' AND target = '0.3'),
          '0.1--0.2--0.3', 'an installation at 0.1 updates to 0.3 through 0.2');
SELECT is((SELECT path FROM pg_extension_update_paths('intracker') WHERE source = '0.3' AND target = '0.4'),
          '0.3--0.4', 'an installation at 0.3 updates to 0.4 in one step (intracker--0.3--0.4.sql)');
SELECT is((SELECT path FROM pg_extension_update_paths('intracker') WHERE source = '0.1' AND target = '0.4'),
          '0.1--0.2--0.3--0.4', 'an installation at 0.1 updates to 0.4 through 0.2 and 0.3');
SELECT is((SELECT path FROM pg_extension_update_paths('intracker') WHERE source = '0.4' AND target = '0.5'),
          '0.4--0.5', 'an installation at 0.4 updates to 0.5 in one step (intracker--0.4--0.5.sql)');
SELECT is((SELECT path FROM pg_extension_update_paths('intracker') WHERE source = '0.1' AND target = '0.5'),
          '0.1--0.2--0.3--0.4--0.5', 'an installation at 0.1 updates to 0.5 through 0.2, 0.3 and 0.4');
SELECT is((SELECT path FROM pg_extension_update_paths('intracker') WHERE source = '0.5' AND target = '0.6'),
          '0.5--0.6', 'an installation at 0.5 updates to 0.6 in one step (intracker--0.5--0.6.sql)');
SELECT is((SELECT path FROM pg_extension_update_paths('intracker') WHERE source = '0.1' AND target = '0.6'),
          '0.1--0.2--0.3--0.4--0.5--0.6', 'an installation at 0.1 updates to 0.6 through every version');
SELECT has_schema('intracker', 'schema intracker (the API) exists');
SELECT has_schema('intracker_data', 'schema intracker_data (the storage) exists');
SELECT is_empty($$
    SELECT n.nspname FROM pg_namespace n
     WHERE n.nspname IN ('intracker', 'intracker_data')
       AND obj_description(n.oid, 'pg_namespace') IS NULL
$$, 'both schemas have a COMMENT');

SELECT has_role('intracker_user', 'role intracker_user exists');
SELECT has_role('intracker_admin', 'role intracker_admin exists');
SELECT is_member_of('intracker_user', ARRAY['intracker_admin'], 'intracker_admin is a member of intracker_user');
SELECT is_empty($$
    SELECT rolname FROM pg_roles
     WHERE rolname IN ('intracker_user', 'intracker_admin') AND (rolcanlogin OR rolsuper OR rolbypassrls)
$$, 'intracker_user and intracker_admin cannot log in, are not superusers and do not bypass RLS');

SELECT results_eq($$
    SELECT name, setting, context FROM pg_settings WHERE name LIKE 'intracker.%' ORDER BY name
$$, $$ VALUES ('intracker.acting_credential', '', 'superuser'),
              ('intracker.acting_user', '', 'superuser'),
              ('intracker.authenticator_role', 'authenticator', 'superuser'),
              ('intracker.context_max_bytes', '32768', 'user'),
              ('intracker.context_todo_limit', '10', 'user'),
              ('intracker.counter_check_interval', '3600', 'sighup'),
              ('intracker.database', 'postgres', 'postmaster'),
              ('intracker.event_retention', '7 days', 'sighup'),
              ('intracker.github_api_url', 'https://api.github.com', 'superuser'),
              ('intracker.history_retention', 'forever', 'sighup'),
              ('intracker.http_allow_private_networks', 'off', 'superuser'),
              ('intracker.http_allowed_hosts', '', 'superuser'),
              ('intracker.http_max_attempts', '10', 'sighup'),
              ('intracker.http_max_concurrency', '32', 'sighup'),
              ('intracker.http_retry_base_delay', '1000', 'sighup'),
              ('intracker.http_timeout', '10000', 'sighup'),
              ('intracker.jwt_lifetime', '3600', 'superuser'),
              ('intracker.jwt_role', 'web_user', 'superuser'),
              ('intracker.login_failure_window', '900', 'sighup'),
              ('intracker.login_max_failures', '10', 'sighup'),
              ('intracker.max_databases', '8', 'postmaster'),
              ('intracker.publish_batch_size', '1000', 'sighup'),
              ('intracker.search_config', 'simple', 'user'),
              ('intracker.webhook_disable_after_dead', '10', 'sighup'),
              ('intracker.webhook_disable_after_failing', '86400', 'sighup') $$,
  'the GUCs exist with their defaults: only superusers (or act_as and authenticate) set the identity ones, the JWT''s and where HTTP may go, any user the context limits; the databases served and how many at server start, the worker''s tunables on reload (intracker.jwt_secret is hidden from pg_settings, see below)');
SELECT results_eq($$
    SELECT name, vartype, coalesce(unit, ''), min_val, max_val FROM pg_settings
     WHERE name IN ('intracker.jwt_lifetime', 'intracker.login_failure_window', 'intracker.login_max_failures') ORDER BY name
$$, $$ VALUES ('intracker.jwt_lifetime', 'integer', 's', '60', '2592000'),
              ('intracker.login_failure_window', 'integer', 's', '1', '86400'),
              ('intracker.login_max_failures', 'integer', '', '1', '1000') $$,
  '0.6: a JWT lives 1 minute to 30 days; failed logins are counted over 1 s to 1 day, 1 to 1000 of them lock an email');
SELECT is_empty($$SELECT FROM pg_settings WHERE name = 'intracker.jwt_secret'$$,
                '0.6: intracker.jwt_secret is not in pg_settings, not even for a superuser (GUC_NO_SHOW_ALL)');
SELECT is(current_setting('intracker.jwt_secret'), '', '... but a superuser reads it by name (empty by default)');
SELECT results_eq($$
    SELECT name, vartype, coalesce(unit, ''), min_val, max_val FROM pg_settings
     WHERE name IN ('intracker.context_max_bytes', 'intracker.context_todo_limit') ORDER BY name
$$, $$ VALUES ('intracker.context_max_bytes', 'integer', 'B', '1024', '16777216'),
              ('intracker.context_todo_limit', 'integer', '', '0', '1000') $$,
  'context_max_bytes is in bytes (1 kB to 16 MB), context_todo_limit 0 to 1000');
SELECT results_eq($$
    SELECT name, vartype, coalesce(unit, ''), min_val, max_val FROM pg_settings
     WHERE name IN ('intracker.http_max_concurrency', 'intracker.http_timeout', 'intracker.http_max_attempts',
                    'intracker.http_retry_base_delay') ORDER BY name
$$, $$ VALUES ('intracker.http_max_attempts', 'integer', '', '1', '100'),
              ('intracker.http_max_concurrency', 'integer', '', '1', '1000'),
              ('intracker.http_retry_base_delay', 'integer', 'ms', '10', '3600000'),
              ('intracker.http_timeout', 'integer', 'ms', '100', '600000') $$,
  'the HTTP tunables: 1 to 1000 requests in flight, a timeout of 100 ms to 10 min, 1 to 100 attempts, a first retry after 10 ms to 1 h');
SELECT results_eq($$
    SELECT name, vartype, coalesce(unit, ''), min_val, max_val FROM pg_settings
     WHERE name IN ('intracker.webhook_disable_after_dead', 'intracker.webhook_disable_after_failing') ORDER BY name
$$, $$ VALUES ('intracker.webhook_disable_after_dead', 'integer', '', '0', '1000000'),
              ('intracker.webhook_disable_after_failing', 'integer', 's', '0', '2147483647') $$,
  '0.6: a failing webhook is disabled after 0 (never) to a million dead deliveries in a row, or after a time of failure in seconds (0: never)');

------------------------------------------------------------------------------
-- Tables (schema intracker_data)
------------------------------------------------------------------------------

SELECT tables_are('intracker_data',
    ARRAY['users', 'projects', 'project_members', 'features', 'todos', 'todo_dependencies', 'sessions',
          'member_load', 'project_stats', 'project_daily_done', 'feature_stats', 'outbox', 'events',
          'webhooks', 'github_credentials', 'deliveries', 'github_inbound', 'dead_events', 'webhook_health',
          'deleted_delivery_parents', 'api_tokens', 'user_passwords', 'comments', 'notifications', 'documents', 'history'],
    'intracker_data holds exactly the seven data tables, the derived member_load and progress counters, the event outbox and log, the 0.5 webhooks, GitHub credentials, deliveries and inbound GitHub log, and the 0.6 dead events, the deliverer''s count of failing webhooks, its list of recently deleted parents, API tokens, passwords, comments, notifications, documents and history');

-- Every table, present or future, has row-level security enabled.
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace = 'intracker_data'::regnamespace
       AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity
$$, 'every table in intracker_data has row-level security enabled');
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace = 'intracker_data'::regnamespace AND c.relkind IN ('r', 'p')
       AND NOT EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = c.oid AND p.polcmd IN ('r', '*'))
       AND c.oid <> 'intracker_data.outbox'::regclass  -- owner-only on purpose, asserted below
       AND c.oid <> 'intracker_data.github_credentials'::regclass  -- secrets: owner-only on purpose, asserted below
       AND c.oid <> 'intracker_data.dead_events'::regclass  -- owner-only like the outbox, asserted below
       AND c.oid <> 'intracker_data.webhook_health'::regclass  -- the deliverer's: owner-only on purpose, asserted below
       AND c.oid <> 'intracker_data.deleted_delivery_parents'::regclass  -- the deliverer's too, asserted below
       AND c.oid <> 'intracker_data.user_passwords'::regclass  -- secrets: owner-only on purpose, asserted below
$$, 'every table in intracker_data has a SELECT policy (RLS without one would hide everything)');
SELECT ok(NOT EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = 'intracker_data.user_passwords'::regclass)
          AND NOT has_table_privilege('intracker_user', 'intracker_data.user_passwords', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
          AND NOT has_table_privilege('intracker_admin', 'intracker_data.user_passwords', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
          AND NOT has_any_column_privilege('intracker_user', 'intracker_data.user_passwords', 'SELECT, INSERT, UPDATE, REFERENCES'),
          '0.6: intracker_data.user_passwords: no policy and no privilege for API roles, not even on one column');
SELECT ok(NOT has_column_privilege('intracker_user', 'intracker_data.api_tokens', 'token_hash', 'SELECT')
          AND NOT has_table_privilege('intracker_user', 'intracker_data.api_tokens', 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
          AND NOT has_table_privilege('intracker_admin', 'intracker_data.api_tokens', 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
          AND NOT has_any_column_privilege('intracker_user', 'intracker_data.api_tokens', 'INSERT, UPDATE, REFERENCES'),
          '0.6: intracker_data.api_tokens: users read all but token_hash, under RLS, and write nothing (the token functions do)');
-- 0.6: the dead events are the outbox's set-aside rows: no policy, no privilege.
SELECT ok(NOT EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = 'intracker_data.dead_events'::regclass)
          AND NOT has_table_privilege('intracker_user', 'intracker_data.dead_events', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
          AND NOT has_table_privilege('intracker_admin', 'intracker_data.dead_events', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
          'intracker_data.dead_events: no policy and no privilege for API roles (requeue_dead_events is the way back)');
-- 0.4: nobody but the extension's owner (the trigger, the worker) touches the
-- outbox, so nobody can forge an event; users read published events under RLS.
SELECT is_empty($$
    SELECT p.polname FROM pg_policy p WHERE p.polrelid = 'intracker_data.outbox'::regclass
$$, 'intracker_data.outbox has no policy: with RLS on, only its owner sees it');
SELECT ok(NOT has_table_privilege('intracker_user', 'intracker_data.outbox', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
          AND NOT has_table_privilege('intracker_admin', 'intracker_data.outbox', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
          AND NOT has_sequence_privilege('intracker_user', 'intracker_data.outbox_id_seq', 'USAGE, SELECT, UPDATE'),
          'intracker_user and intracker_admin have no privilege on the outbox or its sequence');
-- 0.5: the GitHub credentials (token, webhook secret) likewise: written only
-- by the SECURITY DEFINER set_github_token / set_github_webhook_secret, read
-- only by the worker and github_webhook(); members see intracker.github_settings.
SELECT is_empty($$
    SELECT p.polname FROM pg_policy p WHERE p.polrelid = 'intracker_data.github_credentials'::regclass
$$, 'intracker_data.github_credentials has no policy: with RLS on, only its owner sees it');
SELECT ok(NOT has_table_privilege('intracker_user', 'intracker_data.github_credentials', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
          AND NOT has_table_privilege('intracker_admin', 'intracker_data.github_credentials', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
          AND NOT has_any_column_privilege('intracker_user', 'intracker_data.github_credentials', 'SELECT, INSERT, UPDATE, REFERENCES')
          AND NOT has_any_column_privilege('intracker_admin', 'intracker_data.github_credentials', 'SELECT, INSERT, UPDATE, REFERENCES'),
          'intracker_user and intracker_admin have no privilege on intracker_data.github_credentials, not even on one column');
-- 0.6: the deliverer's count of failing webhooks: nobody else reads or
-- writes it, so no user can hold a lock the deliverer would wait for.
SELECT is_empty($$
    SELECT p.polname FROM pg_policy p WHERE p.polrelid = 'intracker_data.webhook_health'::regclass
$$, 'intracker_data.webhook_health has no policy: with RLS on, only its owner sees it');
SELECT ok(NOT has_table_privilege('intracker_user', 'intracker_data.webhook_health', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
          AND NOT has_table_privilege('intracker_admin', 'intracker_data.webhook_health', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'),
          'intracker_user and intracker_admin have no privilege on intracker_data.webhook_health');
-- ... and the projects and webhooks deleted lately, written by the
-- (SECURITY DEFINER) delete trigger and read by the deliverer only.
SELECT ok(NOT EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = 'intracker_data.deleted_delivery_parents'::regclass)
          AND NOT has_table_privilege('intracker_user', 'intracker_data.deleted_delivery_parents', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
          AND NOT has_table_privilege('intracker_admin', 'intracker_data.deleted_delivery_parents', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'),
          'intracker_data.deleted_delivery_parents: no policy and no privilege for API roles');
-- The webhooks: owners read them under RLS, but never the secret column;
-- the deliveries and the inbound log are read-only for users (the worker and
-- the SECURITY DEFINER API write them).
SELECT policies_are('intracker_data', 'webhooks', ARRAY['webhooks_select'],
    'webhooks: a SELECT policy only (create_webhook and friends write it)');
SELECT policies_are('intracker_data', 'deliveries', ARRAY['deliveries_select'],
    'deliveries: a SELECT policy only (the worker and the API functions write it)');
SELECT policies_are('intracker_data', 'github_inbound', ARRAY['github_inbound_select'],
    'github_inbound: a SELECT policy only (github_webhook writes it)');
SELECT is_empty($$
    SELECT p.polrelid::regclass, p.polname FROM pg_policy p
     WHERE p.polrelid IN ('intracker_data.webhooks'::regclass, 'intracker_data.deliveries'::regclass,
                          'intracker_data.github_inbound'::regclass)
       AND p.polcmd <> 'r'
$$, 'every policy of webhooks, deliveries and github_inbound is a SELECT policy');
SELECT ok(NOT has_column_privilege('intracker_user', 'intracker_data.webhooks', 'secret', 'SELECT')
          AND NOT has_column_privilege('intracker_admin', 'intracker_data.webhooks', 'secret', 'SELECT')
          AND has_column_privilege('intracker_user', 'intracker_data.webhooks', 'signed', 'SELECT'),
          'intracker_user and intracker_admin cannot read webhooks.secret (only whether one is set: signed)');
SELECT is_empty($$
    SELECT c.relname, r.rolname FROM pg_class c
     CROSS JOIN (VALUES ('intracker_user'), ('intracker_admin')) AS r (rolname)
     WHERE c.oid IN ('intracker_data.webhooks'::regclass, 'intracker_data.deliveries'::regclass,
                     'intracker_data.github_inbound'::regclass)
       AND (has_table_privilege(r.rolname, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
            OR has_any_column_privilege(r.rolname, c.oid, 'INSERT, UPDATE, REFERENCES'))
$$, 'intracker_user and intracker_admin cannot write webhooks, deliveries or github_inbound directly');
SELECT ok(NOT has_sequence_privilege('intracker_user', 'intracker_data.delivery_position_seq', 'USAGE, SELECT, UPDATE')
          AND NOT has_sequence_privilege('intracker_admin', 'intracker_data.delivery_position_seq', 'USAGE, SELECT, UPDATE'),
          'intracker_user and intracker_admin have no privilege on the delivery order sequence');
SELECT policies_are('intracker_data', 'events', ARRAY['events_select'],
    'events: a SELECT policy only (the publisher writes it)');
-- 0.6: events carry sessions' working notes, which viewers may not read:
-- users read events through intracker.events only, which applies that rule.
SELECT ok(NOT has_table_privilege('intracker_user', 'intracker_data.events', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
          AND NOT has_any_column_privilege('intracker_user', 'intracker_data.events', 'SELECT')
          AND NOT has_table_privilege('intracker_admin', 'intracker_data.events', 'INSERT, UPDATE, DELETE, TRUNCATE'),
          'intracker_user cannot read intracker_data.events (only intracker.events), and nobody but the owner writes it');
SELECT ok(NOT has_column_privilege('intracker_user', 'intracker_data.sessions', 'summary', 'SELECT')
          AND NOT has_column_privilege('intracker_user', 'intracker_data.sessions', 'next_steps', 'SELECT')
          AND has_column_privilege('intracker_user', 'intracker_data.sessions', 'goal', 'SELECT'),
          'intracker_user cannot read the working notes (summary, next_steps) of intracker_data.sessions, only through intracker.sessions');
SELECT set_eq($$
    SELECT c.relname::text COLLATE "default" FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
     WHERE t.tgfoid = 'intracker_data.record_event'::regproc AND t.tgenabled = 'O'
       AND t.tgtype & 1 = 1 AND t.tgtype & 2 = 0        -- FOR EACH ROW, AFTER
       AND t.tgtype & (4 | 8 | 16) = (4 | 8 | 16)       -- INSERT, DELETE and UPDATE
$$, ARRAY['projects', 'project_members', 'features', 'todos', 'todo_dependencies', 'sessions', 'comments', 'documents'],
  'the eight tables teams follow carry the enabled AFTER INSERT OR UPDATE OR DELETE row trigger record_event');

-- The policy set of each table: what each command may do (the RLS suite tests their effect).
SELECT policies_are('intracker_data', 'users',
    ARRAY['users_select', 'users_update_self', 'users_insert_admin', 'users_update_admin'],
    'users: select, update self, admin insert, admin update (set_user_active)');
SELECT policy_roles_are('intracker_data', 'users', 'users_update_admin', ARRAY['intracker_admin'],
    'users_update_admin applies to intracker_admin only');
SELECT policy_cmd_is('intracker_data', 'users', 'users_update_admin', 'update',
    'users_update_admin is an UPDATE policy');
SELECT policies_are('intracker_data', 'projects',
    ARRAY['projects_select', 'projects_update', 'projects_delete'], 'projects: select, update, delete (insert via create_project)');
SELECT policies_are('intracker_data', 'project_members',
    ARRAY['project_members_select', 'project_members_insert', 'project_members_update', 'project_members_delete'],
    'project_members: one policy per command');
SELECT policies_are('intracker_data', 'features',
    ARRAY['features_select', 'features_insert', 'features_update', 'features_delete'], 'features: one policy per command');
SELECT policies_are('intracker_data', 'todos',
    ARRAY['todos_select', 'todos_insert', 'todos_update', 'todos_delete'], 'todos: one policy per command');
SELECT policies_are('intracker_data', 'todo_dependencies',
    ARRAY['todo_dependencies_select', 'todo_dependencies_insert', 'todo_dependencies_delete'],
    'todo_dependencies: select, insert, delete (no update)');
SELECT policies_are('intracker_data', 'sessions',
    ARRAY['sessions_select', 'sessions_insert', 'sessions_update', 'sessions_delete'], 'sessions: one policy per command');
-- member_load is written only by the counter triggers: users read it, nothing more.
SELECT policies_are('intracker_data', 'member_load', ARRAY['member_load_select'],
    'member_load: a SELECT policy only (the triggers write it)');
SELECT policy_cmd_is('intracker_data', 'member_load', 'member_load_select', 'select',
    'member_load_select is a SELECT policy');
SELECT ok(has_table_privilege('intracker_user', 'intracker_data.member_load', 'SELECT')
          AND NOT has_table_privilege('intracker_user', 'intracker_data.member_load', 'INSERT, UPDATE, DELETE, TRUNCATE')
          AND NOT has_table_privilege('intracker_admin', 'intracker_data.member_load', 'INSERT, UPDATE, DELETE, TRUNCATE'),
          'intracker_user (and intracker_admin) may read intracker_data.member_load but not write it');
-- 0.3: the progress counters likewise (written by the C trigger progress_counter).
SELECT policies_are('intracker_data', 'project_stats', ARRAY['project_stats_select'],
    'project_stats: a SELECT policy only (the trigger writes it)');
SELECT policies_are('intracker_data', 'project_daily_done', ARRAY['project_daily_done_select'],
    'project_daily_done: a SELECT policy only (the trigger writes it)');
SELECT policies_are('intracker_data', 'feature_stats', ARRAY['feature_stats_select'],
    'feature_stats: a SELECT policy only (the trigger writes it)');
SELECT is_empty($$
    SELECT p.polrelid::regclass, p.polname FROM pg_policy p
     WHERE p.polrelid IN ('intracker_data.project_stats'::regclass, 'intracker_data.project_daily_done'::regclass,
                          'intracker_data.feature_stats'::regclass)
       AND p.polcmd <> 'r'
$$, 'every policy of the progress counter tables is a SELECT policy');
SELECT is_empty($$
    SELECT c.relname, r.rolname FROM pg_class c
     CROSS JOIN (VALUES ('intracker_user'), ('intracker_admin')) AS r (rolname)
     WHERE c.oid IN ('intracker_data.project_stats'::regclass, 'intracker_data.project_daily_done'::regclass,
                     'intracker_data.feature_stats'::regclass)
       AND (NOT has_table_privilege(r.rolname, c.oid, 'SELECT')
            OR has_table_privilege(r.rolname, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'))
$$, 'intracker_user and intracker_admin may read the progress counter tables but not write them');
SELECT is_empty($$
    SELECT p.polname FROM pg_policy p
      JOIN pg_class c ON c.oid = p.polrelid
     WHERE c.relnamespace = 'intracker_data'::regnamespace AND NOT p.polpermissive
$$, 'no restrictive policies (the matrix in rls.sql assumes permissive ones)');

-- pg_dump keeps the rows of an extension table only if it is registered.
-- The exceptions are derived data: the progress counters are rebuilt by
-- their trigger when pg_restore inserts the todos, so dumping them would
-- count everything twice.  Any other table must be registered.
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace = 'intracker_data'::regnamespace AND c.relkind IN ('r', 'p')
       AND c.relname NOT IN ('project_stats', 'project_daily_done', 'feature_stats',  -- derived data, see above
                             'webhook_health',  -- the deliverer's running count: a restore starts it afresh
                             'deleted_delivery_parents')  -- transient: a restore has no delete in progress
       AND c.oid <> ALL (coalesce((SELECT e.extconfig FROM pg_extension e WHERE e.extname = 'intracker'), '{}'))
$$, 'every table in intracker_data except the derived progress counters, webhook_health and deleted_delivery_parents is registered with pg_extension_config_dump');
-- 0.6: the event log, the outbox and member_load are dumped and restored as
-- they were; the restored rows queue no event and count nothing in
-- member_load (its last_assigned_at is history no row implies).  0.5 left
-- the outbox and member_load out: a restore queued a *.created event per
-- row, and reset every last_assigned_at.
SELECT ok((SELECT ARRAY['intracker_data.events'::regclass::oid, 'intracker_data.outbox'::regclass::oid,
                        'intracker_data.member_load'::regclass::oid]
                  <@ e.extconfig FROM pg_extension e WHERE e.extname = 'intracker'),
          'the event log, the outbox and member_load are registered with pg_extension_config_dump');
-- A sequence's position is dumped only when the sequence itself is
-- registered (marking its table is not enough, not even for an identity
-- column): otherwise a restored database hands out ids that the restored
-- rows already have.
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace = 'intracker_data'::regnamespace AND c.relkind = 'S'
       AND c.oid <> ALL (coalesce((SELECT e.extconfig FROM pg_extension e WHERE e.extname = 'intracker'), '{}'))
$$, 'every sequence in intracker_data is registered with pg_extension_config_dump (its position is dumped)');
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
     WHERE c.oid IN ('intracker_data.project_stats'::regclass, 'intracker_data.project_daily_done'::regclass,
                     'intracker_data.feature_stats'::regclass)
       AND c.oid = ANY (coalesce((SELECT e.extconfig FROM pg_extension e WHERE e.extname = 'intracker'), '{}'))
$$, 'project_stats, project_daily_done and feature_stats (derived, rebuilt by the trigger on restore) are deliberately NOT registered with pg_extension_config_dump');
SELECT results_eq($$
    SELECT c.conrelid::regclass::text COLLATE "default", c.confrelid::regclass::text COLLATE "default", c.confdeltype::text
      FROM pg_constraint c
     WHERE c.contype = 'f' AND c.conrelid IN ('intracker_data.project_stats'::regclass,
                                              'intracker_data.project_daily_done'::regclass,
                                              'intracker_data.feature_stats'::regclass)
     ORDER BY 1
$$, $$ VALUES ('intracker_data.feature_stats', 'intracker_data.features', 'c'),
              ('intracker_data.project_daily_done', 'intracker_data.projects', 'c'),
              ('intracker_data.project_stats', 'intracker_data.projects', 'c') $$,
  'the progress counter rows belong to their project or feature and go with it (FK ON DELETE CASCADE)');
SELECT results_eq($$
    SELECT c.relname::text COLLATE "default", pg_get_indexdef(i.indexrelid) FROM pg_index i
      JOIN pg_class c ON c.oid = i.indrelid
     WHERE i.indisprimary AND i.indrelid IN ('intracker_data.project_stats'::regclass,
                                             'intracker_data.project_daily_done'::regclass,
                                             'intracker_data.feature_stats'::regclass)
     ORDER BY 1
$$, $$ VALUES
    ('feature_stats', 'CREATE UNIQUE INDEX feature_stats_pkey ON intracker_data.feature_stats USING btree (feature_id, slot, generation)'),
    ('project_daily_done', 'CREATE UNIQUE INDEX project_daily_done_pkey ON intracker_data.project_daily_done USING btree (project_id, day, slot, generation)'),
    ('project_stats', 'CREATE UNIQUE INDEX project_stats_pkey ON intracker_data.project_stats USING btree (project_id, slot, generation)') $$,
  'the progress counters are sharded and versioned: rows per project (and day) or feature, writer slot and generation');
SELECT is((SELECT c.confdeltype FROM pg_constraint c WHERE c.conname = 'member_load_member'
              AND c.conrelid = 'intracker_data.member_load'::regclass
              AND c.confrelid = 'intracker_data.project_members'::regclass),
          'c', 'a member_load row belongs to its membership and goes with it (FK ON DELETE CASCADE)');
SELECT is((SELECT array_length(extconfig, 1) = array_length(extcondition, 1)
                  AND '' = ALL (extcondition)
             FROM pg_extension WHERE extname = 'intracker'),
          true, 'pg_dump dumps all rows of every registered table (empty filter condition)');

-- Every foreign key is backed by an index whose leading columns are the
-- key's columns (in any order), so cascades and joins do not scan.  A
-- partial index does not count.
SELECT is_empty($$
    SELECT c.conrelid::regclass AS tbl, c.conname
      FROM pg_constraint c
     WHERE c.contype = 'f' AND c.connamespace = 'intracker_data'::regnamespace
       AND NOT EXISTS (
            SELECT FROM pg_index i
             WHERE i.indrelid = c.conrelid AND i.indpred IS NULL
               AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey)
$$, 'every foreign key in intracker_data has an index on its columns');
SELECT cmp_ok((SELECT count(*)::int FROM pg_constraint c
                WHERE c.contype = 'f' AND c.connamespace = 'intracker_data'::regnamespace),
              '>=', 15, 'the foreign-key index check above had foreign keys to look at');
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'project_id' AND NOT a.attisdropped
     WHERE c.relnamespace = 'intracker_data'::regnamespace AND c.relkind = 'r'
       AND NOT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.oid AND i.indpred IS NULL
                                              AND i.indkey[0] = a.attnum)
       AND c.oid <> 'intracker_data.outbox'::regclass  -- a queue: read in id order only
       AND c.oid <> 'intracker_data.dead_events'::regclass  -- set aside, read by operators only
$$, 'every table with a project_id has an index leading with project_id (the hot path)');
SELECT has_index('intracker_data', 'users', 'users_email_key', 'users has an index on lower(email)');
SELECT is((SELECT indisunique AND pg_get_indexdef(indexrelid) LIKE '%lower(email)%'
             FROM pg_index WHERE indexrelid = 'intracker_data.users_email_key'::regclass),
          true, 'emails are unique regardless of case');
SELECT is((SELECT indisunique AND pg_get_expr(indpred, indrelid) LIKE '%ended_at IS NULL%'
             FROM pg_index WHERE indexrelid = 'intracker_data.sessions_one_open_per_user'::regclass),
          true, 'a partial unique index allows one open session per user and project');

-- Versioned tables carry the C row-version trigger.  (The version of an
-- event is the version its entity reached, not a version of the event row.)
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'version' AND NOT a.attisdropped
     WHERE c.relnamespace = 'intracker_data'::regnamespace AND c.relkind = 'r'
       AND c.relname NOT IN ('outbox', 'events', 'dead_events', 'history')
       AND NOT EXISTS (SELECT FROM pg_trigger t
                        WHERE t.tgrelid = c.oid AND t.tgfoid = 'intracker_data.row_version'::regproc
                          AND t.tgenabled = 'O')
$$, 'every table with a version column has the enabled row_version trigger');
SELECT set_eq($$
    SELECT c.relname::text COLLATE "default" FROM pg_class c
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'version' AND NOT a.attisdropped
     WHERE c.relnamespace = 'intracker_data'::regnamespace AND c.relkind = 'r'
       AND c.relname NOT IN ('outbox', 'events', 'dead_events', 'history')
$$, ARRAY['projects', 'features', 'todos', 'comments', 'documents'], 'projects, features, todos, comments and documents are versioned');
SELECT function_lang_is('intracker_data', 'row_version', '{}'::name[], 'c', 'the row-version trigger is written in C');
SELECT trigger_is('intracker_data', 'todos', 'todos_blocker_gate', 'intracker_data', 'todos_blocker_gate',
                  'todos have the dependency gate trigger');
SELECT trigger_is('intracker_data', 'todo_dependencies', 'todo_dependencies_no_cycle', 'intracker_data',
                  'todo_dependencies_no_cycle', 'todo_dependencies have the cycle check trigger');
SELECT trigger_is('intracker_data', 'project_members', 'project_members_keep_owner', 'intracker_data',
                  'project_keeps_an_owner', 'project_members have the last-owner trigger');

-- 0.2: the load counters and the claim-order counters; 0.6: the counters
-- are kept per statement, from transition tables (issue 13).
SELECT set_eq($$
    SELECT t.tgrelid::regclass::text, t.tgname::text, p.proname::text FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
     WHERE p.proname IN ('member_load_counter', 'progress_counter') AND p.pronamespace = 'intracker_data'::regnamespace
$$, $$ VALUES
    ('intracker_data.todos', 'todos_member_load_insert', 'member_load_counter'),
    ('intracker_data.todos', 'todos_member_load_update', 'member_load_counter'),
    ('intracker_data.todos', 'todos_member_load_delete', 'member_load_counter'),
    ('intracker_data.features', 'features_member_load_insert', 'member_load_counter'),
    ('intracker_data.features', 'features_member_load_update', 'member_load_counter'),
    ('intracker_data.features', 'features_member_load_delete', 'member_load_counter'),
    ('intracker_data.todos', 'todos_progress_insert', 'progress_counter'),
    ('intracker_data.todos', 'todos_progress_update', 'progress_counter'),
    ('intracker_data.todos', 'todos_progress_delete', 'progress_counter')
$$, 'todos and features keep member_load and the progress counters with a trigger per event');
SELECT function_lang_is('intracker_data', 'member_load_counter', '{}'::name[], 'c',
                        'the member_load counter trigger is written in C');
SELECT is_empty($$
    SELECT t.tgrelid::regclass, t.tgname FROM pg_trigger t
     WHERE t.tgfoid IN ('intracker_data.member_load_counter'::regproc, 'intracker_data.progress_counter'::regproc)
       AND NOT (t.tgenabled = 'O' AND t.tgtype::int & 1 = 0        -- FOR EACH STATEMENT
                AND t.tgtype::int & (2 | 64) = 0                   -- AFTER
                AND (t.tgtype::int & 4 = 0 OR t.tgnewtable IS NOT NULL)    -- INSERT: NEW TABLE
                AND (t.tgtype::int & 8 = 0 OR t.tgoldtable IS NOT NULL)    -- DELETE: OLD TABLE
                AND (t.tgtype::int & 16 = 0 OR (t.tgoldtable IS NOT NULL AND t.tgnewtable IS NOT NULL)))
$$, 'every counter trigger is enabled, AFTER ... FOR EACH STATEMENT, with its event''s transition tables');
SELECT trigger_is('intracker_data', 'project_members', 'project_members_create_load', 'intracker_data',
                  'create_member_load', 'a new membership gets its member_load row');
SELECT trigger_is('intracker_data', 'users', 'users_unassign_deactivated', 'intracker_data',
                  'unassign_deactivated', 'deactivating a user unassigns their open work');
SELECT trigger_is('intracker_data', 'todos', 'todos_init_counters', 'intracker_data', 'todos_init_counters',
                  'todos start with fresh claim-order counters');
SELECT trigger_is('intracker_data', 'todo_dependencies', 'todo_dependencies_counters', 'intracker_data',
                  'dependency_counters', 'dependencies keep the blocker/dependent counters');
SELECT trigger_is('intracker_data', 'todos', 'todos_openness_counters', 'intracker_data', 'todo_openness_counters',
                  'closing or reopening a todo keeps the counters of its neighbours');
SELECT trigger_is('intracker_data', 'features', 'features_active_counters', 'intracker_data',
                  'feature_active_counters', 'a feature''s status keeps todos.feature_active');
SELECT results_eq($$
    SELECT c.relname::text COLLATE "default", pg_get_indexdef(i.indexrelid) FROM pg_index i
      JOIN pg_class c ON c.oid = i.indexrelid
     WHERE c.relname IN ('todos_claim_unassigned', 'todos_claim_assigned', 'todos_in_progress_by_assignee')
       AND c.relnamespace = 'intracker_data'::regnamespace
     ORDER BY 1
$$, $$ VALUES
    ('todos_claim_assigned', 'CREATE INDEX todos_claim_assigned ON intracker_data.todos USING btree (project_id, assigned_to, '
        'priority_rank DESC, feature_active DESC, open_dependent_count DESC, due_date, created_at, id) '
        'WHERE ((status = ''todo''::text) AND (open_blocker_count = 0) AND (assigned_to IS NOT NULL))'),
    ('todos_claim_unassigned', 'CREATE INDEX todos_claim_unassigned ON intracker_data.todos USING btree (project_id, '
        'priority_rank DESC, feature_active DESC, open_dependent_count DESC, due_date, created_at, id) '
        'WHERE ((status = ''todo''::text) AND (open_blocker_count = 0) AND (assigned_to IS NULL))'),
    ('todos_in_progress_by_assignee', 'CREATE INDEX todos_in_progress_by_assignee ON intracker_data.todos USING btree '
        '(project_id, assigned_to, updated_at, id) WHERE (status = ''in_progress''::text)') $$,
  'claim order: claimable todos (status todo, no open blocker) per project, unassigned and per assignee, and who is working on what');

-- 0.3: the progress counters and the context documents' indexes (their
-- triggers: with member_load's above).
SELECT function_lang_is('intracker_data', 'progress_counter', '{}'::name[], 'c',
                        'the progress counter trigger is written in C');
SELECT ok(NOT has_function_privilege('intracker_user', 'intracker_data.progress_counter()', 'EXECUTE'),
          'intracker_user cannot call the progress_counter trigger function');
SELECT results_eq($$
    SELECT c.relname::text COLLATE "default", pg_get_indexdef(i.indexrelid) FROM pg_index i
      JOIN pg_class c ON c.oid = i.indexrelid
     WHERE c.relname IN ('todos_member_open', 'todos_blocked_open') AND c.relnamespace = 'intracker_data'::regnamespace
     ORDER BY 1
$$, $$ VALUES
    ('todos_blocked_open', 'CREATE INDEX todos_blocked_open ON intracker_data.todos USING btree (project_id, priority_rank DESC, '
        'created_at, id) WHERE ((status <> ALL (ARRAY[''done''::text, ''cancelled''::text])) AND ((status = ''blocked''::text) '
        'OR (open_blocker_count > 0)))'),
    ('todos_member_open', 'CREATE INDEX todos_member_open ON intracker_data.todos USING btree (project_id, assigned_to, '
        'priority_rank DESC, due_date, created_at, id) WHERE (status <> ALL (ARRAY[''done''::text, ''cancelled''::text]))') $$,
  'team_context reads open todos per member in importance order and blocked todos per project from partial indexes of open todos');

-- Internal todo columns: counters kept by triggers (and the generated
-- priority_rank) that drive claim order, and the generated search vector.  The rule: the columns of
-- intracker_data.todos that intracker.todos does not expose are exactly the
-- generated ones plus those the row-version trigger is told to ignore, and
-- API users can write none of them.
SELECT set_eq($$
    SELECT a.attname::text COLLATE "default" FROM pg_attribute a
     WHERE a.attrelid = 'intracker_data.todos'::regclass AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname NOT IN (SELECT column_name FROM information_schema.columns
                              WHERE table_schema = 'intracker' AND table_name = 'todos')
$$, ARRAY['priority_rank', 'open_blocker_count', 'open_dependent_count', 'feature_active', 'search_vector'],
  'intracker.todos deliberately hides exactly the internal columns priority_rank, open_blocker_count, open_dependent_count, feature_active and (0.6) the generated search_vector');
SELECT set_eq($$
    SELECT a.attname::text COLLATE "default" FROM pg_attribute a
     WHERE a.attrelid = 'intracker_data.todos'::regclass AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname NOT IN (SELECT column_name FROM information_schema.columns
                              WHERE table_schema = 'intracker' AND table_name = 'todos')
    EXCEPT
    SELECT a.attname FROM pg_attribute a
     WHERE a.attrelid = 'intracker_data.todos'::regclass AND a.attgenerated <> ''
$$, $$
    SELECT arg FROM pg_trigger t,
           unnest((array_remove(string_to_array(encode(t.tgargs, 'escape'), '\000'), ''))[2:]) AS arg
     WHERE t.tgrelid = 'intracker_data.todos'::regclass AND t.tgname = 'todos_row_version'
$$, 'the hidden non-generated todo columns are exactly the ones the row-version trigger ignores (no version bump)');
SELECT is_empty($$
    SELECT a.attname FROM pg_attribute a
     WHERE a.attrelid = 'intracker_data.todos'::regclass AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname NOT IN (SELECT column_name FROM information_schema.columns
                              WHERE table_schema = 'intracker' AND table_name = 'todos')
       AND (has_column_privilege('intracker_user', a.attrelid, a.attnum, 'INSERT')
            OR has_column_privilege('intracker_user', a.attrelid, a.attnum, 'UPDATE'))
$$, 'intracker_user can neither insert nor update the internal todo columns');
SELECT is_empty($$
    SELECT c.relname, a.attname FROM pg_class c
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE c.relnamespace = 'intracker'::regnamespace
       AND a.attname IN ('priority_rank', 'open_blocker_count', 'open_dependent_count', 'feature_active')
$$, 'no API view exposes an internal todo column');

------------------------------------------------------------------------------
-- Views (schema intracker)
------------------------------------------------------------------------------

SELECT views_are('intracker',
    ARRAY['users', 'projects', 'project_members', 'features', 'todos', 'todo_dependencies', 'sessions', 'my_todos',
          'member_load', 'team_dashboard', 'events', 'worker_status',
          -- 0.5: webhooks and GitHub sync
          'webhooks', 'webhook_deliveries', 'github_calls', 'github_inbound', 'github_settings', 'deliverer_status',
          -- 0.6: credentials, comments and the inbox
          'api_tokens', 'comments', 'my_notifications', 'documents',
          -- 0.6: operations
          'metrics'],
    'intracker has exactly the twenty-three API views');
SELECT is_empty($$
    SELECT c.relname, c.relkind FROM pg_class c
     WHERE c.relnamespace = 'intracker'::regnamespace AND c.relkind <> 'v'
$$, 'schema intracker contains no tables, sequences, indexes or other relations: only views');
SELECT is_empty($$
    SELECT t.typname FROM pg_type t
     WHERE t.typnamespace = 'intracker'::regnamespace
       AND NOT (t.typtype = 'c' AND EXISTS (SELECT FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'v'))
       AND NOT (t.typcategory = 'A' AND EXISTS (SELECT FROM pg_type e JOIN pg_class c ON c.oid = e.typrelid
                                                 WHERE e.oid = t.typelem AND c.relkind = 'v'))
$$, 'schema intracker defines no types of its own (only the row types of its views)');
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace = 'intracker'::regnamespace AND c.relkind = 'v'
       AND NOT coalesce('security_invoker=true' = ANY (c.reloptions)
                        OR 'security_invoker=on' = ANY (c.reloptions), false)
       -- definer views on purpose, asserted below
       AND c.oid NOT IN ('intracker.github_settings'::regclass, 'intracker.sessions'::regclass, 'intracker.events'::regclass)
$$, 'every view in intracker is security_invoker, so RLS applies to the caller');
-- 0.6: the definer views filter rows themselves, so each is a security
-- barrier (a function in a caller's WHERE clause sees no row first), and
-- each keeps only the caller's projects.
SELECT is_empty($$
    SELECT c.oid::regclass FROM pg_class c
     WHERE c.oid IN ('intracker.github_settings'::regclass, 'intracker.sessions'::regclass, 'intracker.events'::regclass)
       AND (coalesce('security_invoker=true' = ANY (c.reloptions), false)
            OR NOT coalesce('security_barrier=true' = ANY (c.reloptions), false)
            OR pg_get_viewdef(c.oid) NOT LIKE '%intracker_data.my_project_ids(''viewer''::text)%'
            OR NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = c.relowner))
$$, 'github_settings, sessions and events run as their (superuser) owner, as security barriers filtering by the caller''s memberships');
SELECT ok(pg_get_viewdef('intracker.sessions'::regclass) LIKE '%intracker_data.may_read_session_notes(%'
          AND pg_get_viewdef('intracker.events'::regclass) LIKE '%intracker_data.may_read_session_notes(%',
          'intracker.sessions and intracker.events apply the one rule on working notes (may_read_session_notes)');
-- 0.5: github_settings tells members whether a token and a webhook secret are
-- set, which they may not read from github_credentials: it runs as its owner
-- (the superuser who created the extension) and filters by membership itself.
SELECT ok((SELECT NOT coalesce('security_invoker=true' = ANY (c.reloptions)
                               OR 'security_invoker=on' = ANY (c.reloptions), false)
                  AND (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = c.relowner)
             FROM pg_class c WHERE c.oid = 'intracker.github_settings'::regclass),
          'intracker.github_settings is deliberately NOT security_invoker: it runs as its (superuser) owner');
SELECT ok(pg_get_viewdef('intracker.github_settings'::regclass) LIKE '%intracker_data.my_project_ids(''viewer''::text)%',
          'intracker.github_settings filters its rows by the caller''s memberships (my_project_ids(''viewer''))');
SELECT columns_are('intracker', 'github_settings',
    ARRAY['project_id', 'github_repo', 'has_token', 'has_webhook_secret', 'updated_by', 'updated_at'],
    'intracker.github_settings shows whether a token and a webhook secret are set, never their values');
-- Its effect, as a plain API role (RLS and privileges apply): the owner of a
-- project with a token sees has_token, a non-member sees no row at all.
-- (.id: a whole row IS NOT NULL only when every field is, and AND stops early)
SELECT (intracker.create_user('gh-owner@example.com', 'Gh Owner', user_id => '00000000-0000-4000-8000-0000000005a1')).id IS NOT NULL
   AND (intracker.create_user('gh-stranger@example.com', 'Gh Stranger', user_id => '00000000-0000-4000-8000-0000000005a2')).id IS NOT NULL
    AS fixture_users \gset
SET LOCAL intracker.acting_user = '00000000-0000-4000-8000-0000000005a1';
SELECT id AS gh_project FROM intracker.create_project('GitHub settings', github_repo => 'octo/settings') \gset
SELECT has_token AS fixture_token FROM intracker.set_github_token(:'gh_project', 'ghp_secret_value') \gset
SET LOCAL ROLE tester_plain;
SELECT results_eq($$
    SELECT github_repo, has_token, has_webhook_secret FROM intracker.github_settings
     WHERE project_id = '$$ || :'gh_project' || $$'
$$, $$ VALUES ('octo/settings', true, false) $$,
  'intracker.github_settings: the project''s owner (a plain API role) sees the repository and that a token is set');
SELECT ok(test_helpers.error_of('SELECT * FROM intracker_data.github_credentials') ->> 'sqlstate' = '42501',
          'a plain API role cannot read intracker_data.github_credentials itself (42501)');
RESET ROLE;
SET LOCAL intracker.acting_user = '00000000-0000-4000-8000-0000000005a2';
SET LOCAL ROLE tester_plain;
SELECT is_empty($$ SELECT * FROM intracker.github_settings $$,
  'intracker.github_settings: a non-member sees no row (the definer view filters by membership)');
-- require_github() is executable by intracker_user and runs as its owner: it
-- must not tell a non-member a project's repository.
SELECT is(test_helpers.error_of($$SELECT intracker_data.require_github('$$ || :'gh_project' || $$', false)$$) ->> 'sqlstate',
          'PT404', 'a non-member calling intracker_data.require_github() learns nothing about the project (PT404)');
RESET ROLE;
RESET intracker.acting_user;
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace = 'intracker'::regnamespace AND c.relkind = 'v'
       AND obj_description(c.oid, 'pg_class') IS NULL
$$, 'every view in intracker has a COMMENT (the OpenAPI description)');

-- Auto-updatable views: PostgREST POST/PATCH/DELETE work on them.  The
-- exceptions are the read-only views member_load (derived counters; members
-- change their settings with set_availability / set_capacity),
-- team_dashboard (derived counters), worker_status and deliverer_status (the
-- workers' state) and github_settings (a join; the set_github_* functions
-- write).  The other 0.5 views are simple, but only SELECT is granted on them.
SELECT is_empty($$
    SELECT table_name FROM information_schema.views
     WHERE table_schema = 'intracker' AND (is_updatable <> 'YES' OR is_insertable_into <> 'YES')
       AND table_name NOT IN ('member_load', 'team_dashboard', 'worker_status',
                              'deliverer_status', 'github_settings', 'metrics')  -- read-only by design, asserted below
$$, 'every view in intracker except member_load, team_dashboard, worker_status, deliverer_status, github_settings and metrics is updatable, deletable and insertable');
SELECT is((SELECT concat_ws(' ', is_updatable, is_insertable_into, is_trigger_updatable,
                            is_trigger_deletable, is_trigger_insertable_into)
             FROM information_schema.views WHERE table_schema = 'intracker' AND table_name = 'worker_status'),
          'NO NO NO NO NO',
          'intracker.worker_status is NOT updatable, deletable or insertable (not even through a trigger)');
SELECT ok(has_table_privilege('intracker_user', 'intracker.events', 'SELECT')
          AND NOT has_table_privilege('intracker_user', 'intracker.events', 'INSERT, UPDATE, DELETE, TRUNCATE'),
          'intracker.events is read-only for users: the view is simple, but only SELECT is granted');
-- 0.5: the views of webhooks, deliveries, GitHub calls and settings, the
-- inbound log and the deliverer are read-only: the API functions write.
SELECT is((SELECT concat_ws(' ', is_updatable, is_insertable_into, is_trigger_updatable,
                            is_trigger_deletable, is_trigger_insertable_into)
             FROM information_schema.views WHERE table_schema = 'intracker' AND table_name = 'deliverer_status'),
          'NO NO NO NO NO',
          'intracker.deliverer_status is NOT updatable, deletable or insertable (not even through a trigger)');
SELECT is((SELECT concat_ws(' ', is_updatable, is_insertable_into, is_trigger_updatable,
                            is_trigger_deletable, is_trigger_insertable_into)
             FROM information_schema.views WHERE table_schema = 'intracker' AND table_name = 'github_settings'),
          'NO NO NO NO NO',
          'intracker.github_settings is NOT updatable, deletable or insertable (not even through a trigger)');
SELECT is_empty($$
    SELECT c.relname, r.rolname FROM pg_class c
     CROSS JOIN (VALUES ('intracker_user'), ('intracker_admin')) AS r (rolname)
     WHERE c.oid IN ('intracker.webhooks'::regclass, 'intracker.webhook_deliveries'::regclass,
                     'intracker.github_calls'::regclass, 'intracker.github_inbound'::regclass,
                     'intracker.github_settings'::regclass, 'intracker.deliverer_status'::regclass)
       AND (NOT has_table_privilege(r.rolname, c.oid, 'SELECT')
            OR has_table_privilege(r.rolname, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
            OR has_any_column_privilege(r.rolname, c.oid, 'INSERT, UPDATE, REFERENCES'))
$$, 'the 0.5 views are read-only for users: only SELECT is granted (webhooks, webhook_deliveries, github_calls and github_inbound are simple views, the writes go through the API functions)');
SELECT is_empty($$
    SELECT table_name FROM information_schema.view_table_usage
     WHERE view_schema = 'intracker' AND table_schema = 'intracker_data' AND table_name = 'github_credentials'
       AND view_name <> 'github_settings'
$$, 'no view but github_settings reads intracker_data.github_credentials');
SELECT is_empty($$
    SELECT c.relname, a.attname FROM pg_class c
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE c.relnamespace = 'intracker'::regnamespace
       AND a.attname IN ('secret', 'token', 'webhook_secret')
$$, 'no API view has a secret, token or webhook_secret column');
SELECT columns_are('intracker', 'webhooks',
    ARRAY['id', 'project_id', 'url', 'event_types', 'format', 'active', 'signed', 'created_by', 'created_at',
          'updated_at', 'disabled_at', 'disabled_reason'],
    'intracker.webhooks has the documented columns (signed, never the secret; when and why the deliverer disabled it)');
SELECT results_eq($$
    SELECT a.attname::text COLLATE "default" FROM pg_attribute a
     WHERE a.attrelid = 'intracker.webhook_deliveries'::regclass AND a.attnum > 0 ORDER BY a.attnum
$$, $$ VALUES ('id'), ('webhook_id'), ('project_id'), ('event_seq'), ('event_type'), ('state'), ('attempts'),
              ('last_status'), ('last_error'), ('next_attempt_at'), ('duration_ms'), ('created_at'),
              ('last_attempt_at'), ('delivered_at'), ('redelivery_of'), ('payload') $$,
  'intracker.webhook_deliveries has the documented columns in order');
SELECT columns_are('intracker', 'github_calls',
    ARRAY['id', 'project_id', 'todo_id', 'action', 'event_seq', 'state', 'attempts', 'last_status', 'last_error',
          'next_attempt_at', 'duration_ms', 'created_at', 'last_attempt_at', 'delivered_at', 'redelivery_of',
          'request_body', 'issue_number', 'issue_url', 'github_repo'],
    'intracker.github_calls has the documented columns (github_repo: where the call goes, kept from when it was queued)');
SELECT columns_are('intracker', 'github_inbound',
    ARRAY['id', 'project_id', 'event', 'action', 'issue_number', 'pr_number', 'todo_id', 'outcome', 'detail',
          'received_at'], 'intracker.github_inbound has the documented columns');
SELECT columns_are('intracker', 'deliverer_status',
    ARRAY['pid', 'state', 'in_flight', 'pending', 'waiting_for_retry', 'attempts', 'delivered', 'dead',
          'last_error', 'last_error_at', 'started_at'], 'intracker.deliverer_status has the documented columns');
SELECT is((SELECT concat_ws(' ', is_updatable, is_insertable_into, is_trigger_updatable,
                            is_trigger_deletable, is_trigger_insertable_into)
             FROM information_schema.views WHERE table_schema = 'intracker' AND table_name = 'team_dashboard'),
          'NO NO NO NO NO',
          'intracker.team_dashboard is NOT updatable, deletable or insertable (not even through a trigger)');
SELECT ok(has_table_privilege('intracker_user', 'intracker.team_dashboard', 'SELECT')
          AND NOT has_table_privilege('intracker_user', 'intracker.team_dashboard', 'INSERT, UPDATE, DELETE, TRUNCATE'),
          'intracker_user may only SELECT from intracker.team_dashboard');
SELECT results_eq($$
    SELECT a.attname::text COLLATE "default", format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
     WHERE a.attrelid = 'intracker.team_dashboard'::regclass AND a.attnum > 0 ORDER BY a.attnum
$$, $$ VALUES ('project_id', 'uuid'), ('name', 'text'), ('status', 'text'), ('members', 'integer'),
              ('todos_total', 'integer'), ('todos_open', 'integer'), ('todos_done', 'integer'),
              ('completion_rate', 'numeric'), ('todos_completed_today', 'integer'),
              ('points_done_last_7_days', 'bigint'), ('features_in_progress', 'integer'),
              ('todos_blocked', 'integer') $$,
  'intracker.team_dashboard has the documented columns, order and types');
-- 0.3: feature progress comes from the counters, not from a scan of todos.
SELECT ok(pg_get_viewdef('intracker.features'::regclass) LIKE '%intracker_data.feature_counts(f.id)%'
          AND pg_get_viewdef('intracker.features'::regclass) NOT LIKE '%intracker_data.todos%',
          'intracker.features computes progress from the feature counters (feature_counts), not from the todos');
SELECT ok(pg_get_viewdef('intracker.team_dashboard'::regclass) LIKE '%intracker_data.project_counts(p.id)%'
          AND pg_get_viewdef('intracker.team_dashboard'::regclass) LIKE '%intracker_data.project_daily_counts(p.id,%',
          'intracker.team_dashboard reads its totals from the project counters (project_counts, project_daily_counts)');
SELECT is((SELECT concat_ws(' ', is_updatable, is_insertable_into, is_trigger_updatable,
                            is_trigger_deletable, is_trigger_insertable_into)
             FROM information_schema.views WHERE table_schema = 'intracker' AND table_name = 'member_load'),
          'NO NO NO NO NO',
          'intracker.member_load is NOT updatable, deletable or insertable (not even through a trigger)');
SELECT ok(has_table_privilege('intracker_user', 'intracker.member_load', 'SELECT')
          AND NOT has_table_privilege('intracker_user', 'intracker.member_load', 'INSERT, UPDATE, DELETE, TRUNCATE'),
          'intracker_user may only SELECT from intracker.member_load');
SELECT columns_are('intracker', 'member_load',
    ARRAY['project_id', 'user_id', 'role', 'available', 'capacity', 'open_todos', 'open_points', 'open_features',
          'last_assigned_at'], 'intracker.member_load has the documented columns');
SELECT results_eq($$
    SELECT a.attname::text COLLATE "default", format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
     WHERE a.attrelid = 'intracker.member_load'::regclass AND a.attnum > 0 ORDER BY a.attnum
$$, $$ VALUES ('project_id', 'uuid'), ('user_id', 'uuid'), ('role', 'text'), ('available', 'boolean'),
              ('capacity', 'integer'), ('open_todos', 'integer'), ('open_points', 'bigint'),
              ('open_features', 'integer'), ('last_assigned_at', 'timestamp with time zone') $$,
  'intracker.member_load columns have the documented order and types');
SELECT col_not_null('intracker_data', 'project_members', 'available', 'project_members.available is NOT NULL');
SELECT col_default_is('intracker_data', 'project_members', 'available', 'true', 'members are available by default');
SELECT col_is_null('intracker_data', 'project_members', 'capacity', 'project_members.capacity may be NULL (unlimited)');
SELECT is_empty($$
    SELECT c.conrelid::regclass, c.conname FROM pg_constraint c
     WHERE c.connamespace = 'intracker_data'::regnamespace AND c.contype = 'c'
       AND obj_description(c.oid, 'pg_constraint') IS NULL
$$, 'every CHECK constraint in intracker_data has a COMMENT (explain_violation turns it into the 22023 DETAIL)');
SELECT is((SELECT is_trigger_insertable_into FROM information_schema.views
            WHERE table_schema = 'intracker' AND table_name = 'projects'),
          'YES', 'INSERT into intracker.projects goes through an INSTEAD OF trigger (create_project)');
SELECT trigger_is('intracker', 'projects', 'projects_insert', 'intracker_data', 'projects_view_insert',
                  'intracker.projects INSERT trigger calls projects_view_insert');
SELECT set_eq($$
    SELECT column_name::text COLLATE "default" FROM information_schema.columns
     WHERE table_schema = 'intracker' AND table_name = 'features' AND is_updatable = 'NO'
$$, ARRAY['todos_total', 'todos_done', 'progress'], 'only the computed progress columns of intracker.features are read-only');
-- 0.5: what the deliveries views compute: the next attempt only while one
-- is due, and the GitHub call's action from its event type.
SELECT set_eq($$
    SELECT column_name::text COLLATE "default" FROM information_schema.columns
     WHERE table_schema = 'intracker' AND table_name = 'webhook_deliveries' AND is_updatable = 'NO'
$$, ARRAY['next_attempt_at'], 'only the computed next_attempt_at of intracker.webhook_deliveries is read-only');
SELECT set_eq($$
    SELECT column_name::text COLLATE "default" FROM information_schema.columns
     WHERE table_schema = 'intracker' AND table_name = 'github_calls' AND is_updatable = 'NO'
$$, ARRAY['action', 'next_attempt_at'], 'only the computed action and next_attempt_at of intracker.github_calls are read-only');
SELECT is_empty($$
    SELECT table_name, column_name FROM information_schema.columns
     WHERE table_schema = 'intracker' AND table_name NOT IN ('features', 'member_load', 'team_dashboard', 'worker_status',
                                                             'deliverer_status', 'github_settings', 'events', 'api_tokens', 'metrics',  -- read-only views
                                                             'webhook_deliveries', 'github_calls',  -- asserted above
                                                             'sessions')  -- INSTEAD OF triggers, asserted below
       AND is_updatable = 'NO'
$$, 'every column of the other updatable views maps to a table column (updatable, embeddable)');
SELECT is((SELECT array[is_trigger_insertable_into, is_trigger_updatable, is_trigger_deletable]::text FROM information_schema.views
            WHERE table_schema = 'intracker' AND table_name = 'sessions'),
          '{YES,YES,YES}', 'intracker.sessions is written through INSTEAD OF triggers (sessions_view_write, as the caller)');
SELECT is_empty($$
    SELECT table_name FROM information_schema.columns
     WHERE table_schema = 'intracker' AND table_name IN ('projects', 'features', 'todos', 'my_todos')
     GROUP BY table_name
    HAVING NOT bool_or(column_name = 'version' AND is_updatable = 'YES')
$$, 'the views of versioned tables expose an updatable version column (SET version = n)');

SELECT columns_are('intracker', 'users',
    ARRAY['id', 'email', 'name', 'github_username', 'avatar_url', 'kind', 'is_active', 'last_login_at',
          'created_at', 'updated_at', 'handle'], 'intracker.users has the columns of the data model');
SELECT columns_are('intracker', 'projects',
    ARRAY['id', 'name', 'description', 'status', 'tags', 'github_repo', 'resume_context', 'created_by',
          'created_at', 'updated_at', 'version', 'metadata'], 'intracker.projects has the columns of the data model');
SELECT columns_are('intracker', 'project_members',
    ARRAY['project_id', 'user_id', 'role', 'created_at'], 'intracker.project_members has the columns of the data model');
SELECT has_column('intracker', 'features', 'progress', 'intracker.features has a computed progress');
SELECT is(ARRAY(SELECT column_name::text FROM information_schema.columns
                 WHERE table_schema = 'intracker' AND table_name = 'features' AND column_name IN ('tags', 'metadata')
                 ORDER BY ordinal_position), ARRAY['tags', 'metadata'], 'intracker.features has tags and metadata (0.6)');
SELECT columns_are('intracker', 'sessions',
    ARRAY['id', 'project_id', 'user_id', 'started_at', 'ended_at', 'goal', 'summary', 'next_steps',
          'blockers', 'todo_ids'], 'intracker.sessions has the columns of the data model');
-- (The columns intracker.todos leaves out are checked with the internal
-- columns, above.)
SELECT columns_are('intracker', 'todos',
    ARRAY['id', 'project_id', 'feature_id', 'title', 'description', 'status', 'priority', 'estimate', 'tags',
          'assigned_to', 'created_by', 'completed_by', 'blocked_reason', 'due_date', 'github_issue', 'github_pr',
          'completed_at', 'created_at', 'updated_at', 'version', 'github_issue_url', 'metadata'],
    'intracker.todos has the columns of the data model');

------------------------------------------------------------------------------
-- Functions
------------------------------------------------------------------------------

SELECT functions_are('intracker',
    ARRAY['current_user_id', 'act_as', 'create_user', 'create_project', 'update_project', 'add_member',
          'remove_member', 'create_feature', 'update_feature', 'create_todo', 'update_todo',
          'set_todo_status', 'add_dependency', 'remove_dependency', 'start_session', 'end_session',
          -- 0.2: assignment
          'assign_todo', 'assign_feature', 'unassign_todo', 'claim_next_todo', 'set_availability',
          'set_capacity', 'rebalance', 'verify_counters', 'set_user_active',
          -- 0.3: context documents
          'team_context', 'resume_context',
          -- 0.4: events
          'events_since', 'listen_project', 'project_channel',
          -- 0.5: webhooks and GitHub sync
          'create_webhook', 'set_webhook_active', 'delete_webhook', 'redeliver', 'set_github_token',
          'set_github_webhook_secret', 'link_github_issue', 'create_github_issue', 'github_webhook',
          -- 0.6: operations
          'requeue_dead_events',
          -- 0.6: credentials, and reading functions for agents
          'create_api_token', 'revoke_api_token', 'set_password', 'login', 'authenticate',
          'list_projects', 'list_features', 'list_todos', 'get_my_todos', 'get_todo', 'identity_is_read_only',
          -- 0.6: comments, mentions and the inbox
          'add_comment', 'update_comment', 'delete_comment', 'mark_notifications_read', 'user_channel', 'listen_me',
          -- 0.6: documents
          'create_document', 'update_document', 'delete_document',
          -- 0.6: ... and their reading functions for agents
          'list_comments', 'get_my_notifications', 'list_documents', 'get_document',
          -- 0.6: history and search
          'history', 'search',
          -- 0.6: operations
          'health'],
    'intracker has exactly the API functions');

-- The contract of the issue: names, parameter names, return types.
SELECT results_eq($$
    SELECT p.proname::text COLLATE "default", pg_get_function_identity_arguments(p.oid), p.prorettype::regtype::text
      FROM pg_proc p WHERE p.pronamespace = 'intracker'::regnamespace
       AND p.proname IN ('create_user', 'create_project', 'add_member', 'remove_member', 'create_feature',
                         'create_todo', 'update_todo', 'update_feature', 'set_todo_status', 'add_dependency',
                         'remove_dependency', 'start_session', 'end_session', 'current_user_id', 'act_as',
                         'assign_todo', 'assign_feature', 'unassign_todo', 'claim_next_todo', 'set_availability',
                         'set_capacity', 'rebalance', 'verify_counters', 'set_user_active',
                         'team_context', 'resume_context', 'events_since', 'listen_project', 'project_channel')
     ORDER BY 1
$$, $$ VALUES
    ('act_as', 'user_id uuid', 'uuid'),
    ('add_dependency', 'todo_id uuid, blocked_by uuid', 'intracker.todo_dependencies'),
    ('add_member', 'project_id uuid, user_id uuid, role text', 'intracker.project_members'),
    ('assign_feature', 'feature_id uuid, assignee uuid, expected_version integer', 'intracker.features'),
    ('assign_todo', 'todo_id uuid, assignee uuid, expected_version integer', 'intracker.todos'),
    ('claim_next_todo', 'project_id uuid', 'record'),
    -- (0.6 added the trailing tags and metadata, which have defaults)
    ('create_feature', 'project_id uuid, title text, description text, priority text, assigned_to uuid, status text, tags text[], metadata jsonb', 'intracker.features'),
    ('create_project', 'name text, description text, github_repo text, tags text[], resume_context jsonb, status text, metadata jsonb', 'intracker.projects'),
    ('create_todo', 'project_id uuid, title text, feature_id uuid, description text, priority text, estimate integer, tags text[], due_date date, assigned_to uuid, status text, metadata jsonb', 'intracker.todos'),
    ('create_user', 'email text, name text, kind text, github_username text, user_id uuid', 'intracker.users'),
    ('current_user_id', '', 'uuid'),
    ('end_session', 'session_id uuid, summary text, next_steps text[], blockers text[], todo_ids uuid[]', 'intracker.sessions'),
    ('events_since', 'after_seq bigint, project_id uuid, max_events integer', 'intracker.events'),
    ('listen_project', 'project_id uuid', 'text'),
    ('project_channel', 'project_id uuid', 'text'),
    ('rebalance', 'project_id uuid, dry_run boolean', 'record'),
    ('remove_dependency', 'todo_id uuid, blocked_by uuid', 'intracker.todo_dependencies'),
    ('remove_member', 'project_id uuid, user_id uuid', 'intracker.project_members'),
    ('resume_context', 'project_id uuid', 'jsonb'),
    ('set_availability', 'project_id uuid, available boolean', 'intracker.member_load'),
    ('set_capacity', 'project_id uuid, user_id uuid, capacity integer', 'intracker.member_load'),
    ('set_todo_status', 'todo_id uuid, status text, expected_version integer', 'intracker.todos'),
    ('set_user_active', 'user_id uuid, active boolean', 'intracker.users'),
    ('start_session', 'project_id uuid, goal text', 'intracker.sessions'),
    ('team_context', 'project_id uuid', 'jsonb'),
    ('unassign_todo', 'todo_id uuid, expected_version integer', 'intracker.todos'),
    ('update_feature', 'feature_id uuid, changes jsonb, expected_version integer', 'intracker.features'),
    ('update_todo', 'todo_id uuid, changes jsonb, expected_version integer', 'intracker.todos'),
    ('verify_counters', 'project_id uuid', 'record')
$$, 'API functions have the names, parameter names and (view) return types of the contract');
SELECT results_eq($$
    SELECT p.proname::text COLLATE "default", pg_get_function_identity_arguments(p.oid), p.prorettype::regtype::text,
           coalesce(pg_get_expr(p.proargdefaults, 0), '') COLLATE "default"
      FROM pg_proc p WHERE p.pronamespace = 'intracker'::regnamespace
       AND p.proname IN ('create_webhook', 'set_webhook_active', 'delete_webhook', 'redeliver', 'set_github_token',
                         'set_github_webhook_secret', 'link_github_issue', 'create_github_issue', 'github_webhook')
     ORDER BY 1
$$, $$ VALUES
    ('create_github_issue', 'todo_id uuid', 'intracker.github_calls', ''),
    ('create_webhook', 'project_id uuid, url text, event_types text[], secret text, format text', 'intracker.webhooks',
     '''{*}''::text[], NULL::text, ''json''::text'),
    ('delete_webhook', 'webhook_id uuid', 'intracker.webhooks', ''),
    ('github_webhook', 'payload jsonb, signature text, event text', 'jsonb', 'NULL::text, NULL::text'),
    ('link_github_issue', 'todo_id uuid, issue_number integer', 'intracker.todos', ''),
    ('redeliver', 'delivery_id uuid', 'intracker.webhook_deliveries', ''),
    ('set_github_token', 'project_id uuid, token text', 'intracker.github_settings', ''),
    ('set_github_webhook_secret', 'project_id uuid, secret text', 'intracker.github_settings', ''),
    ('set_webhook_active', 'webhook_id uuid, active boolean', 'intracker.webhooks', '')
$$, 'the 0.5 API functions have the names, parameter names, (view) return types and defaults of the contract');
-- The set-returning functions: their result columns are part of the contract.
SELECT results_eq($$
    SELECT p.proname::text COLLATE "default", p.proretset, pg_get_function_result(p.oid)
      FROM pg_proc p WHERE p.pronamespace = 'intracker'::regnamespace
       AND p.proname IN ('claim_next_todo', 'rebalance', 'verify_counters')
     ORDER BY 1
$$, $$ VALUES
    ('claim_next_todo', true, 'TABLE(id uuid, feature_id uuid, title text, description text, status text, priority text, estimate integer, tags text[], assigned_to uuid, due_date date, created_at timestamp with time zone, updated_at timestamp with time zone, version integer, claim_reason text)'),
    ('rebalance', true, 'TABLE(todo_id uuid, title text, estimate integer, from_user uuid, to_user uuid)'),
    ('verify_counters', true, 'TABLE(counter text, project uuid, entity uuid, stored bigint, actual bigint)')
$$, 'claim_next_todo, rebalance and verify_counters return the documented columns');
SELECT is((SELECT pg_get_expr(p.proargdefaults, 0) FROM pg_proc p WHERE p.oid = 'intracker.rebalance(uuid, boolean)'::regprocedure),
          'true', 'rebalance is a dry run unless told otherwise (dry_run DEFAULT true)');
SELECT results_eq($$
    SELECT p.proname::text COLLATE "default", (p.pronargs - p.pronargdefaults)::int
      FROM pg_proc p WHERE p.pronamespace = 'intracker'::regnamespace
       AND p.proname IN ('create_user', 'create_project', 'create_feature', 'create_todo', 'start_session', 'end_session',
                         'assign_todo', 'assign_feature', 'unassign_todo', 'rebalance', 'verify_counters')
     ORDER BY 1
$$, $$ VALUES ('assign_feature', 1), ('assign_todo', 1), ('create_feature', 2), ('create_project', 1),
              ('create_todo', 2), ('create_user', 2), ('end_session', 2), ('rebalance', 1), ('start_session', 1),
              ('unassign_todo', 1), ('verify_counters', 0) $$,
  'optional parameters have DEFAULTs (only the leading required ones do not)');
SELECT is_empty($$
    SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'intracker'::regnamespace
     GROUP BY p.proname HAVING count(*) > 1
$$, 'no overloaded API functions');
SELECT is_empty($$
    SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'intracker'::regnamespace AND p.pronargs > 0
       AND (p.proargnames IS NULL OR '' = ANY (p.proargnames[1:p.pronargs]))
$$, 'every parameter of every API function is named');
SELECT is_empty($$
    SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'intracker'::regnamespace
       AND p.provolatile <> CASE WHEN p.proname IN ('current_user_id', 'verify_counters', 'team_context', 'resume_context',
                                                    'list_projects', 'list_features', 'list_todos', 'get_my_todos', 'get_todo',
                                                    'identity_is_read_only', 'list_comments', 'get_my_notifications',
                                                    'list_documents', 'get_document', 'search', 'health')
                                 THEN 's'
                                 WHEN p.proname IN ('project_channel', 'user_channel') THEN 'i'
                                 ELSE 'v' END
$$, 'the read-only current_user_id, verify_counters, team_context, resume_context and the 0.6 reading functions for agents are STABLE, project_channel and user_channel IMMUTABLE, every write function is VOLATILE (events_since too: it may publish pending events)');
SELECT results_eq($$
    SELECT p.proname::text COLLATE "default", l.lanname::text COLLATE "default", p.prosecdef, p.proretset
      FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
     WHERE p.oid IN ('intracker.team_context(uuid)'::regprocedure, 'intracker.resume_context(uuid)'::regprocedure)
     ORDER BY 1
$$, $$ VALUES ('resume_context', 'c', false, false), ('team_context', 'c', false, false) $$,
  'team_context and resume_context are C functions returning one jsonb, running as their caller (RLS applies)');

SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
     WHERE p.pronamespace IN ('intracker'::regnamespace, 'intracker_data'::regnamespace)
       AND obj_description(p.oid, 'pg_proc') IS NULL
$$, 'every function in intracker and intracker_data has a COMMENT');
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
     WHERE p.pronamespace IN ('intracker'::regnamespace, 'intracker_data'::regnamespace)
       AND p.prosecdef
       AND NOT EXISTS (SELECT FROM unnest(p.proconfig) AS c WHERE c LIKE 'search\_path=%')
$$, 'every SECURITY DEFINER function pins search_path');
-- pg_temp is searched first unless it is listed explicitly, and a schema
-- anyone can create objects in must not be on the path at all.
SELECT is_empty($$
    SELECT p.oid::regprocedure, c FROM pg_proc p, unnest(p.proconfig) AS c
     WHERE p.pronamespace IN ('intracker'::regnamespace, 'intracker_data'::regnamespace)
       AND c LIKE 'search\_path=%'
       AND NOT (c = 'search_path=""' OR c = 'search_path=' OR c ~ 'pg_temp"?$')
$$, 'every pinned search_path is empty or ends with pg_temp');
SELECT is_empty($$
    SELECT p.oid::regprocedure, c FROM pg_proc p, unnest(p.proconfig) AS c
     WHERE p.pronamespace IN ('intracker'::regnamespace, 'intracker_data'::regnamespace)
       AND c ~ '^search_path=.*\m(public|"\$user"|\$user)\M'
$$, 'no pinned search_path includes public or $user');
-- The one allowed exception: an IMMUTABLE or STABLE, SECURITY INVOKER SQL
-- function with a SQL-standard body (RETURN / BEGIN ATOMIC).  Its names are
-- resolved when it is created, not when it runs, so the caller's search_path
-- cannot change what it calls, and without a SET clause the planner can
-- inline it (intracker_data.role_rank, called for every membership row by
-- the RLS helpers; the deliverer's load, deliverer_next_deliveries, inlined
-- into its kept generic plan).
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
      JOIN pg_language l ON l.oid = p.prolang
     WHERE p.pronamespace IN ('intracker'::regnamespace, 'intracker_data'::regnamespace)
       AND l.lanname <> 'c'
       AND NOT EXISTS (SELECT FROM unnest(p.proconfig) AS c WHERE c LIKE 'search\_path=%')
       AND NOT (l.lanname = 'sql' AND p.prosqlbody IS NOT NULL AND p.provolatile IN ('i', 's') AND NOT p.prosecdef)
$$, 'every SQL and PL/pgSQL function pins search_path (house style), except inlinable IMMUTABLE or STABLE SQL-standard bodies bound at creation');
SELECT ok((SELECT p.prosqlbody IS NOT NULL AND p.provolatile = 'i' AND NOT p.prosecdef
             FROM pg_proc p WHERE p.oid = 'intracker_data.role_rank(text)'::regprocedure),
          'role_rank is an IMMUTABLE SQL-standard body (inlinable; its names are bound at CREATE time)');
CREATE FUNCTION pg_temp.plan_of(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    line text;
    plan text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || query LOOP
        plan := plan || line || E'\n';
    END LOOP;
    RETURN plan;
END
$$;
SELECT ok(pg_temp.plan_of('SELECT intracker_data.role_rank(m.role) FROM intracker_data.project_members m') LIKE '%CASE%role WHEN %viewer%'
          AND pg_temp.plan_of('SELECT intracker_data.role_rank(m.role) FROM intracker_data.project_members m') NOT LIKE '%role_rank%',
          'role_rank is inlined (not STRICT: a STRICT CASE body is not), so no policy check calls and parses it per row');
SELECT set_eq($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
     WHERE p.pronamespace IN ('intracker'::regnamespace, 'intracker_data'::regnamespace) AND p.prosecdef
$$, ARRAY['intracker.create_project(text,text,text,text[],jsonb,text,jsonb)',
          'intracker_data.my_project_ids(text)', 'intracker_data.my_role(uuid)',
          'intracker_data.visible_user_ids()', 'intracker_data.user_is_active(uuid)',
          'intracker_data.project_keeps_an_owner()',
          -- 0.6: require_user reads the acting user's own row (a user in no
          -- project is still a user), require_joinable_user tells owners
          -- whether an id is an active user (after the role check) ...
          'intracker_data.require_user()', 'intracker_data.require_joinable_user(uuid,uuid)',
          -- 0.6: a new user's handle must be free among all users, not only those the creator sees ...
          'intracker_data.fill_handle()',
          -- 0.2: members change their own settings (no column grant on project_members) ...
          'intracker.set_availability(uuid,boolean)', 'intracker.set_capacity(uuid,uuid,integer)',
          -- 0.6: a new todo's feature_active is read from its feature without
          -- the caller's RLS (the todos policies judge the row it goes into) ...
          'intracker_data.todos_init_counters()',
          -- ... and the counter triggers write what users may not.
          'intracker_data.create_member_load()', 'intracker_data.dependency_counters()',
          'intracker_data.todo_openness_counters()', 'intracker_data.feature_active_counters()',
          'intracker_data.deleted_todo_counters()',
          'intracker_data.unassign_deactivated()',
          -- ... and 0.6: the assignment lock is taken for editors and owners
          -- only (so that a DBA may revoke the advisory lock functions from PUBLIC).
          'intracker_data.lock_assignment(uuid)',
          -- 0.4: events_since publishes pending events when no worker does, and
          -- worker_status counts the outbox that users cannot read.
          'intracker_data.publish_pending_events()', 'intracker_data.event_log_state()',
          -- 0.6: events_since's page end, counted over the caller's projects only
          -- (NULL for a project the caller is not in; test/pgtap/events_paging.sql).
          'intracker_data.events_page_end(bigint,uuid,integer)',
          -- 0.5: secrets go where no API role can read them; each of these
          -- checks the caller's role first (owners manage webhooks and GitHub
          -- credentials, owners or editors redeliver, editors create issues) ...
          'intracker.create_webhook(uuid,text,text[],text,text)', 'intracker_data.owned_webhook(uuid,text)',
          'intracker.set_webhook_active(uuid,boolean)', 'intracker.delete_webhook(uuid)', 'intracker.redeliver(uuid)',
          'intracker.set_github_token(uuid,text)', 'intracker.set_github_webhook_secret(uuid,text)',
          'intracker.create_github_issue(uuid)',
          -- 0.6: a session asks whether its own API token still holds ...
          'intracker_data.session_token_is_valid()',
          -- ... require_github reads the token's presence for members only (PT404 otherwise) ...
          'intracker_data.require_github(uuid,boolean)',
          -- ... github_webhook verifies the HMAC signature of the payload
          -- before anything else (GitHub has no role) ...
          'intracker.github_webhook(jsonb,text,text)',
          -- ... and deliverer_status counts the deliveries of all projects (counts only).
          'intracker_data.delivery_backlog()',
          -- 0.6: admins put dead events back in the outbox, which nobody else writes
          -- (only intracker_admin may execute it) ...
          'intracker.requeue_dead_events(bigint[])',
          -- ... and deleting a project, webhook or todo deletes its deliveries
          -- (users may delete those rows, never deliveries).
          'intracker_data.drop_deliveries_of_deleted()',
          -- 0.6: notifications are written by their triggers only (users cannot
          -- write them), and mentions resolve handles against the project's
          -- members, for members of that project only (test/pgtap/comments.sql).
          'intracker_data.notify_created_work()', 'intracker_data.notify_changed_work()', 'intracker_data.comment_notifications()',
          'intracker_data.mentioned_members(uuid,text)',
          -- 0.6: a deleted project's history goes with it (users cannot delete history) ...
          'intracker_data.forget_project_history()',
          -- ... and search reads as the data's owner, within the caller's projects,
          -- session notes only where the caller may read them (test/pgtap/search.sql).
          'intracker_data.search_hits(text,uuid,text[],integer)',
          -- 0.6: the metrics and health() count tables users cannot read (counts only).
          'intracker_data.metric_samples()', 'intracker.health()'],
  'exactly the reviewed functions are SECURITY DEFINER');

------------------------------------------------------------------------------
-- Privileges
------------------------------------------------------------------------------

SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
     WHERE p.pronamespace IN ('intracker'::regnamespace, 'intracker_data'::regnamespace)
       AND EXISTS (SELECT FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                    WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
$$, 'no function in intracker or intracker_data is executable by PUBLIC');
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
     WHERE p.pronamespace = 'intracker'::regnamespace
       AND NOT has_function_privilege('intracker_user', p.oid, 'EXECUTE')
       AND p.oid <> 'intracker.requeue_dead_events(bigint[])'::regprocedure  -- admins only, asserted below
$$, 'intracker_user may execute every API function');
SELECT ok(NOT has_function_privilege('intracker_user', 'intracker.requeue_dead_events(bigint[])', 'EXECUTE')
          AND has_function_privilege('intracker_admin', 'intracker.requeue_dead_events(bigint[])', 'EXECUTE'),
          'intracker.requeue_dead_events is for intracker_admin only');
-- Internal helpers: a user may execute one only when the API needs it (the
-- API functions, views and RLS policies run as the caller), and each of
-- these leaks nothing to a caller outside the project it names.  Trigger
-- functions are never in the list: a trigger runs its function whoever
-- fires it.  test/pgtap/internals.sql calls the sensitive ones as users.
SELECT set_eq($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
     WHERE p.pronamespace = 'intracker_data'::regnamespace
       AND has_function_privilege('intracker_user', p.oid, 'EXECUTE')
$$, ARRAY[
    -- RLS policies: the caller's own projects, role and fellow members.
    'intracker_data.role_rank(text)', 'intracker_data.my_project_ids(text)', 'intracker_data.my_role(uuid)',
    'intracker_data.visible_user_ids()', 'intracker_data.may_read_session_notes(uuid,uuid)',
    -- The checks API functions start with: the caller's own identity and role.
    'intracker_data.require_user()', 'intracker_data.require_role(uuid,text,text)',
    -- ... and add_member's: owners only, then whether the id is an active user.
    'intracker_data.require_joinable_user(uuid,uuid)',
    -- Generic API steps, run under the caller's RLS and column privileges.
    'intracker_data.project_of(regclass,uuid)', 'intracker_data.apply_changes(regclass,uuid,jsonb,integer)',
    'intracker_data.explain_violation(text,text)', 'intracker_data.explain_bad_value(regclass,jsonb)', 'intracker_data.events_page_end(bigint,uuid,integer)',
    -- The C assignment core behind assign_todo/claim_next_todo (checks the
    -- caller's role first), its lock (editors and owners only) and the
    -- counter checks behind verify_counters (RLS: the caller's projects).
    'intracker_data.assign(regclass,uuid,uuid,integer)', 'intracker_data.claim_next_todo(uuid)',
    'intracker_data.lock_assignment(uuid)',
    'intracker_data.assignment_counter_drift(uuid)', 'intracker_data.progress_counter_drift(uuid)',
    -- events_since publishes pending events when no publisher does (ids and
    -- counts only); the status views read process state and counts.
    'intracker_data.publish_pending_events()', 'intracker_data.worker_state()', 'intracker_data.event_log_state()',
    'intracker_data.deliverer_state()', 'intracker_data.delivery_backlog()',
    -- GitHub calls: members only (PT404 otherwise), then the repository.
    'intracker_data.require_github(uuid,boolean)',
    -- 0.6: whether the session's own API token still holds (identity.c asks
    -- once per transaction; it answers about nothing else), and the
    -- read-only check of the functions that write tables of their own.
    'intracker_data.session_token_is_valid()', 'intracker_data.require_writable_identity()',
    -- 0.6: a comment, and what an id names that comments may be about, as the
    -- caller sees them (RLS), and the members a text
    -- mentions (empty for a caller outside the project).
    'intracker_data.visible_comment(uuid)', 'intracker_data.comment_subject(uuid)', 'intracker_data.mentioned_members(uuid,text)',
    -- ... and whether the caller's own session restores a dump (a comment
    -- written then keeps its project and mentions) ...
    'intracker_data.restoring()',
    -- ... and search's body (the caller's projects only; search.sql), and
    -- the pure functions of the search indexes, which writers compute.
    'intracker_data.search_hits(text,uuid,text[],integer)', 'intracker_data.search_vector(regconfig,text,text)',
    'intracker_data.words_of(text[])',
    -- 0.6: the live progress counters, read by the views (RLS applies).
    'intracker_data.project_counts(uuid)', 'intracker_data.project_daily_counts(uuid,date,date)',
    'intracker_data.feature_counts(uuid)'],
  'intracker_user may execute exactly the reviewed internal helpers');
SELECT ok(has_function_privilege('intracker_admin', 'intracker_data.user_is_active(uuid)', 'EXECUTE')
          AND NOT has_function_privilege('intracker_user', 'intracker_data.user_is_active(uuid)', 'EXECUTE'),
          'only intracker_admin (for act_as) may ask whether an id is an active user');
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace IN ('intracker'::regnamespace, 'intracker_data'::regnamespace)
       AND EXISTS (SELECT FROM aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a WHERE a.grantee = 0)
$$, 'no table or view in intracker or intracker_data grants anything to PUBLIC');
SELECT is_empty($$
    SELECT n.nspname FROM pg_namespace n
     WHERE n.nspname IN ('intracker', 'intracker_data')
       AND EXISTS (SELECT FROM aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a WHERE a.grantee = 0)
$$, 'PUBLIC has no privileges on the schemas intracker and intracker_data');
SELECT ok(NOT has_schema_privilege('tester_nobody', 'intracker', 'USAGE')
          AND NOT has_function_privilege('tester_nobody', 'intracker.current_user_id()', 'EXECUTE')
          AND NOT has_table_privilege('tester_nobody', 'intracker.todos', 'SELECT'),
          'a role outside intracker_user can use nothing of the API');
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace = 'intracker'::regnamespace AND c.relkind = 'v'
       AND NOT has_table_privilege('intracker_user', c.oid, 'SELECT')
       AND c.oid <> 'intracker.metrics'::regclass   -- operators' (intracker_admin, pg_monitor): monitoring.sql
$$, 'intracker_user may read every API view but the metrics');
SELECT ok(NOT has_table_privilege('intracker_user', 'intracker.users', 'INSERT')
          AND NOT has_table_privilege('intracker_user', 'intracker.users', 'DELETE')
          AND NOT has_table_privilege('intracker_user', 'intracker_data.users', 'DELETE'),
          'intracker_user can neither insert nor delete users');
SELECT ok(NOT has_table_privilege('intracker_user', 'intracker.todo_dependencies', 'UPDATE'),
          'dependencies are added and removed, never updated');
-- Member settings change only through set_availability (self) and
-- set_capacity (owners); the role column stays the only one owners update.
SELECT ok(NOT has_column_privilege('intracker_user', 'intracker_data.project_members', 'available', 'UPDATE')
          AND NOT has_column_privilege('intracker_user', 'intracker_data.project_members', 'capacity', 'UPDATE')
          AND NOT has_column_privilege('intracker_user', 'intracker_data.project_members', 'available', 'INSERT')
          AND NOT has_column_privilege('intracker_user', 'intracker_data.project_members', 'capacity', 'INSERT'),
          'intracker_user cannot write project_members.available or capacity directly');
SELECT ok(has_column_privilege('intracker_admin', 'intracker_data.users', 'is_active', 'UPDATE')
          AND NOT has_column_privilege('intracker_user', 'intracker_data.users', 'is_active', 'UPDATE'),
          'is_active is updatable by intracker_admin (set_user_active), not by intracker_user');
-- Columns intracker sets itself are not writable by API users.
SELECT is_empty($$
    SELECT c.relname, a.attname FROM pg_class c
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE c.relnamespace IN ('intracker'::regnamespace, 'intracker_data'::regnamespace)
       AND a.attname IN ('created_by', 'created_at', 'updated_at', 'completed_at', 'completed_by', 'is_active',
                         'email', 'user_id', 'started_at')
       AND has_column_privilege('intracker_user', c.oid, a.attnum, 'UPDATE')
$$, 'intracker_user cannot UPDATE bookkeeping columns (created_*, updated_at, completed_*, is_active, email, owner ids)');
SELECT is_empty($$
    SELECT c.relname, a.attname FROM pg_class c
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE c.relnamespace IN ('intracker'::regnamespace, 'intracker_data'::regnamespace)
       AND a.attname IN ('created_by', 'created_at', 'updated_at', 'completed_at', 'completed_by', 'version')
       AND has_column_privilege('intracker_user', c.oid, a.attnum, 'INSERT')
       -- INSERT on this view goes through an INSTEAD OF trigger that decides
       -- itself (errors.sql checks that it refuses version and created_by).
       AND c.oid <> 'intracker.projects'::regclass
$$, 'intracker_user cannot INSERT bookkeeping columns (created_*, updated_at, completed_*, version)');

SELECT * FROM finish();
ROLLBACK;
