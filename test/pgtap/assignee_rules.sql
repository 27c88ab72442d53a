-- test/pgtap/assignee_rules.sql — issue 12, item 10: the rules of who may
-- hold work apply to every write that names an assignee, with the errors of
-- assign_todo / assign_feature.
--
-- Runs as PostgREST does (session authenticator, role web_user, JWT claims
-- in request.jwt.claims); the fixture is built as the superuser through the
-- API, and section R switches back to the superuser to test restore mode.
--
--   A  every path x every rule: the same error as assign_todo/assign_feature
--   B  an eligible assignee passes on every path (control)
--   C  what the rule leaves alone: the same assignee, NULL, other fields
--   D  claim_next_todo: unassigned work is an assignment to the caller
--   E  rebalance gives nothing to ineligible members
--   F  no oracle for non-members: RLS refuses before the rule says anything
--   R  restore mode: only a superuser's own session with row_security off
--
-- The cast of project p (owner own):
--   ed    editor, the one who writes            ok    editor, eligible
--   vic   viewer                                ina   editor, deactivated
--   una   editor, unavailable                   nil   editor, capacity 0
--   full  editor, capacity 3, holds 3 points    over  editor, capacity 2, holds 3
--   out   member of nothing here (owner of project q)

BEGIN;
SELECT plan(147);

------------------------------------------------------------------------------
-- Fixture (superuser, through the API)
------------------------------------------------------------------------------

SELECT count(test_helpers.add_user(u, ('00000000-0000-4000-a000-0000000000' || n)::uuid))
  FROM (VALUES ('own', '01'), ('ed', '02'), ('ok', '03'), ('vic', '04'), ('ina', '05'), ('una', '06'),
               ('nil', '07'), ('full', '08'), ('over', '09'), ('out', '10'), ('tight', '11')) AS x (u, n);

SELECT intracker.act_as(test_helpers.id('own'));
INSERT INTO test_helpers.ids SELECT 'p', id FROM intracker.create_project('Rules');
SELECT count(intracker.add_member(test_helpers.id('p'), test_helpers.id(u), r))
  FROM (VALUES ('ed', 'editor'), ('ok', 'editor'), ('vic', 'viewer'), ('ina', 'editor'), ('una', 'editor'),
               ('nil', 'editor'), ('full', 'editor'), ('over', 'editor')) AS m (u, r);
-- Work held before the settings changed: una's todo and feature, full's 3
-- points and over's 3 points.
SELECT test_helpers.todo('una_t', 'p', 'una');
SELECT test_helpers.feature('una_f', 'p', assignee => 'una');
SELECT test_helpers.todo('full_load', 'p', 'full', estimate => 3);
SELECT test_helpers.todo('over_load', 'p', 'over', estimate => 3);
SELECT count(intracker.set_capacity(test_helpers.id('p'), test_helpers.id(u), c))
  FROM (VALUES ('nil', 0), ('full', 3), ('over', 2)) AS x (u, c);
-- The targets: an unassigned todo of 1 point and an unassigned feature.
SELECT test_helpers.todo('tgt', 'p', estimate => 1);
SELECT test_helpers.feature('ftgt', 'p');
SELECT intracker.act_as(test_helpers.id('una'));
SELECT intracker.set_availability(test_helpers.id('p'), false);
SELECT intracker.act_as(test_helpers.id('out'));
INSERT INTO test_helpers.ids SELECT 'q', id FROM intracker.create_project('Elsewhere');
SELECT intracker.act_as(NULL);
SELECT intracker.set_user_active(test_helpers.id('ina'), false);

-- From here on: PostgREST's connection.
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;
SELECT test_helpers.as_user('ed');
SELECT is(session_user::text || '/' || current_user::text || '/' || test_helpers.name_of(intracker.current_user_id()),
          'authenticator/web_user/ed', 'the tests run as PostgREST does: authenticator, role web_user, JWT sub');

------------------------------------------------------------------------------
-- A. Every path that names an assignee, every rule: the error assign_todo
--    (assign_feature) gives for the same assignee.  %1$L is the assignee,
--    %2$L the project, %3$L the target row.
------------------------------------------------------------------------------

