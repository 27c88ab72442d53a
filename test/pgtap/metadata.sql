-- test/pgtap/metadata.sql — issue 16: a metadata object (free-form, at most
-- 16 kB) on projects, features and todos, and tags on features, written like
-- the other fields: by create_*, update_* and the views, by editors, with
-- optimistic locking and events.  As PostgREST's non-superuser role.

BEGIN;
SELECT plan(17);

SELECT test_helpers.team_fixture();
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;
SELECT test_helpers.as_user('editor');

SELECT is((SELECT (f.tags, f.metadata)::text
             FROM intracker.create_feature(test_helpers.id('p1'), 'Labelled', tags => '{ux,login}',
                                           metadata => '{"jira": "ACME-7"}') f),
          ('{ux,login}'::text[], '{"jira": "ACME-7"}'::jsonb)::text, 'create_feature takes tags and metadata');
INSERT INTO test_helpers.ids SELECT 'labelled', id FROM intracker.features WHERE title = 'Labelled';
SELECT is((intracker.create_todo(test_helpers.id('p1'), 'With data', metadata => '{"ci": {"run": 1}}')).metadata,
          '{"ci": {"run": 1}}'::jsonb, 'create_todo takes metadata');
INSERT INTO test_helpers.ids SELECT 'with_data', id FROM intracker.todos WHERE title = 'With data';
SELECT is((intracker.create_todo(test_helpers.id('p1'), 'Plain')).metadata, '{}'::jsonb, '... an empty object by default');
SELECT is((intracker.create_project('Mine', metadata => '{"team": "core"}')).metadata, '{"team": "core"}'::jsonb,
          'create_project takes metadata');
SELECT is((SELECT metadata FROM intracker.create_project('Mine too') p), '{}'::jsonb, '... an empty object by default');

SELECT is((intracker.update_todo(test_helpers.id('with_data'), '{"metadata": {"ci": {"run": 2}}}', 1)).version, 2,
          'update_todo changes metadata, with the version read');
SELECT throws_ok(format($$SELECT intracker.update_todo(%L, '{"metadata": {}}', 1)$$, test_helpers.id('with_data')), 'PT409', NULL,
                 '... and a stale version is PT409');
SELECT is(test_helpers.affected(format($$UPDATE intracker.features SET tags = '{ux}', metadata = '{"jira": "ACME-8"}', version = 1
                                         WHERE id = %L$$, test_helpers.id('labelled'))), 1,
          'tags and metadata of a feature through the view (PATCH)');
SELECT is((SELECT (tags, metadata, version)::text FROM intracker.features WHERE id = test_helpers.id('labelled')),
          ('{ux}'::text[], '{"jira": "ACME-8"}'::jsonb, 2)::text, '... as written, version 2');
SELECT is((intracker.update_project(test_helpers.id('p1'), '{"metadata": {"board": 3}}', 1)).metadata, '{"board": 3}'::jsonb,
          'update_project changes metadata');

SELECT test_helpers.throws_detail(format($$SELECT intracker.update_todo(%L, '{"metadata": [1, 2]}', 2)$$, test_helpers.id('with_data')),
                                  '22023', 'metadata must be a JSON object of at most 16384 bytes', 'metadata that is not an object: 22023');
SELECT test_helpers.throws_detail(format($$SELECT intracker.update_todo(%L, jsonb_build_object('metadata', jsonb_build_object('x', repeat('y', 16400))), 2)$$,
                                         test_helpers.id('with_data')),
                                  '22023', 'at most 16384 bytes', 'metadata over 16 kB: 22023');
SELECT test_helpers.throws_detail(format($$SELECT intracker.update_todo(%L, '{"metadata": null}', 2)$$, test_helpers.id('with_data')),
                                  '22023', 'metadata must not be null', 'NULL metadata: 22023');
SELECT test_helpers.throws_detail(format($$SELECT intracker.create_feature(%L, 'Bad', metadata => '"text"')$$, test_helpers.id('p1')),
                                  '22023', 'metadata must be a JSON object', '... also when creating');

SELECT test_helpers.as_user('viewer');
SELECT throws_ok(format($$SELECT intracker.update_todo(%L, '{"metadata": {}}', 2)$$, test_helpers.id('with_data')), '42501', NULL,
                 'a viewer may not change metadata: 42501');
SELECT test_helpers.as_user('outsider');
SELECT throws_ok(format($$SELECT intracker.update_feature(%L, '{"tags": ["x"]}', 2)$$, test_helpers.id('labelled')), 'PT404', NULL,
                 'a non-member: PT404');

RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT intracker_data.publish_pending_events();
SELECT is((SELECT changes -> 'metadata' FROM intracker.events WHERE entity_id = test_helpers.id('with_data') AND version = 2),
          '{"old": {"ci": {"run": 1}}, "new": {"ci": {"run": 2}}}'::jsonb, 'a metadata change is in the todo''s event');

SELECT * FROM finish();
ROLLBACK;
