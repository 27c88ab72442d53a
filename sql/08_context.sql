--
-- Team context and resume context (0.3): the exact documents for a fixed
-- scenario, the counters behind them, and the edge cases: an empty project,
-- members without sessions, viewer privacy, list limits, the byte cap with
-- huge texts, text that needs escaping, and the errors.
--
-- Documents are shown one line per row (jsonb_pretty, keys in jsonb order)
-- with what varies masked: timestamps become "<time>", ids become their
-- names (regress.named), and context_version is checked to be 16 hex digits
-- (its stability is tested on its own).
--
\set ECHO none
\i sql/fixture/setup.sql
\set ECHO all

-- Helpers (run as their caller); regress.mask is the fixture's.
CREATE FUNCTION regress.show(doc jsonb) RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    SELECT regress.named(line) FROM regexp_split_to_table(jsonb_pretty(regress.mask(doc)), E'\n') AS line
$$;

-- Size of the compact serialization (no blanks); context_max_bytes limits
-- the text form a client receives (jsonb adds a blank after every ":" and
-- ","), checked with octet_length(doc::text) below.
CREATE FUNCTION regress.compact_size(doc jsonb) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE jsonb_typeof(doc)
        WHEN 'object' THEN 2 + coalesce((SELECT sum(octet_length(to_jsonb(key)::text) + 1 + regress.compact_size(value))
                                                + count(*) - 1 FROM jsonb_each(doc)), 0)
        WHEN 'array' THEN 2 + coalesce((SELECT sum(regress.compact_size(value)) + count(*) - 1
                                           FROM jsonb_array_elements(doc)), 0)
        ELSE octet_length(doc::text) END::integer
$$;