CREATE TEMP TABLE rules (rule text PRIMARY KEY, who text NOT NULL, sqlstate text NOT NULL, for_features boolean NOT NULL);
INSERT INTO rules VALUES
    ('a non-member',                  'out',  '22023', true),
    ('a viewer',                      'vic',  '42501', true),
    ('an inactive user',              'ina',  '22023', true),
    ('an unavailable member',         'una',  '22023', true),
    ('capacity 0',                    'nil',  '22023', true),
    ('a member without room for it',  'full', '22023', false),
    ('a member over capacity',        'over', '22023', true);

CREATE TEMP TABLE paths (path text PRIMARY KEY, entity text NOT NULL, sql text NOT NULL);
INSERT INTO paths VALUES
    ('create_todo', 'todo',
     $$SELECT intracker.create_todo(%2$L, 'Created', assigned_to => %1$L)$$),
    ('update_todo', 'todo',
     $$SELECT intracker.update_todo(%3$L, jsonb_build_object('assigned_to', %1$L::uuid),
                                    (SELECT version FROM intracker.todos WHERE id = %3$L))$$),
    ('INSERT into intracker.todos (POST /todos)', 'todo',
     $$INSERT INTO intracker.todos (project_id, title, assigned_to) VALUES (%2$L, 'Posted', %1$L)$$),
    ('UPDATE of intracker.todos (PATCH /todos)', 'todo',
     $$UPDATE intracker.todos SET assigned_to = %1$L WHERE id = %3$L$$),
    ('upsert into intracker.todos (POST, merge-duplicates)', 'todo',
     $$INSERT INTO intracker.todos (id, project_id, title, assigned_to) VALUES (%3$L, %2$L, 'tgt', %1$L)
       ON CONFLICT (id) DO UPDATE SET assigned_to = EXCLUDED.assigned_to$$),
    ('INSERT into intracker_data.todos', 'todo',
     $$INSERT INTO intracker_data.todos (project_id, title, assigned_to) VALUES (%2$L, 'Direct', %1$L)$$),
    ('UPDATE of intracker_data.todos', 'todo',
     $$UPDATE intracker_data.todos SET assigned_to = %1$L WHERE id = %3$L$$),
    ('create_feature', 'feature',
     $$SELECT intracker.create_feature(%2$L, 'Created', assigned_to => %1$L)$$),
    ('update_feature', 'feature',
     $$SELECT intracker.update_feature(%3$L, jsonb_build_object('assigned_to', %1$L::uuid),
                                       (SELECT version FROM intracker.features WHERE id = %3$L))$$),
    ('INSERT into intracker.features (POST /features)', 'feature',
     $$INSERT INTO intracker.features (project_id, title, assigned_to) VALUES (%2$L, 'Posted', %1$L)$$),
    ('UPDATE of intracker.features (PATCH /features)', 'feature',
     $$UPDATE intracker.features SET assigned_to = %1$L WHERE id = %3$L$$);

-- What manual assignment says about each rule's member (and that it refuses).
CREATE TEMP TABLE reference AS
SELECT r.rule, e.entity,
       test_helpers.error_of(CASE e.entity
                                 WHEN 'todo' THEN format('SELECT intracker.assign_todo(%L, %L)', test_helpers.id('tgt'), test_helpers.id(r.who))
                                 ELSE format('SELECT intracker.assign_feature(%L, %L)', test_helpers.id('ftgt'), test_helpers.id(r.who)) END) AS error
  FROM rules r CROSS JOIN (VALUES ('todo'), ('feature')) AS e (entity)
 WHERE e.entity = 'todo' OR r.for_features;
GRANT SELECT ON rules, paths, reference TO PUBLIC;

SELECT is(f.error ->> 'sqlstate', r.sqlstate, format('assign_%s refuses %s with %s', f.entity, r.rule, r.sqlstate))
  FROM reference f JOIN rules r USING (rule) ORDER BY f.entity DESC, r.rule;

SELECT is(test_helpers.error_of(format(p.sql, test_helpers.id(r.who), test_helpers.id('p'),
                                       test_helpers.id(CASE p.entity WHEN 'todo' THEN 'tgt' ELSE 'ftgt' END))),
          f.error,
          format('%s: %s gets assign_%s''s error (SQLSTATE, message, DETAIL, HINT)', p.path, r.rule, p.entity))
  FROM paths p
  JOIN reference f ON f.entity = p.entity
  JOIN rules r USING (rule)
 ORDER BY p.entity DESC, p.path, r.rule;

