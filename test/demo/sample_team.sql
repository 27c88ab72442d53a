-- test/demo/sample_team.sql — the sample team the demo shows.
--
-- Run by test/bin/demo as a login role that is a member of intracker_admin
-- (not a superuser, so row-level security applies), from test/demo/:
--   psql -X -v ON_ERROR_STOP=1 -d intracker_demo < sample_team.sql
-- Everything goes through the public API: create_user, act_as, create_project,
-- add_member, create_feature, create_todo, add_dependency, start/end_session.
--
-- The team: three people and two AI agents working on three projects.
--   project      owner   editors          viewers
--   intracker    Ada     Grace, Claude    Margaret, Codex
--   Website      Grace   Ada, Claude      Margaret
--   Mobile app   Grace   Codex            Ada            (Margaret and Claude: not members)

\ir lib/settings.psql
\o /dev/null

------------------------------------------------------------------------------
-- Users (fixed ids, so the demo sections can name them: :ada, :claude, ...)
------------------------------------------------------------------------------
SELECT intracker.create_user('ada@example.com', 'Ada Lovelace', 'human', 'ada-lovelace', user_id => :'ada');
SELECT intracker.create_user('grace@example.com', 'Grace Hopper', 'human', 'grace-hopper', user_id => :'grace');
SELECT intracker.create_user('margaret@example.com', 'Margaret Hamilton', 'human', user_id => :'margaret');
SELECT intracker.create_user('claude@agents.example.com', 'Claude', 'agent', user_id => :'claude');
SELECT intracker.create_user('codex@agents.example.com', 'Codex', 'agent', user_id => :'codex');

------------------------------------------------------------------------------
-- Project intracker (owner Ada)
------------------------------------------------------------------------------
SELECT intracker.act_as(:'ada');
SELECT id AS p_intracker FROM intracker.create_project(
    'intracker',
    'The project tracker itself: a PostgreSQL extension for teams of people and agents.',
    'acme/intracker',
    tags => '{postgres,extension,c}',
    resume_context => '{
        "stack": "PostgreSQL 15 extension in C (PGXS); API schema intracker, tables in intracker_data",
        "test_command": "sudo test/bin/run-all",
        "conventions": ["errors: lower-case message, DETAIL and HINT as sentences",
                        "every write states the version it read (optimistic locking)"],
        "constraints": ["never edit a released upgrade script", "no internet access in CI"]
    }') \gset
SELECT intracker.add_member(:'p_intracker', :'grace', 'editor');
SELECT intracker.add_member(:'p_intracker', :'claude', 'editor');
SELECT intracker.add_member(:'p_intracker', :'margaret', 'viewer');
SELECT intracker.add_member(:'p_intracker', :'codex', 'viewer');

SELECT id AS f_locking FROM intracker.create_feature(:'p_intracker', 'Optimistic locking',
    'Every write states the version it read; stale writes fail with PT409.', 'critical', :'claude', 'done') \gset
SELECT id AS f_rest FROM intracker.create_feature(:'p_intracker', 'PostgREST API',
    'Expose schema intracker over HTTP with JWT identities.', 'high', :'claude', 'in_progress') \gset
SELECT id AS f_events FROM intracker.create_feature(:'p_intracker', 'Live events',
    'Notify subscribers of changes from a background worker.', 'medium', :'grace') \gset

SELECT intracker.create_todo(:'p_intracker', 'Row-version trigger in C', :'f_locking',
    priority => 'critical', estimate => 5, assigned_to => :'claude', status => 'done', tags => '{c}');
SELECT intracker.create_todo(:'p_intracker', 'PT409 error with DETAIL and HINT', :'f_locking',
    priority => 'high', estimate => 2, assigned_to => :'claude', status => 'done');
SELECT intracker.create_todo(:'p_intracker', 'If-Match header support', :'f_locking',
    priority => 'medium', estimate => 2, assigned_to => :'grace', status => 'done');
SELECT id AS t_expose FROM intracker.create_todo(:'p_intracker', 'Expose the intracker schema to PostgREST', :'f_rest',
    priority => 'high', estimate => 3, assigned_to => :'claude', status => 'in_progress') \gset
SELECT id AS t_config FROM intracker.create_todo(:'p_intracker', 'Write the PostgREST configuration example', :'f_rest',
    description => 'db-schemas, db-anon-role, jwt-secret; link it from the README.',
    priority => 'medium', estimate => 2, assigned_to => :'claude') \gset
SELECT id AS t_openapi FROM intracker.create_todo(:'p_intracker', 'Publish the OpenAPI descriptions', :'f_rest',
    priority => 'low', estimate => 1, assigned_to => :'grace', due_date => current_date + 14) \gset
SELECT intracker.create_todo(:'p_intracker', 'JWT claims identity tests', :'f_rest',
    priority => 'high', estimate => 3, assigned_to => :'grace', status => 'review', tags => '{tests,security}');
SELECT id AS t_payload FROM intracker.create_todo(:'p_intracker', 'Design the event payload', :'f_events',
    priority => 'medium', estimate => 2, assigned_to => :'claude') \gset
SELECT id AS t_worker FROM intracker.create_todo(:'p_intracker', 'Background worker skeleton', :'f_events',
    priority => 'critical', estimate => 5, assigned_to => :'grace') \gset
SELECT id AS t_retry FROM intracker.create_todo(:'p_intracker', 'Retry failed webhooks', :'f_events',
    priority => 'medium', estimate => 3, status => 'blocked') \gset

-- "A is blocked by B"
SELECT intracker.add_dependency(:'t_config', :'t_expose');
SELECT intracker.add_dependency(:'t_openapi', :'t_expose');
SELECT intracker.add_dependency(:'t_openapi', :'t_config');
SELECT intracker.add_dependency(:'t_worker', :'t_payload');
SELECT intracker.add_dependency(:'t_retry', :'t_worker');