-- The documents of a project (by its name in regress.names) for the acting
-- user.
CREATE FUNCTION regress.team(project text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT intracker.team_context((SELECT id FROM regress.names WHERE name = project))
$$;
-- team_context at a byte cap (set for the rest of the transaction).
CREATE FUNCTION regress.team_capped(project text, cap integer) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('intracker.context_max_bytes', cap::text, true);
    RETURN regress.team(project);
END
$$;
CREATE FUNCTION regress.resume(project text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT intracker.resume_context((SELECT id FROM regress.names WHERE name = project))
$$;

------------------------------------------------------------------------------
-- The scenario: project Context with an owner (Ann), an editor agent (Bot),
-- a viewer who never worked (Vic) and Dee, who worked as an editor and is
-- now a viewer.
------------------------------------------------------------------------------
SET ROLE regress_admin;
SELECT name, kind FROM intracker.create_user('dee@example.com', 'Dee', 'agent', user_id => '00000000-0000-0000-0000-00000000000e');
INSERT INTO regress.names VALUES ('00000000-0000-0000-0000-00000000000e', 'dee');

SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT id AS ctx FROM intracker.create_project('Context', 'Agents read this first', 'acme/context',
    resume_context => $${"constraints": ["no app server", "tabs, not spaces"], "greeting": "héllo \"wörld\" 👋\nbye"}$$) \gset
INSERT INTO regress.names VALUES (:'ctx', 'ctx');
SELECT count(intracker.add_member(:'ctx', u, r)) AS members_added
  FROM (VALUES ('00000000-0000-0000-0000-00000000000b'::uuid, 'editor'), ('00000000-0000-0000-0000-00000000000c', 'viewer'),
               ('00000000-0000-0000-0000-00000000000e', 'editor')) AS m (u, r);

INSERT INTO regress.names
SELECT f.id, 'feature-' || lower(f.title)
  FROM (VALUES ('API', 'high', 'in_progress', '00000000-0000-0000-0000-00000000000b'::uuid),
               ('Docs', 'medium', 'todo', NULL), ('Search', 'low', 'in_progress', NULL)) AS x (title, priority, status, assignee)
 CROSS JOIN LATERAL intracker.create_feature(:'ctx', x.title, priority => x.priority, status => x.status,
                                             assigned_to => x.assignee) f;
\set api '(SELECT id FROM regress.names WHERE name = ''feature-api'')'
\set docs '(SELECT id FROM regress.names WHERE name = ''feature-docs'')'
\set search '(SELECT id FROM regress.names WHERE name = ''feature-search'')'

-- One statement: every todo has the same created_at, so ties go by id.
INSERT INTO intracker.todos (id, project_id, feature_id, title, priority, estimate, assigned_to, due_date, blocked_reason)
VALUES ('00000000-0000-0000-0000-000000000c01', :'ctx', :api, 'Schema', 'critical', 3, '00000000-0000-0000-0000-00000000000b', NULL, NULL),
       ('00000000-0000-0000-0000-000000000c02', :'ctx', :api, 'Endpoints', 'high', 2, '00000000-0000-0000-0000-00000000000b', NULL, NULL),
       ('00000000-0000-0000-0000-000000000c03', :'ctx', :api, 'Auth checks', 'high', 1, '00000000-0000-0000-0000-00000000000b', NULL, NULL),
       ('00000000-0000-0000-0000-000000000c04', :'ctx', :api, 'Rate limiter', 'medium', 2, '00000000-0000-0000-0000-00000000000a', NULL, NULL),
       ('00000000-0000-0000-0000-000000000c05', :'ctx', :docs, 'Write guide', 'low', 1, '00000000-0000-0000-0000-00000000000b', NULL, 'waiting for the API freeze'),
       ('00000000-0000-0000-0000-000000000c06', :'ctx', :search, 'Index tuning', 'medium', 5, '00000000-0000-0000-0000-00000000000a', '2030-01-01', NULL),
       ('00000000-0000-0000-0000-000000000c07', :'ctx', NULL, 'Dropped idea', 'high', 1, NULL, NULL, NULL),
       ('00000000-0000-0000-0000-000000000c08', :'ctx', :docs, 'Triage inbox', 'medium', 1, NULL, NULL, NULL),
       ('00000000-0000-0000-0000-000000000c09', :'ctx', NULL, E'Say "hi" \\ to ☃ and 🚀\nsecond line\tend', 'low', 1, '00000000-0000-0000-0000-00000000000a', NULL, NULL);
INSERT INTO regress.names VALUES
    ('00000000-0000-0000-0000-000000000c01', 'schema'), ('00000000-0000-0000-0000-000000000c02', 'endpoints'),
    ('00000000-0000-0000-0000-000000000c03', 'auth-checks'), ('00000000-0000-0000-0000-000000000c04', 'rate-limiter'),
    ('00000000-0000-0000-0000-000000000c05', 'write-guide'), ('00000000-0000-0000-0000-000000000c06', 'index-tuning'),
    ('00000000-0000-0000-0000-000000000c07', 'dropped-idea'), ('00000000-0000-0000-0000-000000000c08', 'triage-inbox'),
    ('00000000-0000-0000-0000-000000000c09', 'unicode-todo');
-- Auth checks wait for the rate limiter; the guide is blocked by status.
SELECT intracker.add_dependency('00000000-0000-0000-0000-000000000c03', '00000000-0000-0000-0000-000000000c04') IS NOT NULL AS blocked;
SELECT title, status FROM intracker.set_todo_status('00000000-0000-0000-0000-000000000c05', 'blocked', 1);
SELECT title, status FROM intracker.set_todo_status('00000000-0000-0000-0000-000000000c07', 'cancelled', 1);
SELECT title, status FROM intracker.set_todo_status('00000000-0000-0000-0000-000000000c06', 'in_progress', 1);

-- Bot finishes the schema and starts on the endpoints, in a session.
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000b') IS NOT NULL AS acting_as_bot;
SELECT id AS bot_session FROM intracker.start_session(:'ctx', 'Build the API') \gset
SELECT title, status FROM intracker.set_todo_status('00000000-0000-0000-0000-000000000c01', 'done', 1);
SELECT title, status FROM intracker.set_todo_status('00000000-0000-0000-0000-000000000c02', 'in_progress', 1);
SELECT summary FROM intracker.end_session(:'bot_session', E'Schema merged 🎉\nEndpoints: half done',
    next_steps => '{"Finish the endpoints","Ask Ann about limits"}', blockers => '{"Rate limiter design"}',
    todo_ids => '{00000000-0000-0000-0000-000000000c01,00000000-0000-0000-0000-000000000c02}');
-- Ann has an open session; Dee worked once, then became a viewer.
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT goal FROM intracker.start_session(:'ctx', 'Tune the index');
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000e') IS NOT NULL AS acting_as_dee;
SELECT id AS dee_session FROM intracker.start_session(:'ctx', 'Read the code') \gset
SELECT summary FROM intracker.end_session(:'dee_session', 'Read everything', next_steps => '{"Write the guide"}');
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT role FROM intracker.add_member(:'ctx', '00000000-0000-0000-0000-00000000000e', 'viewer');

------------------------------------------------------------------------------
-- team_context as the owner: every member with their role, focus, open
-- todos (most important first) and last session; the shared blockers with
-- what blocks them; the progress counters.
------------------------------------------------------------------------------
SELECT * FROM regress.show(regress.team('ctx'));

-- The counters agree with a count from scratch.
SELECT count(*) FILTER (WHERE status NOT IN ('done', 'cancelled')) AS open,
       count(*) FILTER (WHERE status = 'done') AS done,
       count(*) FILTER (WHERE status <> 'cancelled') AS total
  FROM intracker.todos WHERE project_id = :'ctx';
SELECT count(*) AS drifted_counters FROM intracker.verify_counters();
SELECT title, todos_total, todos_done, progress FROM intracker.features WHERE project_id = :'ctx' ORDER BY title;

-- Text survives exactly: quotes, backslashes, newlines, tabs, emoji, and
-- the project notes as JSON.
SELECT (SELECT t->>'title' FROM jsonb_array_elements(m->'active_todos') t WHERE t->>'id' = '00000000-0000-0000-0000-000000000c09')
         = (SELECT title FROM intracker.todos WHERE id = '00000000-0000-0000-0000-000000000c09') AS title_round_trips,
       d->'project'->'notes' = (SELECT resume_context FROM intracker.projects WHERE id = :'ctx') AS notes_round_trip,
       (SELECT s->'last_session'->>'summary' FROM jsonb_array_elements(d->'team_members') s
         WHERE s->>'user_id' = '00000000-0000-0000-0000-00000000000b') = E'Schema merged 🎉\nEndpoints: half done' AS summary_round_trips
  FROM regress.team('ctx') AS d, jsonb_array_elements(d->'team_members') AS m
 WHERE m->>'user_id' = '00000000-0000-0000-0000-00000000000a';

-- Dates are ISO 8601 whatever the session's DateStyle, so a document (and
-- its context_version) does not depend on the client's settings.
SELECT current_setting('DateStyle') AS datestyle, d->'team_members'->0->'active_todos'->0->>'due_date' AS due_date
  FROM regress.team('ctx') AS d;
SET DateStyle = 'ISO, MDY';
CREATE TEMP TABLE iso_doc AS SELECT regress.team('ctx') AS doc;
SELECT current_setting('DateStyle') AS datestyle, doc->'team_members'->0->'active_todos'->0->>'due_date' AS due_date FROM iso_doc;
SET DateStyle = 'SQL, DMY';
SELECT current_setting('DateStyle') AS datestyle, d->'team_members'->0->'active_todos'->0->>'due_date' AS due_date
  FROM regress.team('ctx') AS d;
RESET DateStyle;
SELECT (SELECT doc->>'context_version' FROM iso_doc) = regress.team('ctx')->>'context_version' AS same_version_whatever_datestyle;

-- context_version: the same while nothing changes, the same after changes
-- to what the document does not show (a done todo's tags, an unassigned
-- todo of a feature not in progress), different after a change to what it
-- shows, and the same again once that change is undone.
CREATE TEMP TABLE versions (n serial, step text, version text);
INSERT INTO versions (step, version) VALUES ('first', regress.team('ctx')->>'context_version');
INSERT INTO versions (step, version) VALUES ('again', regress.team('ctx')->>'context_version');
SELECT count(*) AS done_todo_tags_changed FROM intracker.update_todo('00000000-0000-0000-0000-000000000c01', '{"tags": ["db"]}', 2);
SELECT title FROM intracker.update_todo('00000000-0000-0000-0000-000000000c08', '{"title": "Triage the inbox"}', 1);
INSERT INTO versions (step, version) VALUES ('unshown changes', regress.team('ctx')->>'context_version');
SELECT description FROM intracker.update_project(:'ctx', '{"description": "Agents read this first!"}', 1);
INSERT INTO versions (step, version) VALUES ('description changed', regress.team('ctx')->>'context_version');
SELECT description FROM intracker.update_project(:'ctx', '{"description": "Agents read this first"}', 2);
INSERT INTO versions (step, version) VALUES ('change undone', regress.team('ctx')->>'context_version');
SELECT step, version ~ '^[0-9a-f]{16}$' AS is_16_hex,
       version = (SELECT version FROM versions WHERE step = 'first') AS same_as_first
  FROM versions ORDER BY n;

------------------------------------------------------------------------------
-- resume_context: the caller's notes, last session, open todos in claim
-- order (in progress first) with their blockers, team activity in their
-- features, and next_action.
------------------------------------------------------------------------------
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000b') IS NOT NULL AS acting_as_bot;
SELECT * FROM regress.show(regress.resume('ctx'));
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT * FROM regress.show(regress.resume('ctx'));

-- next_action in each situation.  In progress (above); claimable:
SELECT title, status FROM intracker.set_todo_status('00000000-0000-0000-0000-000000000c06', 'done', 2);
SELECT regress.named(regress.resume('ctx')->>'next_action') AS ann_next_action;
-- In review (the rest blocked):
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000b') IS NOT NULL AS acting_as_bot;
SELECT title, status FROM intracker.set_todo_status('00000000-0000-0000-0000-000000000c02', 'review', 2);
SELECT regress.named(regress.resume('ctx')->>'next_action') AS bot_next_action;
-- Only blocked (by an open dependency, or by status):
SELECT title, status FROM intracker.set_todo_status('00000000-0000-0000-0000-000000000c02', 'blocked', 3);
SELECT regress.named(regress.resume('ctx')->>'next_action') AS bot_next_action;
SELECT title, status FROM intracker.set_todo_status('00000000-0000-0000-0000-000000000c02', 'review', 4);
-- Nothing assigned (Vic, a viewer without sessions):
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000c') IS NOT NULL AS acting_as_vic;
SELECT * FROM regress.show(regress.resume('ctx'));

------------------------------------------------------------------------------
-- Viewer privacy: a viewer sees the others' last sessions without summary
-- and next steps, but their own in full.
------------------------------------------------------------------------------
SELECT d->>'your_role' AS vic_role, m->>'name' AS member, m->>'role' AS role,
       jsonb_typeof(m->'last_session') AS last_session,
       m->'last_session' ? 'goal' AS has_goal, m->'last_session' ? 'summary' AS has_summary,
       m->'last_session' ? 'next_steps' AS has_next_steps
  FROM regress.team('ctx') AS d, jsonb_array_elements(d->'team_members') WITH ORDINALITY AS x (m, n)
 ORDER BY n;
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000e') IS NOT NULL AS acting_as_dee;
SELECT m->>'name' AS member, m->'last_session'->>'summary' AS summary, m->'last_session'->'next_steps' AS next_steps
  FROM regress.team('ctx') AS d, jsonb_array_elements(d->'team_members') WITH ORDINALITY AS x (m, n)
 ORDER BY n;
SELECT (regress.resume('ctx')->'last_session'->>'summary') AS dee_own_summary_in_resume;
-- Editors and owners see every summary.
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000b') IS NOT NULL AS acting_as_bot;
SELECT m->>'name' AS member, m->'last_session'->>'summary' AS summary
  FROM regress.team('ctx') AS d, jsonb_array_elements(d->'team_members') WITH ORDINALITY AS x (m, n)
 ORDER BY n;

------------------------------------------------------------------------------
-- Errors: non-members and unknown projects are not found, no identity is
-- PT401, a NULL project is invalid input.
------------------------------------------------------------------------------
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000d') IS NOT NULL AS acting_as_outsider;
SELECT * FROM regress.try(format('SELECT intracker.team_context(%L)', :'ctx'));
SELECT * FROM regress.try(format('SELECT intracker.resume_context(%L)', :'ctx'));
SELECT * FROM regress.try($$SELECT intracker.team_context('00000000-0000-0000-0000-000000000999')$$);
SELECT * FROM regress.try($$SELECT intracker.team_context(NULL)$$);
SELECT * FROM regress.try($$SELECT intracker.resume_context(NULL)$$);
SELECT intracker.act_as(NULL);
SELECT * FROM regress.try(format('SELECT intracker.team_context(%L)', :'ctx'));
SELECT * FROM regress.try(format('SELECT intracker.resume_context(%L)', :'ctx'));
SELECT count(*) AS dashboard_rows_anonymous FROM intracker.team_dashboard;

------------------------------------------------------------------------------
-- An empty project: one member, no todos, no sessions.
------------------------------------------------------------------------------
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000d') IS NOT NULL AS acting_as_outsider;
SELECT id AS solo FROM intracker.create_project('Solo') \gset
INSERT INTO regress.names VALUES (:'solo', 'solo');
SELECT * FROM regress.show(regress.team('solo'));
SELECT * FROM regress.show(regress.resume('solo'));
-- Its only open todo is blocked by status: next_action must not claim that
-- nothing is assigned.
INSERT INTO intracker.todos (id, project_id, title, assigned_to, status, blocked_reason)
VALUES ('00000000-0000-0000-0000-000000000c10', :'solo', 'Sign the contract', '00000000-0000-0000-0000-00000000000d', 'blocked', 'waiting for legal');
SELECT regress.resume('solo')->>'next_action' NOT LIKE 'Nothing is assigned to you%' AS mentions_the_blocked_todo,
       regress.resume('solo')->>'next_action' LIKE '%Sign the contract%' AS names_it;
SELECT jsonb_array_length(regress.team('solo')->'shared_blockers') AS shared_blockers;

------------------------------------------------------------------------------
-- List limits: intracker.context_todo_limit caps each list; members say how
-- many open todos they did not show, "omitted" how to fetch the rest.
------------------------------------------------------------------------------
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SET intracker.context_todo_limit = 2;
SELECT m->>'name' AS member, m->'open_todos' AS open_todos, jsonb_array_length(m->'active_todos') AS shown,
       m->'active_todos_omitted' AS omitted,
       (SELECT string_agg(regress.named(t->>'id'), ', ' ORDER BY n) FROM jsonb_array_elements(m->'active_todos') WITH ORDINALITY AS a (t, n)) AS todos
  FROM regress.team('ctx') AS d, jsonb_array_elements(d->'team_members') WITH ORDINALITY AS x (m, n)
 ORDER BY n;
SET intracker.context_todo_limit = 1;
SELECT jsonb_array_length(d->'shared_blockers') AS blockers_shown,
       jsonb_array_length(d->'team_progress'->'features_in_progress') AS features_shown,
       regress.named(jsonb_pretty(d->'omitted')) AS omitted
  FROM regress.team('ctx') AS d;
SELECT jsonb_array_length(regress.resume('ctx')->'your_open_todos') AS ann_todos_shown;
SET intracker.context_todo_limit = 0;
SELECT m->>'name' AS member, jsonb_array_length(m->'active_todos') AS shown, m->'active_todos_omitted' AS omitted
  FROM regress.team('ctx') AS d, jsonb_array_elements(d->'team_members') WITH ORDINALITY AS x (m, n)
 ORDER BY n;
RESET intracker.context_todo_limit;
SELECT * FROM regress.try($$SET intracker.context_todo_limit = -1$$);
SELECT * FROM regress.try($$SET intracker.context_max_bytes = 1000$$);

------------------------------------------------------------------------------
-- The byte cap: a huge text (a 100,000-byte project description, then a
-- 100,000-byte session summary) under intracker.context_max_bytes = 2048.
-- Huge has one member, Bot, with twelve open todos.
--
-- Not tested here because it hangs the backend (uncancellable, memory
-- growing): a document with two texts over 280 bytes, or one that is still
-- over the cap once its lists are empty and its texts shortened.  The
-- trimmer then shortens the same 283-byte text again and again.
------------------------------------------------------------------------------
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000b') IS NOT NULL AS acting_as_bot;
SELECT id AS huge FROM intracker.create_project('Huge', repeat('x', 100000)) \gset
INSERT INTO regress.names VALUES (:'huge', 'huge');
INSERT INTO intracker.todos (id, project_id, title, priority, assigned_to)
SELECT ('00000000-0000-0000-0000-000000000d' || lpad(i::text, 2, '0'))::uuid, :'huge', 'Huge todo ' || i,
       (ARRAY['low', 'medium', 'high', 'critical'])[1 + i % 4], '00000000-0000-0000-0000-00000000000b'
  FROM generate_series(1, 12) AS i;
SELECT id AS huge_session FROM intracker.start_session(:'huge') \gset
SELECT summary FROM intracker.end_session(:'huge_session', 'Short summary');
-- With the highest cap the document holds the text in full.
SET intracker.context_max_bytes = '16MB';
SELECT length(d->'project'->>'description') AS description_length,
       jsonb_array_length(d->'team_members'->0->'active_todos') AS todos_shown,
       d ? 'omitted' AS has_omitted
  FROM regress.team('huge') AS d;

SET intracker.context_max_bytes = 2048;
CREATE TEMP TABLE capped AS
SELECT 'description' AS huge_text, 'team_context' AS doc_name, regress.team('huge') AS doc
UNION ALL SELECT 'description', 'resume_context', regress.resume('huge');
-- The other way round: a short description and a huge summary.
SELECT length(description) AS description_length FROM intracker.update_project(:'huge', '{"description": "Short again"}', 1);
SELECT id AS huge_session FROM intracker.start_session(:'huge') \gset
SELECT length(summary) AS summary_length FROM intracker.end_session(:'huge_session', repeat('y', 100000));
INSERT INTO capped
SELECT 'summary', 'team_context', regress.team('huge')
UNION ALL SELECT 'summary', 'resume_context', regress.resume('huge');
RESET intracker.context_max_bytes;

SELECT huge_text, doc_name, octet_length(doc::text) <= 2048 AS within_cap,
       length(doc->'project'->>'description') AS description_length,
       length(coalesce(doc->'team_members'->0->'last_session', doc->'last_session')->>'summary') AS summary_length,
       coalesce(doc->'team_members'->0->'active_todos', doc->'your_open_todos') AS todos_left,
       regress.named(doc->>'next_action') AS next_action
  FROM capped ORDER BY 1, 2;
-- Shortened texts keep their start and end with an ellipsis.
SELECT huge_text, doc_name,
       coalesce(doc->'project'->>'description' ~ '^x+…$', false)
       OR coalesce(coalesce(doc->'team_members'->0->'last_session', doc->'last_session')->>'summary' ~ '^y+…$', false) AS shortened
  FROM capped ORDER BY 1, 2;
-- What was left out, and how to fetch it.
SELECT huge_text, doc_name, line FROM capped, regress.show(doc->'omitted') AS line ORDER BY 1, 2;
-- A member whose list was cut says how many of their open todos are not shown.
SELECT huge_text, m->>'name' AS member, m->'open_todos' AS open_todos, jsonb_array_length(m->'active_todos') AS shown,
       m->'active_todos_omitted' AS active_todos_omitted
  FROM capped, jsonb_array_elements(doc->'team_members') AS m
 WHERE doc_name = 'team_context' ORDER BY 1;

-- Lists are cut from their least important end: with a cap a little under
-- the Context document's size, the last members' todos go first (Bot's,
-- from the end of his list), Ann's stay, and "omitted" counts what went.
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
CREATE TEMP TABLE uncapped AS SELECT regress.team('ctx') AS doc;
SELECT octet_length(doc::text) - 150 AS cut_cap FROM uncapped \gset
SELECT set_config('intracker.context_max_bytes', :'cut_cap', false) IS NOT NULL AS cap_set;
CREATE TEMP TABLE cut AS SELECT regress.team('ctx') AS doc;
RESET intracker.context_max_bytes;
SELECT octet_length(c.doc::text) <= :cut_cap AS within_cap,
       c.doc->'team_members'->0->'active_todos' = u.doc->'team_members'->0->'active_todos' AS ann_todos_kept,
       jsonb_array_length(c.doc->'team_members'->1->'active_todos')
         < jsonb_array_length(u.doc->'team_members'->1->'active_todos') AS bot_todos_cut,
       (SELECT bool_and(t = u.doc->'team_members'->1->'active_todos'->(n::int - 1))
          FROM jsonb_array_elements(c.doc->'team_members'->1->'active_todos') WITH ORDINALITY AS k (t, n)) IS NOT FALSE AS bot_kept_his_first_todos,
       (c.doc->'omitted'->'active_todos'->>'count')::int
         = jsonb_array_length(u.doc->'team_members'->1->'active_todos')
           - jsonb_array_length(c.doc->'team_members'->1->'active_todos') AS omitted_count_right,
       coalesce((c.doc->'team_members'->1->>'active_todos_omitted')::int, 0)
         = (c.doc->'team_members'->1->>'open_todos')::int
           - jsonb_array_length(c.doc->'team_members'->1->'active_todos') AS bot_says_how_many_omitted,
       c.doc->'shared_blockers' = u.doc->'shared_blockers' AS shared_blockers_kept
  FROM cut c, uncapped u;

-- Even when nothing has to be trimmed, the finished document (with its
-- context_version and generated_at) stays within the cap: a cap just below
-- the full size of the Context project's document.
SELECT octet_length(doc::text) - 40 AS tight_cap FROM uncapped \gset
SELECT set_config('intracker.context_max_bytes', :'tight_cap', false) IS NOT NULL AS cap_set;
SELECT octet_length(d::text) <= :tight_cap AS within_tight_cap FROM regress.team('ctx') AS d;
RESET intracker.context_max_bytes;

-- Caps that the members alone overflow: every list item goes (team_context
-- then does not even fetch them), then session notes, texts and members,
-- and "omitted" counts all of it.  The same documents, byte for byte, as
-- when the lists were fetched and trimmed (expected output of 0.3), but at
-- 1024 and 1536 bytes: there 0.5 returned documents over the cap (flagged
-- still_over_max_bytes); now the project notes go too, and every one fits.
SELECT cap, octet_length(d::text) <= cap AS fits, jsonb_array_length(d->'team_members') AS members,
       (SELECT coalesce(sum(jsonb_array_length(m->'active_todos')), 0) FROM jsonb_array_elements(d->'team_members') m) AS todos,
       (SELECT string_agg(m->>'name' || '=' || coalesce(m->>'active_todos_omitted', '-'), ' ') FROM jsonb_array_elements(d->'team_members') m) AS todos_omitted,
       jsonb_array_length(d->'shared_blockers') AS blockers,
       jsonb_array_length(d->'team_progress'->'features_in_progress') AS features,
       (SELECT string_agg(key || '=' || (value->>'count'), ' ' ORDER BY key) FROM jsonb_each(d->'omitted') WHERE key <> 'still_over_max_bytes') AS omitted,
       md5(regress.named(regress.mask(d)::text)) AS masked_md5
  FROM unnest(ARRAY[1024, 1536, 2048, 3072, 4096, 6144]) AS cap,
       LATERAL regress.team_capped('ctx', cap) AS d;

------------------------------------------------------------------------------
-- Project notes are JSON and come back exactly, numbers included.
------------------------------------------------------------------------------
SELECT id AS numbers FROM intracker.create_project('Numbers',
    resume_context => '{"budget": 1234567.89, "ratio": 0.1234567, "big": 12345678901234567890, "small": 1}') \gset
INSERT INTO regress.names VALUES (:'numbers', 'numbers');
SELECT regress.team('numbers')->'project'->'notes' = '{"budget": 1234567.89, "ratio": 0.1234567, "big": 12345678901234567890, "small": 1}' AS team_notes_exact,
       regress.resume('numbers')->'project'->'notes' = '{"budget": 1234567.89, "ratio": 0.1234567, "big": 12345678901234567890, "small": 1}' AS resume_notes_exact;

------------------------------------------------------------------------------
-- team_dashboard: one row per project the caller is a member of.
------------------------------------------------------------------------------
-- Ann and Vic are also in Tracker (the fixture's) and Crew, here with what
-- the earlier files' tests leave in them: in Tracker (03_todos,
-- 04_dependencies) four open todos and a feature in progress; in Crew
-- (07_assignment: Bot an editor, Vic a viewer) five todos done today worth 9
-- points, two open ones, the second blocked by the first, and a feature in
-- progress.
SELECT id AS tracker FROM regress.names WHERE name = 'tracker' \gset
SELECT id AS login FROM intracker.create_feature(:'tracker', 'Login', status => 'in_progress') \gset
INSERT INTO intracker.todos (project_id, feature_id, title, status)
VALUES (:'tracker', :'login', 'OAuth callback', 'review'), (:'tracker', :'login', 'Session cookie', 'todo'),
       (:'tracker', NULL, 'Write docs', 'todo'), (:'tracker', NULL, 'Deploy', 'in_progress');
SELECT id AS crew FROM intracker.create_project('Crew') \gset
SELECT count(intracker.add_member(:'crew', u, r)) AS crew_members
  FROM (VALUES ('00000000-0000-0000-0000-00000000000b'::uuid, 'editor'), ('00000000-0000-0000-0000-00000000000c', 'viewer')) AS m (u, r) \gset
SELECT id AS ui FROM intracker.create_feature(:'crew', 'UI', status => 'in_progress') \gset
INSERT INTO intracker.todos (id, project_id, feature_id, title, estimate, status)
VALUES ('00000000-0000-0000-0000-000000000105', :'crew', NULL, 'Task 5', 5, 'done'),
       ('00000000-0000-0000-0000-000000000202', :'crew', :'ui', 'UI high', 1, 'done'),
       ('00000000-0000-0000-0000-000000000203', :'crew', NULL, 'Unblocker high', 1, 'done'),
       ('00000000-0000-0000-0000-000000000204', :'crew', NULL, 'Due high', 1, 'done'),
       ('00000000-0000-0000-0000-000000000205', :'crew', NULL, 'Blocked critical', 1, 'done'),
       ('00000000-0000-0000-0000-000000000301', :'crew', NULL, 'Review', 1, 'in_progress'),
       ('00000000-0000-0000-0000-000000000302', :'crew', NULL, 'Merge', 1, 'todo');
INSERT INTO intracker.todo_dependencies (todo_id, blocked_by, project_id)
VALUES ('00000000-0000-0000-0000-000000000302', '00000000-0000-0000-0000-000000000301', :'crew');
SELECT name, status, members, todos_total, todos_open, todos_done, completion_rate, todos_completed_today,
       points_done_last_7_days, features_in_progress, todos_blocked
  FROM intracker.team_dashboard ORDER BY name;
-- The counters agree with a count from scratch (no row differs).
SELECT count(*) AS dashboard_rows_differing_from_a_recount FROM (
    SELECT project_id, todos_total, todos_open, todos_done, todos_completed_today, points_done_last_7_days,
           features_in_progress, todos_blocked, members
      FROM intracker.team_dashboard
    EXCEPT
    SELECT p.id,
           (SELECT count(*) FROM intracker.todos t WHERE t.project_id = p.id AND t.status <> 'cancelled')::int,
           (SELECT count(*) FROM intracker.todos t WHERE t.project_id = p.id AND t.status NOT IN ('done', 'cancelled'))::int,
           (SELECT count(*) FROM intracker.todos t WHERE t.project_id = p.id AND t.status = 'done')::int,
           (SELECT count(*) FROM intracker.todos t WHERE t.project_id = p.id AND t.status = 'done'
               AND (t.completed_at AT TIME ZONE 'UTC')::date = (now() AT TIME ZONE 'UTC')::date)::int,
           (SELECT coalesce(sum(t.estimate), 0) FROM intracker.todos t WHERE t.project_id = p.id AND t.status = 'done'
               AND (t.completed_at AT TIME ZONE 'UTC')::date > (now() AT TIME ZONE 'UTC')::date - 7)::int,
           (SELECT count(*) FROM intracker.features f WHERE f.project_id = p.id AND f.status = 'in_progress')::int,
           (SELECT count(*) FROM intracker.todos t WHERE t.project_id = p.id AND t.status NOT IN ('done', 'cancelled')
               AND (t.status = 'blocked' OR EXISTS (SELECT FROM intracker.todo_dependencies d JOIN intracker.todos b ON b.id = d.blocked_by
                                                     WHERE d.todo_id = t.id AND b.status NOT IN ('done', 'cancelled'))))::int,
           (SELECT count(*) FROM intracker.project_members m WHERE m.project_id = p.id)::int
      FROM intracker.projects p) AS differing;
-- The same numbers in team_context.
SELECT d->'team_progress'->'todos_total' AS todos_total, d->'team_progress'->'todos_open' AS todos_open,
       d->'team_progress'->'todos_done' AS todos_done, d->'team_progress'->'completion_rate' AS completion_rate,
       d->'team_progress'->'todos_completed_today' AS completed_today,
       d->'team_progress'->'points_done_last_7_days' AS points_7_days
  FROM regress.team('ctx') AS d;
-- Read-only.
SELECT * FROM regress.try($$DELETE FROM intracker.team_dashboard$$);
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000c') IS NOT NULL AS acting_as_vic;
SELECT name, members, todos_total FROM intracker.team_dashboard ORDER BY name;
SELECT count(*) AS drifted_counters FROM intracker.verify_counters();

------------------------------------------------------------------------------
-- Documents larger than a memory chunk (20,000 bytes), handed straight to
-- other functions: the returned value must outlive the function's own
-- memory (it once pointed into memory SPI_finish had freed, and a recursive
-- SQL function like compact_size crashed the server).
------------------------------------------------------------------------------
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT id AS large FROM intracker.create_project('Large', repeat('z', 20000)) \gset
INSERT INTO regress.names VALUES (:'large', 'large');
SELECT regress.compact_size(intracker.team_context(:'large')) > 20000 AS big_team_context,
       regress.compact_size(intracker.resume_context(:'large')) > 20000 AS big_resume_context,
       length(intracker.resume_context(:'large')->'project'->>'description') AS description_length;
SELECT regress.compact_size(intracker.team_context(id)) > 500 AS intact
  FROM regress.names WHERE name IN ('ctx', 'large') ORDER BY name;

SELECT intracker.act_as(NULL);
RESET ROLE;