SELECT results_eq($$SELECT test_helpers.name_of(assigned_to), version FROM intracker.todos WHERE id = test_helpers.id('tgt')$$,
                  $$VALUES (NULL::text, 1)$$, 'the refused writes left the target todo unassigned, at version 1');
SELECT results_eq($$SELECT test_helpers.name_of(assigned_to), version FROM intracker.features WHERE id = test_helpers.id('ftgt')$$,
                  $$VALUES (NULL::text, 1)$$, '... and the target feature');
SELECT is((SELECT count(*)::int FROM intracker.todos WHERE project_id = test_helpers.id('p') AND title IN ('Created', 'Posted', 'Direct')),
          0, '... and created no todo');
SELECT is((SELECT count(*)::int FROM intracker.features WHERE project_id = test_helpers.id('p') AND title IN ('Created', 'Posted')),
          0, '... and no feature');
SELECT is_empty($$SELECT * FROM intracker.verify_counters(test_helpers.id('p'))$$, '... and the counters agree');

------------------------------------------------------------------------------
-- B. An eligible assignee passes on every path (each on a fresh target)
------------------------------------------------------------------------------

SELECT is(test_helpers.error_of(format(p.sql, test_helpers.id('ok'), test_helpers.id('p'), t.id)), NULL,
          format('%s: an eligible editor is accepted', p.path))
  FROM paths p
 CROSS JOIN LATERAL (SELECT CASE p.entity WHEN 'todo' THEN (intracker.create_todo(test_helpers.id('p'), 'Fresh ' || p.path)).id
                                          ELSE (intracker.create_feature(test_helpers.id('p'), 'Fresh ' || p.path)).id END AS id) t
 ORDER BY p.entity DESC, p.path;
SELECT is(test_helpers.error_of(format('SELECT intracker.assign_feature(%L, %L)', test_helpers.id('ftgt'), test_helpers.id('full'))),
          NULL, 'a feature carries no points: a member with no room for another point may still take one');
SELECT is_empty($$SELECT * FROM intracker.verify_counters(test_helpers.id('p'))$$, 'verify_counters: no drift after the accepted writes');
SELECT isnt(test_helpers.error_of(format($$INSERT INTO intracker.todos (title, assigned_to) VALUES ('Nowhere', %L)$$, test_helpers.id('ok'))),
            NULL, 'a todo with an assignee but no project is refused (by RLS or NOT NULL, after the rule has let it pass)');

------------------------------------------------------------------------------
-- C. What the rule leaves alone
------------------------------------------------------------------------------

-- una became unavailable while holding una_t and una_f.
SELECT results_eq($$SELECT title, test_helpers.name_of(assigned_to), version
                     FROM intracker.update_todo(test_helpers.id('una_t'), '{"title": "Still una''s"}', 1)$$,
                  $$VALUES ('Still una''s', 'una', 2)$$,
                  'update_todo of another field of a todo whose assignee became unavailable is no new assignment');
SELECT results_eq($$SELECT title, test_helpers.name_of(assigned_to), version
                     FROM intracker.update_todo(test_helpers.id('una_t'),
                                                jsonb_build_object('assigned_to', test_helpers.id('una'), 'priority', 'high'), 2)$$,
                  $$VALUES ('Still una''s', 'una', 3)$$,
                  '... nor is stating the same assignee again (a client sending the whole row)');
SELECT is(test_helpers.affected($$UPDATE intracker.todos SET assigned_to = assigned_to, description = 'whole row'
                                   WHERE id = test_helpers.id('una_t')$$), 1,
          '... nor a PATCH that writes the unchanged assignee back');
SELECT is(test_helpers.affected($$UPDATE intracker.features SET title = 'Still una''s feature' WHERE id = test_helpers.id('una_f')$$), 1,
          'PATCH of another field of a feature whose assignee became unavailable');
SELECT is(test_helpers.affected($$UPDATE intracker.todos SET estimate = 5 WHERE id = test_helpers.id('full_load')$$), 1,
          'raising the estimate of a todo its assignee already holds is not judged against capacity (assignments are)');
