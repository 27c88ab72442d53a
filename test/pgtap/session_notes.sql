-- test/pgtap/session_notes.sql — one rule for sessions' working notes
-- (summary and next steps), wherever they appear: intracker.sessions, the
-- session.* events (intracker.events, events_since()), team_context, and
-- the tables underneath.  A session's author, the project's editors and
-- owners read them; viewers do not (but in their own sessions); non-members
-- see nothing.  0.5 showed viewers every summary through the sessions view
-- and the events, and any user could read intracker_data.events directly.
--
-- As PostgREST's non-superuser role (session_user authenticator, SET ROLE
-- web_user, the user from request.jwt.claims).  One transaction, rolled back.

BEGIN;
SELECT plan(29);

-- The team of test_helpers.team_fixture() (owner, editor, viewer, outsider in
-- p1), plus newbie, who worked in p1 as an editor and is now a viewer.
SELECT test_helpers.team_fixture();
SELECT intracker.act_as(test_helpers.id('owner'));
SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('newbie'), 'editor');
SELECT intracker.act_as(test_helpers.id('editor'));
INSERT INTO test_helpers.ids SELECT 's_editor', id FROM intracker.start_session(test_helpers.id('p1'), 'Editor goal');
SELECT intracker.end_session(test_helpers.id('s_editor'), 'Editor summary', '{"editor next"}');
SELECT intracker.act_as(test_helpers.id('newbie'));
INSERT INTO test_helpers.ids SELECT 's_newbie', id FROM intracker.start_session(test_helpers.id('p1'), 'Newbie goal');
SELECT intracker.end_session(test_helpers.id('s_newbie'), 'Newbie summary', '{"newbie next"}');
SELECT intracker.act_as(test_helpers.id('owner'));
SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('newbie'), 'viewer');
SELECT intracker.act_as(NULL);

-- What a user sees, as one line each: the sessions view, the session.ended
-- events of events_since(), and the last sessions of team_context.
CREATE FUNCTION pg_temp.sessions_seen() RETURNS text
LANGUAGE sql AS $$
    SELECT coalesce(string_agg(format('%s:%s/%s', test_helpers.name_of(id), coalesce(summary, '-'),
                                      coalesce(array_to_string(next_steps, ','), '-')), ' ' ORDER BY goal), '')
      FROM intracker.sessions