------------------------------------------------------------------------------
-- Project Website (owner Grace)
------------------------------------------------------------------------------
SELECT intracker.act_as(:'grace');
SELECT id AS p_website FROM intracker.create_project(
    'Website',
    'Marketing site and documentation.',
    'acme/website',
    tags => '{web,docs}',
    resume_context => '{
        "stack": "static site generator, deployed on push to main",
        "style": "plain English, no marketing superlatives",
        "review": "Grace approves every page before it goes live"
    }') \gset
SELECT intracker.add_member(:'p_website', :'ada', 'editor');
SELECT intracker.add_member(:'p_website', :'claude', 'editor');
SELECT intracker.add_member(:'p_website', :'margaret', 'viewer');

SELECT id AS f_landing FROM intracker.create_feature(:'p_website', 'Landing page', priority => 'high',
    assigned_to => :'ada', status => 'in_progress') \gset
SELECT id AS f_docs FROM intracker.create_feature(:'p_website', 'Documentation site', priority => 'medium') \gset

SELECT intracker.create_todo(:'p_website', 'Hero section copy', :'f_landing',
    priority => 'high', estimate => 1, assigned_to => :'ada', status => 'done');
SELECT id AS t_pricing FROM intracker.create_todo(:'p_website', 'Pricing table', :'f_landing',
    priority => 'high', estimate => 3, assigned_to => :'claude', status => 'in_progress') \gset
SELECT id AS t_screens FROM intracker.create_todo(:'p_website', 'Screenshots of the demo', :'f_landing',
    priority => 'low', estimate => 1, assigned_to => :'claude') \gset
SELECT id AS t_ssg FROM intracker.create_todo(:'p_website', 'Pick a static site generator', :'f_docs',
    priority => 'medium', estimate => 1, assigned_to => :'grace', status => 'done') \gset
SELECT id AS t_port FROM intracker.create_todo(:'p_website', 'Port the README to the docs site', :'f_docs',
    priority => 'medium', estimate => 3, assigned_to => :'claude', due_date => current_date + 7) \gset
SELECT intracker.create_todo(:'p_website', 'Company blog', :'f_docs',
    description => 'Dropped: nobody has time to write posts.', priority => 'low', status => 'cancelled');

SELECT intracker.add_dependency(:'t_screens', :'t_pricing');
SELECT intracker.add_dependency(:'t_port', :'t_ssg');

------------------------------------------------------------------------------
-- Project Mobile app (owner Grace)
------------------------------------------------------------------------------
SELECT id AS p_mobile FROM intracker.create_project(
    'Mobile app',
    'iOS and Android client with offline support.',
    'acme/mobile-app',
    tags => '{mobile}',
    resume_context => '{
        "stack": "Kotlin Multiplatform, SQLite cache",
        "constraints": ["the app must work offline for a week", "never store tokens unencrypted"]
    }') \gset
SELECT intracker.add_member(:'p_mobile', :'codex', 'editor');
SELECT intracker.add_member(:'p_mobile', :'ada', 'viewer');

SELECT id AS f_offline FROM intracker.create_feature(:'p_mobile', 'Offline sync', priority => 'critical',
    assigned_to => :'codex', status => 'in_progress') \gset
SELECT id AS f_push FROM intracker.create_feature(:'p_mobile', 'Push notifications', priority => 'medium') \gset

SELECT id AS t_cache FROM intracker.create_todo(:'p_mobile', 'Local SQLite cache', :'f_offline',
    priority => 'high', estimate => 5, assigned_to => :'codex', status => 'in_progress') \gset
SELECT id AS t_conflict FROM intracker.create_todo(:'p_mobile', 'Conflict resolution with row versions', :'f_offline',
    priority => 'critical', estimate => 8, assigned_to => :'codex') \gset
SELECT intracker.create_todo(:'p_mobile', 'Sync status indicator', :'f_offline', priority => 'low', estimate => 2);
SELECT intracker.create_todo(:'p_mobile', 'APNs certificate', :'f_push',
    priority => 'medium', estimate => 1, assigned_to => :'grace', due_date => current_date + 3);

SELECT intracker.add_dependency(:'t_conflict', :'t_cache');

------------------------------------------------------------------------------
-- Sessions: Grace and Claude worked on intracker (both ended; Claude's is the
-- latest), Codex is working on the Mobile app right now (open session).
------------------------------------------------------------------------------
SELECT intracker.act_as(:'grace');
SELECT id AS s_grace FROM intracker.start_session(:'p_intracker', 'Review the locking tests') \gset
SELECT intracker.end_session(:'s_grace', 'Reviewed the PT409 tests; asked for a concurrent two-session case.',
    next_steps => '{"Add a test with two sessions racing on one todo"}');

SELECT intracker.act_as(:'claude');
SELECT id AS s_claude FROM intracker.start_session(:'p_intracker', 'Expose the API to PostgREST') \gset
SELECT intracker.end_session(:'s_claude',
    'Granted intracker_user to the authenticated role and checked that every view is security_invoker. '
    'The schema is exposed; the configuration example is not written yet.',
    next_steps => '{"Finish: Expose the intracker schema to PostgREST (mark it done)",'
                  '"Write the PostgREST configuration example (db-schemas = intracker)",'
                  '"Then unblock: Publish the OpenAPI descriptions"}',
    blockers => '{"Need the production JWT secret from Ada before testing against staging"}',
    todo_ids => ARRAY[:'t_expose', :'t_config']::uuid[]);

SELECT intracker.act_as(:'codex');
SELECT intracker.start_session(:'p_mobile', 'Get the SQLite cache to pass its tests');

SELECT intracker.act_as(NULL);
\o