SELECT results_eq($$SELECT assigned_to FROM intracker.update_todo(test_helpers.id('una_t'), '{"assigned_to": null}',
                                                                  (SELECT version FROM intracker.todos WHERE id = test_helpers.id('una_t')))$$,
                  $$VALUES (NULL::uuid)$$, 'unassigning (assigned_to null) is always allowed');
SELECT is(test_helpers.affected($$UPDATE intracker.features SET assigned_to = NULL WHERE id = test_helpers.id('una_f')$$), 1,
          '... for features too');
SELECT is_empty($$SELECT * FROM intracker.verify_counters(test_helpers.id('p'))$$, 'verify_counters: no drift');

------------------------------------------------------------------------------
-- D. claim_next_todo: taking an unassigned todo is an assignment to the
--    caller (project cl: una unavailable, tight with capacity 1)
------------------------------------------------------------------------------

SELECT test_helpers.as_user('own');
INSERT INTO test_helpers.ids SELECT 'cl', id FROM intracker.create_project('Claims');
SELECT lives_ok($$SELECT intracker.add_member(test_helpers.id('cl'), test_helpers.id(u), 'editor') FROM unnest(ARRAY['una', 'tight', 'ok']) u$$,
                'una, tight and ok are editors of cl');
SELECT lives_ok($$SELECT intracker.set_capacity(test_helpers.id('cl'), test_helpers.id('tight'), 1)$$, 'tight may hold 1 point in cl');
SELECT test_helpers.todo('c_mine', 'cl', 'una', priority => 'low');
SELECT test_helpers.todo('c_big', 'cl', priority => 'high', estimate => 2);
SELECT test_helpers.as_user('una');
SELECT lives_ok($$SELECT intracker.set_availability(test_helpers.id('cl'), false)$$, 'una becomes unavailable in cl');

SELECT test_helpers.as_user('tight');
SELECT is(test_helpers.error_of($$SELECT * FROM intracker.claim_next_todo(test_helpers.id('cl'))$$),
          test_helpers.error_of($$SELECT intracker.assign_todo(test_helpers.id('c_big'), test_helpers.id('tight'))$$),
          'claim: the best todo (2 points) does not fit a capacity of 1: assign_todo''s error');
SELECT test_helpers.as_user('una');
SELECT results_eq($$SELECT title, test_helpers.name_of(assigned_to), status FROM intracker.claim_next_todo(test_helpers.id('cl'))$$,
                  $$VALUES ('c_mine', 'una', 'in_progress')$$,
                  'claim: an unavailable member takes no unassigned work but gets their own todo');
SELECT is(test_helpers.name_of((SELECT assigned_to FROM intracker.todos WHERE id = test_helpers.id('c_big'))), NULL,
          '... the better unassigned todo stays unassigned');
SELECT lives_ok($$SELECT intracker.set_todo_status(test_helpers.id('c_mine'), 'done', 2)$$, 'una finishes c_mine');
SELECT is(test_helpers.error_of($$SELECT * FROM intracker.claim_next_todo(test_helpers.id('cl'))$$),
          test_helpers.error_of($$SELECT intracker.assign_todo(test_helpers.id('c_big'), test_helpers.id('una'))$$),
          'claim: with nothing of their own, an unavailable member gets assign_todo''s error');
SELECT test_helpers.as_user('ok');
SELECT results_eq($$SELECT title, test_helpers.name_of(assigned_to) FROM intracker.claim_next_todo(test_helpers.id('cl'))$$,
                  $$VALUES ('c_big', 'ok')$$, 'claim: an eligible member takes it');
SELECT is_empty($$SELECT * FROM intracker.verify_counters(test_helpers.id('cl'))$$, 'verify_counters: no drift after the claims');

------------------------------------------------------------------------------
-- E. rebalance moves work only to eligible members (project p: own holds
--    the most; vic, ina, una and nil hold nothing but may not take any)
------------------------------------------------------------------------------

