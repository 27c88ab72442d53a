-- test/pgtap/documents.sql — issue 16: project documents (specs, decisions,
-- runbooks, notes).  Each function per role (owner, editor, viewer,
-- non-member, anonymous, read-only token), bad input, optimistic locking;
-- comments on documents; their events; their titles in team_context and
-- resume_context, bounded by the list limit.  As PostgREST's non-superuser
-- role, so that row-level security judges.

BEGIN;
SELECT plan(43);

SELECT test_helpers.team_fixture();
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;

------------------------------------------------------------------------------
-- create_document
------------------------------------------------------------------------------
SELECT test_helpers.as_user('editor');
INSERT INTO test_helpers.ids SELECT 'spec', id FROM intracker.create_document(test_helpers.id('p1'), 'Login spec', '# Login\nOAuth first.', 'spec');
SELECT results_eq(format($$SELECT project_id, title, kind, created_by, version FROM intracker.documents WHERE id = %L$$, test_helpers.id('spec')),
                  format($$VALUES (%L::uuid, 'Login spec', 'spec', %L::uuid, 1)$$, test_helpers.id('p1'), test_helpers.id('editor')),
                  'an editor creates a document: its project, title, kind, author, version 1');
SELECT is((intracker.create_document(test_helpers.id('p1'), 'Scratch', '')).kind, 'note', 'kind is note by default');
INSERT INTO test_helpers.ids SELECT 'scratch', id FROM intracker.documents WHERE title = 'Scratch';
SELECT test_helpers.throws_detail(format($$SELECT intracker.create_document(%L, 'X', 'y', 'memo')$$, test_helpers.id('p1')),
                                  '22023', 'kind must be one of: note, spec, decision, runbook', 'an unknown kind: 22023');
SELECT test_helpers.throws_detail(format($$SELECT intracker.create_document(%L, ' ', 'y')$$, test_helpers.id('p1')),
                                  '22023', 'title must not be blank', 'a blank title: 22023');
SELECT test_helpers.throws_detail(format($$SELECT intracker.create_document(%L, 'Huge', repeat('x', 200001))$$, test_helpers.id('p1')),
                                  '22023', 'at most 200000 characters', 'a body over 200,000 characters: 22023');
SELECT test_helpers.throws_detail(format($$SELECT intracker.create_document(%L, 'Null', NULL)$$, test_helpers.id('p1')),
                                  '22023', 'body must not be null', 'a NULL body: 22023');
SELECT test_helpers.as_user('viewer');
SELECT throws_ok(format($$SELECT intracker.create_document(%L, 'Mine', 'x')$$, test_helpers.id('p1')), '42501', NULL,
                 'a viewer may not create documents: 42501');
SELECT is((SELECT count(*)::int FROM intracker.documents), 2, '... but reads the project''s documents');
SELECT test_helpers.as_user('outsider');
SELECT throws_ok(format($$SELECT intracker.create_document(%L, 'Mine', 'x')$$, test_helpers.id('p1')), 'PT404', NULL,
                 'a non-member: PT404');
SELECT is((SELECT count(*)::int FROM intracker.documents), 0, '... who reads none');
SELECT test_helpers.as_user(NULL);
SELECT throws_ok(format($$SELECT intracker.create_document(%L, 'Mine', 'x')$$, test_helpers.id('p1')), 'PT401', NULL, 'anonymous: PT401');

------------------------------------------------------------------------------
-- update_document
------------------------------------------------------------------------------
SELECT test_helpers.as_user('owner');
SELECT is((intracker.update_document(test_helpers.id('spec'), '{"body": "# Login\nOAuth, then SAML.", "kind": "decision"}', 1)).version, 2,
          'an owner updates a document with the version read: version 2');
SELECT throws_ok(format($$SELECT intracker.update_document(%L, '{"title": "Stale"}', 1)$$, test_helpers.id('spec')), 'PT409', NULL,
                 'a stale version: PT409');