$$;
CREATE FUNCTION pg_temp.events_seen() RETURNS text
LANGUAGE sql AS $$
    SELECT coalesce(string_agg(format('%s:%s/%s', test_helpers.name_of(entity_id),
                                      coalesce(changes #>> '{summary,new}', '-'),
                                      coalesce(changes #>> '{next_steps,new,0}', '-')), ' ' ORDER BY seq), '')
      FROM intracker.events_since(0) WHERE type = 'session.ended'
$$;
CREATE FUNCTION pg_temp.context_seen() RETURNS text
LANGUAGE sql AS $$
    SELECT coalesce(string_agg(format('%s:%s', m ->> 'name', coalesce(m #>> '{last_session,summary}', '-')), ' '
                               ORDER BY m ->> 'name'), '')
      FROM jsonb_array_elements(intracker.team_context(test_helpers.id('p1')) -> 'team_members') AS m
     WHERE m -> 'last_session' <> 'null'
$$;

SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;

SELECT test_helpers.as_user('owner');
SELECT is(pg_temp.sessions_seen(), 's_editor:Editor summary/editor next s_newbie:Newbie summary/newbie next',
          'owner: intracker.sessions shows every summary and next steps');
SELECT is(pg_temp.events_seen(), 's_editor:Editor summary/editor next s_newbie:Newbie summary/newbie next',
          'owner: session.ended events carry them');
SELECT is(pg_temp.context_seen(), 'Editor:Editor summary Newbie:Newbie summary', 'owner: team_context shows them');

SELECT test_helpers.as_user('editor');
SELECT is(pg_temp.sessions_seen(), 's_editor:Editor summary/editor next s_newbie:Newbie summary/newbie next',
          'editor: intracker.sessions shows every summary and next steps');
SELECT is(pg_temp.events_seen(), 's_editor:Editor summary/editor next s_newbie:Newbie summary/newbie next',
          'editor: session.ended events carry them');
SELECT is(pg_temp.context_seen(), 'Editor:Editor summary Newbie:Newbie summary', 'editor: team_context shows them');

SELECT test_helpers.as_user('viewer');
SELECT is(pg_temp.sessions_seen(), 's_editor:-/- s_newbie:-/-',
          'viewer: intracker.sessions shows the sessions without summary and next steps');
SELECT is(pg_temp.events_seen(), 's_editor:-/- s_newbie:-/-',
          'viewer: session.ended events come without summary and next steps');
SELECT is(pg_temp.context_seen(), 'Editor:- Newbie:-', 'viewer: team_context shows last sessions without summary');
SELECT ok((SELECT bool_and(goal IS NOT NULL AND ended_at IS NOT NULL) FROM intracker.sessions),
          'viewer: the rest of a session (goal, times) is still shown');
SELECT ok((SELECT bool_and(changes ? 'ended_at') FROM intracker.events_since(0) WHERE type = 'session.ended'),
          'viewer: the rest of the event''s changes is still there');

SELECT test_helpers.as_user('newbie');
SELECT is(pg_temp.sessions_seen(), 's_editor:-/- s_newbie:Newbie summary/newbie next',
          'a viewer who worked as an editor reads the notes of their own session only');
SELECT is(pg_temp.events_seen(), 's_editor:-/- s_newbie:Newbie summary/newbie next',
          'and of their own session''s events only');
SELECT is(pg_temp.context_seen(), 'Editor:- Newbie:Newbie summary', 'and in team_context their own only');

SELECT test_helpers.as_user('outsider');
SELECT is(pg_temp.sessions_seen(), '', 'non-member: no session of p1');
SELECT is((SELECT count(*) FROM intracker.events WHERE project_id = test_helpers.id('p1')), 0::bigint,
          'non-member: no event of p1');

SELECT test_helpers.as_user(NULL);
SELECT is(pg_temp.sessions_seen(), '', 'anonymous: no session');
SELECT is((SELECT count(*) FROM intracker.events), 0::bigint, 'anonymous: no event');

-- The tables underneath: the note columns of sessions and the whole event
-- log are not readable, whatever the role.
SELECT test_helpers.as_user('viewer');
SELECT throws_ok($$SELECT summary FROM intracker_data.sessions$$, '42501', NULL,
                 'viewer: reading summary from intracker_data.sessions is refused');
SELECT throws_ok($$SELECT next_steps FROM intracker_data.sessions$$, '42501', NULL,
                 'viewer: reading next_steps from intracker_data.sessions is refused');
SELECT throws_ok($$SELECT changes FROM intracker_data.events$$, '42501', NULL,
                 'viewer: reading intracker_data.events is refused');
SELECT lives_ok($$SELECT goal, ended_at FROM intracker_data.sessions$$,
                'viewer: the other columns of intracker_data.sessions stay readable (under RLS)');
SELECT test_helpers.as_user('owner');
SELECT throws_ok($$SELECT summary FROM intracker_data.sessions$$, '42501', NULL,
                 'owner too reads notes only through intracker.sessions');

-- The views are security barriers: a function in the caller's WHERE clause
-- runs after their filter, so it never sees a row of another project.
RESET ROLE;
RESET SESSION AUTHORIZATION;
CREATE TABLE pg_temp.peeked (summary text);
GRANT INSERT ON pg_temp.peeked TO PUBLIC;
CREATE FUNCTION pg_temp.peek_at(summary text) RETURNS boolean
LANGUAGE sql VOLATILE AS $$ INSERT INTO pg_temp.peeked VALUES (summary) RETURNING true $$;
SELECT intracker.act_as(test_helpers.id('editor'));
INSERT INTO test_helpers.ids SELECT 'p2', id FROM intracker.create_project('Project Two');
SELECT intracker.end_session((SELECT id FROM intracker.start_session(test_helpers.id('p2'), 'Secret goal')),
                             'Secret summary');
SELECT intracker.act_as(NULL);
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;
SELECT test_helpers.as_user('viewer');
SELECT is((SELECT count(*) FROM intracker.sessions WHERE pg_temp.peek_at(goal)), 2::bigint,
          'viewer: a function in the WHERE clause of a query on intracker.sessions ...');
SELECT is((SELECT count(*) FROM intracker.events WHERE pg_temp.peek_at(type || ':' || project_id)), 
          (SELECT count(*) FROM intracker.events_since(0)),
          '... and on intracker.events ...');
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*) FROM pg_temp.peeked WHERE summary = 'Secret goal'
              OR summary LIKE '%' || test_helpers.id('p2')), 0::bigint,
          '... never sees a row of a project the viewer is not in');
SELECT ok((SELECT count(*) FROM pg_temp.peeked) > 0, '(the function did run on the visible rows)');

-- Writing through the view still works, as the author, and keeps the notes.
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;
SELECT test_helpers.as_user('editor');
SELECT is(test_helpers.affected($$UPDATE intracker.sessions SET goal = 'Editor goal, renamed' WHERE id = test_helpers.id('s_editor')$$),
          1, 'editor: an UPDATE of the goal through the view updates his session');
SELECT is((SELECT summary || '/' || array_to_string(next_steps, ',') FROM intracker.sessions WHERE id = test_helpers.id('s_editor')),
          'Editor summary/editor next', 'and leaves its summary and next steps as they were');

SELECT * FROM finish();
ROLLBACK;