SELECT test_helpers.as_user('own');
SELECT test_helpers.todo('r' || i, 'p', 'own', estimate => 2) FROM generate_series(1, 6) i;
CREATE TEMP TABLE moves AS SELECT * FROM intracker.rebalance(test_helpers.id('p'), dry_run => false);
SELECT ok((SELECT count(*) FROM moves) > 0, 'rebalance moved some of own''s todos');
SELECT is_empty($$SELECT test_helpers.name_of(to_user) FROM moves WHERE to_user NOT IN (test_helpers.id('ed'), test_helpers.id('ok'))$$,
                '... only to the eligible editors, never to the members with lower loads who are a viewer, inactive, unavailable or at capacity 0');
SELECT is_empty($$SELECT * FROM intracker.verify_counters(test_helpers.id('p'))$$, 'verify_counters: no drift after rebalance');

------------------------------------------------------------------------------
-- F. A non-member learns nothing about another project's members: RLS
--    refuses the row whatever the assignee, with the same error
------------------------------------------------------------------------------

SELECT test_helpers.as_user('out');
SELECT is(test_helpers.error_of(format($$INSERT INTO intracker.todos (project_id, title, assigned_to) VALUES (%L, 'Probe', %L)$$,
                                       test_helpers.id('p'), test_helpers.id(u))),
          test_helpers.error_of(format($$INSERT INTO intracker.todos (project_id, title, assigned_to) VALUES (%L, 'Probe', %L)$$,
                                       test_helpers.id('p'), test_helpers.id('ok'))),
          format('a non-member inserting into p with %s as assignee gets the same error as with an eligible one', u))
  FROM unnest(ARRAY['una', 'vic', 'ina', 'nil', 'over', 'out']) u;
SELECT is(test_helpers.error_of(format($$INSERT INTO intracker.todos (project_id, title, assigned_to) VALUES (%L, 'Probe', %L)$$,
                                       test_helpers.id('p'), test_helpers.id('una'))) ->> 'sqlstate',
          '42501', '... the row-level security error (42501)');
SELECT test_helpers.as_user('vic');
SELECT is(test_helpers.error_of(format($$INSERT INTO intracker.todos (project_id, title, assigned_to) VALUES (%L, 'Probe', %L)$$,
                                       test_helpers.id('p'), test_helpers.id('una'))),
          test_helpers.error_of(format($$INSERT INTO intracker.todos (project_id, title, assigned_to) VALUES (%L, 'Probe', %L)$$,
                                       test_helpers.id('p'), test_helpers.id('ok'))),
          'a viewer of p inserting with an unavailable assignee gets the same error as with an eligible one');

------------------------------------------------------------------------------
-- S. One statement that gives a member several todos (issue 13: the load
--    counters are kept per statement): each todo fits the load before the
--    statement, so their sum is judged after it, with assign_todo's error
------------------------------------------------------------------------------

CREATE TEMP TABLE ok_load AS
SELECT open_todos, open_points FROM intracker.member_load
 WHERE project_id = test_helpers.id('p') AND user_id = test_helpers.id('ok');
GRANT SELECT ON ok_load TO PUBLIC;
SELECT test_helpers.as_user('own');
SELECT lives_ok(format('SELECT intracker.set_capacity(%L, %L, %s)', test_helpers.id('p'), test_helpers.id('ok'),
                       (SELECT open_points + 5 FROM ok_load)),
                'ok may hold 5 more points');
SELECT test_helpers.as_user('ed');
SELECT is(test_helpers.error_of(format($$INSERT INTO intracker.todos (project_id, title, estimate, assigned_to)
                                         VALUES (%1$L, 'Bulk 1', 3, %2$L), (%1$L, 'Bulk 2', 3, %2$L)$$,
                                       test_helpers.id('p'), test_helpers.id('ok'))) - 'detail',
          jsonb_build_object('sqlstate', '22023', 'message', format('user %s has no capacity for these 2 todos', test_helpers.id('ok')),
                             'hint', 'An owner can raise it with intracker.set_capacity().'),
          'one INSERT of two todos of 3 points each for a member with room for 5: 22023, though each fits alone');
SELECT is(test_helpers.error_of(format($$INSERT INTO intracker.todos (project_id, title, estimate, assigned_to)
                                         VALUES (%1$L, 'Bulk 3', 2, %2$L), (%1$L, 'Bulk 4', 3, %2$L)$$,
                                       test_helpers.id('p'), test_helpers.id('ok'))),
          NULL, '... two of 2 and 3 points fit exactly');