SELECT is((SELECT (title, kind)::text FROM intracker.documents WHERE id = test_helpers.id('spec')), '("Login spec",decision)',
          '... and nothing was written');
SELECT test_helpers.throws_detail(format($$SELECT intracker.update_document(%L, '{"created_by": null}', 2)$$, test_helpers.id('spec')),
                                  '22023', 'Changeable fields: title, body, kind', 'a field that is not changeable: 22023 naming those that are');
SELECT test_helpers.throws_detail(format($$SELECT intracker.update_document(%L, '{"kind": "memo"}', 2)$$, test_helpers.id('spec')),
                                  '22023', 'kind must be one of', 'a bad kind: 22023');
SELECT is(test_helpers.affected(format($$UPDATE intracker.documents SET title = 'Login decision', version = 2 WHERE id = %L$$,
                                       test_helpers.id('spec'))), 1, 'an UPDATE through the view (PATCH) with the version');
SELECT test_helpers.as_user('viewer');
SELECT throws_ok(format($$SELECT intracker.update_document(%L, '{"title": "V"}', 3)$$, test_helpers.id('spec')), '42501', NULL,
                 'a viewer may not update: 42501');
SELECT test_helpers.as_user('outsider');
SELECT throws_ok(format($$SELECT intracker.update_document(%L, '{"title": "O"}', 3)$$, test_helpers.id('spec')), 'PT404', NULL,
                 'a non-member: PT404');

SELECT test_helpers.as_user('viewer');
SELECT is((SELECT array_agg(title ORDER BY title) FROM intracker.list_documents(test_helpers.id('p1'))), ARRAY['Login decision', 'Scratch'],
          'list_documents: a viewer lists them');
SELECT is((SELECT array_agg(title) FROM intracker.list_documents(test_helpers.id('p1'), 'decision')), ARRAY['Login decision'],
          '... of one kind');
SELECT is((intracker.get_document(test_helpers.id('spec'))).body, E'# Login\nOAuth, then SAML.', 'get_document: the body');
SELECT test_helpers.as_user('outsider');
SELECT throws_ok(format($$SELECT * FROM intracker.list_documents(%L)$$, test_helpers.id('p1')), 'PT404', NULL, 'list_documents for a non-member: PT404');
SELECT throws_ok(format($$SELECT * FROM intracker.get_document(%L)$$, test_helpers.id('spec')), 'PT404', NULL, 'get_document for a non-member: PT404');

------------------------------------------------------------------------------
-- Comments on documents
------------------------------------------------------------------------------
SELECT test_helpers.as_user('owner');
INSERT INTO test_helpers.ids SELECT 'doc_comment', id FROM intracker.add_comment(test_helpers.id('spec'), 'Why not SAML first, @editor?');
SELECT is((SELECT document_id FROM intracker.comments WHERE id = test_helpers.id('doc_comment')), test_helpers.id('spec'),
          'a comment on a document');
SELECT test_helpers.as_user('editor');
SELECT is((SELECT summary FROM intracker.my_notifications WHERE entity_id = test_helpers.id('doc_comment')),
          'Owner mentioned you in a comment on document "Login decision"', '... whose mention is notified, naming the document');

------------------------------------------------------------------------------
-- Context documents
------------------------------------------------------------------------------
SELECT is((SELECT array_agg(d ->> 'title' ORDER BY d ->> 'title') FROM jsonb_array_elements(intracker.team_context(test_helpers.id('p1')) -> 'documents') d),
          ARRAY['Login decision', 'Scratch'], 'team_context lists the documents by title');
SELECT is((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(intracker.team_context(test_helpers.id('p1')) -> 'documents' -> 0) AS k),
          ARRAY['id', 'kind', 'title', 'updated_at'], '... with id, kind, title and updated_at, not the body');
