-- test/pgtap/context_cap.sql — the byte cap of team_context and
-- resume_context holds whatever users write (issue 12, item 12).
--
-- 0.5 shortened only descriptions and session summaries: project notes,
-- session goals, next steps and todo id lists were never cut, and a 32 kB
-- cap returned documents of 10 and 34 MB (flagged still_over_max_bytes).
-- Here every field a user can make huge is: project notes of 2 MB, a
-- session goal of 1 MB, 5,000 next steps and blockers, 5,000 todo ids,
-- titles and names at their longest, many open todos.  Every document, at
-- caps from the smallest allowed (1 kB) to 1 MB, for an owner, an editor
-- and a viewer, is within its cap, says what it omitted, and never flags
-- still_over_max_bytes; with room to spare nothing is cut.
--
-- As PostgREST's role (authenticator -> web_user, JWT claims).  Rolled back.

BEGIN;
SELECT plan(11);

SELECT test_helpers.team_fixture();
SELECT intracker.act_as(test_helpers.id('owner'));
SELECT intracker.update_project(test_helpers.id('p1'),
           jsonb_build_object('resume_context',
                              jsonb_build_object('notes', repeat('Remember the deploy steps. ', 80000),
                                                 'list', (SELECT jsonb_agg(i) FROM generate_series(1, 20000) i))),
           1);
SELECT count(*) FROM (SELECT intracker.create_todo(test_helpers.id('p1'), repeat('T', 480) || ' ' || i,
                                                   description => repeat('d', 100000), assigned_to => test_helpers.id('editor'))
                        FROM generate_series(1, 30) i) t;
SELECT intracker.act_as(test_helpers.id('editor'));
SELECT intracker.end_session(s.id, repeat('Summary. ', 100000),
                             next_steps => (SELECT array_agg('next step ' || i) FROM generate_series(1, 5000) i),
                             blockers => (SELECT array_agg('blocker ' || i) FROM generate_series(1, 5000) i),
                             todo_ids => (SELECT array_agg(id) FROM intracker.todos))
  FROM intracker.start_session(test_helpers.id('p1'), repeat('A very long goal. ', 60000)) s;
SELECT intracker.act_as(NULL);

CREATE TEMP TABLE docs (who text, kind text, cap integer, doc jsonb);
GRANT SELECT, INSERT ON docs TO PUBLIC;

SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;
DO $$
DECLARE
    who text;
    cap integer;
BEGIN
    FOREACH who IN ARRAY ARRAY['owner', 'editor', 'viewer'] LOOP
        PERFORM test_helpers.as_user(who);
        FOREACH cap IN ARRAY ARRAY[1024, 1536, 2048, 4096, 8192, 32768, 262144, 1048576] LOOP
            PERFORM set_config('intracker.context_max_bytes', cap::text, true);
            INSERT INTO docs VALUES (who, 'team', cap, intracker.team_context(test_helpers.id('p1'))),
                                    (who, 'resume', cap, intracker.resume_context(test_helpers.id('p1')));
        END LOOP;
    END LOOP;
END
$$;
RESET ROLE;
RESET SESSION AUTHORIZATION;

SELECT is((SELECT count(*) FROM docs), 48::bigint, '48 documents: 2 kinds x 3 roles x 8 caps');
SELECT is_empty($$SELECT who, kind, cap, octet_length(doc::text) FROM docs WHERE octet_length(doc::text) > cap$$,
                'every document is within its cap, from 1 kB to 1 MB');
SELECT is_empty($$SELECT who, kind, cap FROM docs WHERE doc->'omitted' ? 'still_over_max_bytes'$$,
                'none says it could not fit');
SELECT is_empty($$SELECT who, kind, cap FROM docs WHERE NOT doc ? 'omitted' OR doc->'omitted' = '{}'$$,
                'every one says what it omitted');
SELECT is_empty($$SELECT who, kind, cap FROM docs WHERE doc->'project'->>'id' IS DISTINCT FROM test_helpers.id('p1')::text
                     OR doc->>'context_version' IS NULL OR doc->>'generated_at' IS NULL$$,
                'every one names its project and has its context_version and generated_at, even at 1 kB');
SELECT is_empty($$SELECT who, kind, cap FROM docs
                   WHERE doc->'project'->'notes' IS NOT NULL AND doc->'project'->'notes' <> 'null'
                     AND NOT (doc->'omitted' ? 'project_notes') AND octet_length(doc->'project'->>'notes') > cap$$,
                'project notes are whole or omitted as project_notes, never over the cap');
SELECT ok((SELECT bool_and(octet_length(doc::text) > 32768) FROM docs
            WHERE cap = 1048576 AND kind = 'team' AND who IN ('owner', 'editor')),
          'with a 1 MB cap the owner''s and editor''s team documents keep much more than at 32 kB (5,000 next steps: the cap, not a limit of its own, bounds them)');
SELECT is((SELECT doc->'omitted'->'project_notes'->>'fetch' FROM docs WHERE who = 'owner' AND kind = 'team' AND cap = 32768),
          format('SELECT resume_context FROM intracker.projects WHERE id = ''%s''', test_helpers.id('p1')),
          'omitted project notes say how to fetch them');
SELECT ok((SELECT (doc->'omitted'->'shortened_texts'->>'count')::int > 0 FROM docs
            WHERE who = 'editor' AND kind = 'resume' AND cap = 32768),
          'the editor''s resume_context at 32 kB shortened texts (the goal, the summary) and says so');
SELECT ok((SELECT octet_length(doc->'last_session'->>'goal') < 1000 FROM docs
            WHERE who = 'editor' AND kind = 'resume' AND cap = 32768),
          'the session goal is shortened');

-- Room to spare: nothing is cut.
SELECT intracker.act_as(test_helpers.id('owner'));
SELECT intracker.update_project(test_helpers.id('p1'), '{"resume_context": {"notes": "short"}}', 2);
SELECT intracker.act_as(NULL);
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;
SELECT test_helpers.as_user('viewer');
SET LOCAL intracker.context_max_bytes = '16MB';
SET LOCAL intracker.context_todo_limit = 5;
SELECT is((SELECT intracker.team_context(test_helpers.id('p1'))->'omitted'->'shortened_texts'), NULL,
          'under a cap with room to spare no text is shortened');
RESET ROLE;
RESET SESSION AUTHORIZATION;

SELECT * FROM finish();
ROLLBACK;