SELECT results_eq($$SELECT (l.open_todos - o.open_todos)::int, (l.open_points - o.open_points)::int
                      FROM intracker.member_load l, ok_load o
                     WHERE l.project_id = test_helpers.id('p') AND l.user_id = test_helpers.id('ok')$$,
                  $$VALUES (2, 5)$$, '... and count once each in member_load');
SELECT test_helpers.todo('spare_1', 'p', estimate => 1);
SELECT test_helpers.todo('spare_2', 'p', estimate => 1);
SELECT is((test_helpers.error_of(format($$UPDATE intracker.todos SET assigned_to = %L WHERE id IN (%L, %L)$$,
                                        test_helpers.id('ok'), test_helpers.id('spare_1'), test_helpers.id('spare_2'))))->>'sqlstate',
          '22023', 'one UPDATE giving a member at capacity two more todos: 22023');
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT is_empty('SELECT * FROM intracker.verify_counters()', 'the counters are exact after the statements above');
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;
SELECT test_helpers.as_user('ed');

------------------------------------------------------------------------------
-- R. Restore mode: rows a superuser's own session inserts with row_security
--    off (as pg_dump's scripts run) are accepted as they were dumped; nobody
--    else gets there
------------------------------------------------------------------------------

RESET ROLE;
RESET SESSION AUTHORIZATION;
-- A SECURITY DEFINER function owned by the superuser that inserts a todo,
-- as an extension function running as its owner would.
CREATE FUNCTION pg_temp.insert_as_owner(project uuid, assignee uuid) RETURNS uuid
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $$
    INSERT INTO intracker_data.todos (project_id, title, assigned_to) VALUES (project, 'Via a definer', assignee) RETURNING id
$$;
GRANT EXECUTE ON FUNCTION pg_temp.insert_as_owner(uuid, uuid) TO PUBLIC;

SELECT is(test_helpers.error_of(format($$INSERT INTO intracker_data.todos (project_id, title, assigned_to) VALUES (%L, 'Su', %L)$$,
                                       test_helpers.id('p'), test_helpers.id('una'))),
          (SELECT error FROM reference WHERE rule = 'an unavailable member' AND entity = 'todo'),
          'the superuser with row_security on is refused like anyone (it is not a restore)');
SET LOCAL row_security = off;
SELECT is(test_helpers.error_of(format($$INSERT INTO intracker_data.todos (project_id, title, assigned_to, status)
                                         VALUES (%L, 'Restored', %L, 'done'), (%L, 'Restored', %L, 'todo'),
                                                (%L, 'Restored', %L, 'todo')$$,
                                       test_helpers.id('p'), test_helpers.id('ina'), test_helpers.id('p'), test_helpers.id('una'),
                                       test_helpers.id('p'), test_helpers.id('vic'))),
          NULL,
          'a superuser''s session with row_security off (a restore) inserts rows of an inactive, an unavailable and a viewer assignee');
SELECT is((SELECT count(*)::int FROM intracker_data.todos WHERE title = 'Restored'), 3, '... as they were');
SELECT is(test_helpers.error_of(format($$INSERT INTO intracker_data.features (project_id, title, assigned_to) VALUES (%L, 'Restored', %L)$$,
                                       test_helpers.id('p'), test_helpers.id('nil'))),
          NULL, '... and features too');
SELECT isnt(test_helpers.error_of(format($$UPDATE intracker_data.todos SET assigned_to = %L WHERE id = %L$$,
                                         test_helpers.id('una'), test_helpers.id('tgt'))),
            NULL, '... but an UPDATE is no restore: the rule applies');
RESET row_security;
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;
SELECT test_helpers.as_user('ed');
SET LOCAL row_security = off;
SELECT is(test_helpers.error_of(format('SELECT pg_temp.insert_as_owner(%L, %L)', test_helpers.id('p'), test_helpers.id('una'))),
          (SELECT error FROM reference WHERE rule = 'an unavailable member' AND entity = 'todo'),
          'an API user with row_security off, inserting through a superuser''s SECURITY DEFINER function, is no restore');
RESET row_security;

SELECT * FROM finish();
ROLLBACK;
