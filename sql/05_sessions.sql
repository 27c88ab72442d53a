--
-- Work sessions: one open session per user and project; ending one records
-- what the next person or agent needs to resume.
--
\set ECHO none
\i sql/fixture/setup.sql
\set ECHO all
SET ROLE regress_admin;
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000b') IS NOT NULL AS acting_as_bot;
\set tracker '(SELECT id FROM regress.names WHERE name = ''tracker'')'
-- Two todos of the project for a session to name (03_todos makes them).
INSERT INTO intracker.todos (id, project_id, title)
VALUES ('00000000-0000-0000-0000-0000000000a1', :tracker, 'OAuth callback'),
       ('00000000-0000-0000-0000-0000000000a2', :tracker, 'Session cookie');

SELECT goal, ended_at IS NULL AS open, regress.named(user_id::text) AS user_name
  FROM intracker.start_session(:tracker, 'Finish login');
INSERT INTO regress.names SELECT id, 'bot-session' FROM intracker.sessions WHERE goal = 'Finish login';
-- A second open session in the same project is refused.
SELECT * FROM regress.try($$SELECT intracker.start_session((SELECT id FROM regress.names WHERE name = 'tracker'))$$);

-- Only the session's user ends it; todo_ids must be todos of the project.
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT * FROM regress.try($$SELECT intracker.end_session((SELECT id FROM regress.names WHERE name = 'bot-session'), 'Not mine')$$);
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000b') IS NOT NULL AS acting_as_bot;
SELECT * FROM regress.try($$SELECT intracker.end_session((SELECT id FROM regress.names WHERE name = 'bot-session'), 'Done', todo_ids => '{00000000-0000-0000-0000-000000000999}')$$);
SELECT summary, next_steps, blockers, array_length(todo_ids, 1) AS todos, ended_at >= started_at AS ended
  FROM intracker.end_session((SELECT id FROM regress.names WHERE name = 'bot-session'),
                             'OAuth callback works; cookie pending review',
                             next_steps => '{"Review the cookie flags","Write logout test"}',
                             blockers => '{"Need a staging GitHub app"}',
                             todo_ids => '{00000000-0000-0000-0000-0000000000a1,00000000-0000-0000-0000-0000000000a2}');
SELECT * FROM regress.try($$SELECT intracker.end_session((SELECT id FROM regress.names WHERE name = 'bot-session'), 'Again')$$);
-- With that one ended, a new session can start.
SELECT goal, ended_at IS NULL AS open FROM intracker.start_session(:tracker, 'Logout');

-- Viewers read sessions but do not record them; outsiders see none.  The
-- working notes (summary, next steps) of others' sessions are not for
-- viewers: NULL (0.5 showed them).
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000c') IS NOT NULL AS acting_as_vic;
SELECT regress.named(user_id::text) AS user_name, goal, summary, next_steps FROM intracker.sessions ORDER BY started_at;
SELECT * FROM regress.try($$SELECT intracker.start_session((SELECT id FROM regress.names WHERE name = 'tracker'))$$);
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000d') IS NOT NULL AS acting_as_outsider;
SELECT count(*) AS sessions_outsider_sees FROM intracker.sessions;
SELECT * FROM regress.try($$SELECT intracker.end_session((SELECT id FROM regress.names WHERE name = 'bot-session'), 'x')$$);

SELECT intracker.act_as(NULL);
RESET ROLE;