SELECT test_helpers.as_user('viewer');
SELECT is(jsonb_array_length(intracker.resume_context(test_helpers.id('p1')) -> 'documents'), 2, 'resume_context lists them, for a viewer too');
SELECT test_helpers.as_user('editor');
SELECT intracker.create_document(test_helpers.id('p1'), 'Runbook ' || i, 'Steps', 'runbook') FROM generate_series(1, 3) AS i;
SET LOCAL intracker.context_todo_limit = 2;
SELECT is(jsonb_array_length(intracker.team_context(test_helpers.id('p1')) -> 'documents'), 2, 'at most context_todo_limit of them');
SELECT is((intracker.team_context(test_helpers.id('p1')) #>> '{omitted,documents,count}')::int, 3, '... the others counted in omitted');
SELECT alike(intracker.resume_context(test_helpers.id('p1')) #>> '{omitted,documents,fetch}', '%FROM intracker.documents%',
            '... with the query that fetches them all');
RESET intracker.context_todo_limit;

------------------------------------------------------------------------------
-- delete_document
------------------------------------------------------------------------------
SELECT test_helpers.as_user('editor');
SELECT is((intracker.delete_document(test_helpers.id('scratch'))).title, 'Scratch', 'its author (an editor) deletes a document');
SELECT throws_ok(format($$SELECT intracker.delete_document(%L)$$, test_helpers.id('scratch')), 'PT404', NULL, '... once');
SELECT test_helpers.as_user('owner');
SELECT intracker.create_document(test_helpers.id('p1'), 'Owner notes', 'x');
SELECT test_helpers.as_user('editor');
SELECT throws_ok($$SELECT intracker.delete_document((SELECT id FROM intracker.documents WHERE title = 'Owner notes'))$$, '42501', NULL,
                 'an editor may not delete another''s document');
SELECT test_helpers.as_user('viewer');
SELECT throws_ok(format($$SELECT intracker.delete_document(%L)$$, test_helpers.id('spec')), '42501', NULL, '... nor a viewer');
SELECT test_helpers.as_user('owner');
SELECT is((intracker.delete_document(test_helpers.id('spec'))).id, test_helpers.id('spec'), 'an owner deletes any document');
SELECT is((SELECT count(*)::int FROM intracker.comments WHERE id = test_helpers.id('doc_comment')), 0, '... and its comments go with it');

------------------------------------------------------------------------------
-- Events, and a read-only token
------------------------------------------------------------------------------
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT intracker_data.publish_pending_events();
SELECT ok((SELECT array_agg(DISTINCT type) FROM intracker.events WHERE type LIKE 'document.%') @> ARRAY['document.created', 'document.updated', 'document.deleted'],
          'documents are events: document.created, document.updated, document.deleted');
SELECT is((SELECT intracker_data.slack_text(e) FROM intracker_data.events e
            WHERE e.type = 'document.created' AND e.entity_id = (SELECT id FROM intracker_data.documents WHERE title = 'Owner notes')),
          'Owner created document *Owner notes*', 'a document''s Slack text');
SELECT intracker.act_as(test_helpers.id('owner'));
SELECT lives_ok(format($$SELECT intracker.create_webhook(%L, 'https://hooks.example.com/team', '{comment.*,document.updated}')$$,
                       test_helpers.id('p1')), 'webhooks may follow comment.* and document.* events');
SELECT throws_ok(format($$SELECT intracker.create_webhook(%L, 'https://hooks.example.com/inbox', '{notification.created}')$$,
                        test_helpers.id('p1')), '22023', NULL, '... never a user''s notifications');
SELECT intracker.act_as(test_helpers.id('editor'));
CREATE TEMP TABLE ro_token AS SELECT token FROM intracker.create_api_token('read', read_only => true);
GRANT SELECT ON ro_token TO PUBLIC;
SELECT intracker.act_as(NULL);
SET ROLE tester_plain;
SELECT intracker.authenticate((SELECT token FROM ro_token));
SELECT throws_ok(format($$SELECT intracker.create_document(%L, 'RO', 'x')$$, test_helpers.id('p1')), '42501', NULL,
                 'with a read-only token: 42501');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
