-- test/pgtap/comments.sql — issue 16: comments on todos and features, @mentions,
-- and the inbox they fill.  Each function per role (owner, editor, viewer,
-- non-member, anonymous), bad input, optimistic locking, writes through the
-- view as PostgREST makes them; mentions of members only, of nobody for a
-- non-member or an address; notifications of each kind, never of one's own
-- acts, never to non-members, readable and markable by their user only,
-- and events of their user only.
--
-- As PostgREST's non-superuser role, so that row-level security judges.
-- Fixture (test_helpers.team_fixture): p1 with owner, editor, viewer;
-- outsider in nothing; handles are the emails' local parts.

BEGIN;
SELECT plan(92);

SELECT test_helpers.team_fixture();
SELECT intracker.act_as(test_helpers.id('owner'));
SELECT test_helpers.todo('t1', 'p1', assignee => 'editor');
SELECT test_helpers.todo('unassigned', 'p1');
SELECT intracker.act_as(NULL);
-- The outsider's own project, whose todo the others cannot see.
SELECT intracker.act_as(test_helpers.id('outsider'));
INSERT INTO test_helpers.ids SELECT 'p2', id FROM intracker.create_project('Outsider''s');
SELECT test_helpers.todo('secret', 'p2');
SELECT intracker.act_as(NULL);

CREATE FUNCTION pg_temp.inbox(user_name text) RETURNS text[]
LANGUAGE sql SECURITY DEFINER AS $$
    SELECT coalesce(array_agg(x ORDER BY x), '{}')
      FROM (SELECT n.kind || ':' || test_helpers.name_of(n.entity_id) AS x
              FROM intracker_data.notifications n WHERE n.user_id = test_helpers.id(user_name)) AS s
$$;
-- The notification events of a user, from above.
CREATE FUNCTION pg_temp.notification_events(user_name text) RETURNS integer
LANGUAGE sql SECURITY DEFINER AS $$
    SELECT count(*)::int FROM intracker_data.events e
     WHERE e.type = 'notification.created' AND e.entity_id = test_helpers.id(user_name)
$$;
CREATE FUNCTION pg_temp.summaries(user_name text) RETURNS text[]
LANGUAGE sql SECURITY DEFINER AS $$
    SELECT array_agg(n.summary ORDER BY n.summary) FROM intracker_data.notifications n WHERE n.user_id = test_helpers.id(user_name)
$$;
CREATE FUNCTION pg_temp.forget_notifications() RETURNS void
LANGUAGE sql SECURITY DEFINER AS $$ DELETE FROM intracker_data.notifications $$;
GRANT EXECUTE ON FUNCTION pg_temp.inbox(text), pg_temp.summaries(text), pg_temp.forget_notifications(),
    pg_temp.notification_events(text) TO PUBLIC;
SELECT is(pg_temp.inbox('editor'), ARRAY['assigned:t1'], 'the owner gave the editor t1: "assigned"');
SELECT pg_temp.forget_notifications();

SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;

------------------------------------------------------------------------------
-- add_comment
------------------------------------------------------------------------------
SELECT test_helpers.as_user('owner');
INSERT INTO test_helpers.ids SELECT 'c_owner', id FROM intracker.add_comment(test_helpers.id('t1'), 'Looks **good**; @Editor please check CI. (cc viewer@example.com)');
SELECT results_eq(format($$SELECT project_id, todo_id, feature_id, author, version FROM intracker.comments WHERE id = %L$$, test_helpers.id('c_owner')),
                  format($$VALUES (%L::uuid, %L::uuid, NULL::uuid, %L::uuid, 1)$$, test_helpers.id('p1'), test_helpers.id('t1'), test_helpers.id('owner')),
                  'an owner comments on a todo: its project, its todo, them as author, version 1');
SELECT is((SELECT mentions FROM intracker.comments WHERE id = test_helpers.id('c_owner')), ARRAY[test_helpers.id('editor')],
          '@Editor mentions the editor (any case); an email address mentions no one');

SELECT test_helpers.as_user('editor');
INSERT INTO test_helpers.ids SELECT 'c_editor', id FROM intracker.add_comment(test_helpers.id('f1'), 'Spec is in the doc. @owner @outsider @nobody');
SELECT is((SELECT feature_id FROM intracker.comments WHERE id = test_helpers.id('c_editor')), test_helpers.id('f1'),
          'an editor comments on a feature');
SELECT is((SELECT mentions FROM intracker.comments WHERE id = test_helpers.id('c_editor')), ARRAY[test_helpers.id('owner')],
          '@outsider (not a member) and @nobody (no such handle) mention no one');

SELECT test_helpers.as_user('viewer');
SELECT throws_ok(format($$SELECT intracker.add_comment(%L, 'me too')$$, test_helpers.id('t1')), '42501', NULL,
                 'a viewer may not comment: 42501');
SELECT is((SELECT count(*)::int FROM intracker.comments), 2, '... but reads the project''s comments');

SELECT test_helpers.as_user('outsider');
SELECT throws_ok(format($$SELECT intracker.add_comment(%L, 'hello')$$, test_helpers.id('t1')), 'PT404', NULL,
                 'a non-member comments on nothing of the project: PT404');
SELECT is((SELECT count(*)::int FROM intracker.comments), 0, '... and reads none of its comments');
SELECT lives_ok(format($$SELECT intracker.add_comment(%L, 'note to self @owner')$$, test_helpers.id('secret')),
                'the outsider comments in their own project');
SELECT is((SELECT mentions FROM intracker.comments WHERE todo_id = test_helpers.id('secret')), '{}'::uuid[],
          '... where @owner (not a member there) mentions no one');
SELECT is(intracker_data.mentioned_members(test_helpers.id('p1'), '@owner @editor'), '{}'::uuid[],
          'mentioned_members() tells a non-member nothing about a project''s members');

SELECT test_helpers.as_user(NULL);
SELECT throws_ok(format($$SELECT intracker.add_comment(%L, 'hi')$$, test_helpers.id('t1')), 'PT401', NULL,
                 'anonymous: PT401');

SELECT test_helpers.as_user('editor');
SELECT throws_ok($$SELECT intracker.add_comment(gen_random_uuid(), 'hi')$$, 'PT404', NULL, 'an unknown entity: PT404');
SELECT throws_ok($$SELECT intracker.add_comment(NULL, 'hi')$$, 'PT404', NULL, '... and NULL: PT404');
SELECT test_helpers.throws_detail(format($$SELECT intracker.add_comment(%L, '   ')$$, test_helpers.id('t1')), '22023',
                                  'body must not be blank', 'a blank body: 22023 saying why');
SELECT test_helpers.throws_detail(format($$SELECT intracker.add_comment(%L, NULL)$$, test_helpers.id('t1')), '22023',
                                  'body must not be null', 'a NULL body: 22023');
SELECT test_helpers.throws_detail(format($$SELECT intracker.add_comment(%L, repeat('x', 20001))$$, test_helpers.id('t1')),
                                  '22023', 'at most 20000 characters', 'a body over 20,000 characters: 22023');
SELECT lives_ok(format($$SELECT intracker.add_comment(%L, repeat('é', 20000))$$, test_helpers.id('unassigned')),
                '... 20,000 characters is fine');

-- PostgREST's POST /comments: the view, naming the todo only.
INSERT INTO intracker.comments (todo_id, body) VALUES (test_helpers.id('unassigned'), 'via the view, @viewer');
INSERT INTO test_helpers.ids SELECT 'c_view', id FROM intracker.comments WHERE body = 'via the view, @viewer';
SELECT results_eq($$SELECT project_id, author, mentions FROM intracker.comments WHERE body = 'via the view, @viewer'$$,
                  format($$VALUES (%L::uuid, %L::uuid, ARRAY[%L::uuid])$$, test_helpers.id('p1'), test_helpers.id('editor'), test_helpers.id('viewer')),
                  'an INSERT through the view gets its project, its author and its mentions');
SELECT throws_ok(format($$INSERT INTO intracker.comments (todo_id, body, author) VALUES (%L, 'forged', %L)$$,
                        test_helpers.id('unassigned'), test_helpers.id('owner')), '42501', NULL,
                 '... but not another author (no privilege on the column)');
SELECT throws_ok(format($$INSERT INTO intracker.comments (todo_id, body) VALUES (%L, 'elsewhere')$$, test_helpers.id('secret')),
                 '42501', NULL, '... nor a todo it cannot see (RLS: it finds no project there)');
SELECT throws_ok(format($$INSERT INTO intracker.comments (todo_id, feature_id, body) VALUES (%L, %L, 'both')$$,
                        test_helpers.id('t1'), test_helpers.id('f1')), '23514', NULL, '... nor a todo and a feature at once');

------------------------------------------------------------------------------
-- update_comment
------------------------------------------------------------------------------
SELECT test_helpers.as_user('owner');
SELECT is((intracker.update_comment(test_helpers.id('c_owner'), 'Looks good; @editor @viewer please check CI.', 1)).version, 2,
          'the author edits their comment: version 2');
SELECT is((SELECT mentions FROM intracker.comments WHERE id = test_helpers.id('c_owner')),
          (SELECT array_agg(x ORDER BY x) FROM unnest(test_helpers.ids('editor', 'viewer')) AS x),
          '... and its mentions follow the body');
SELECT throws_ok(format($$SELECT intracker.update_comment(%L, 'stale', 1)$$, test_helpers.id('c_owner')), 'PT409', NULL,
                 'a stale expected_version: PT409');
SELECT throws_ok(format($$SELECT intracker.update_comment(%L, 'no version', NULL)$$, test_helpers.id('c_owner')), '22023', NULL,
                 'no expected_version: 22023');
SELECT test_helpers.throws_detail(format($$SELECT intracker.update_comment(%L, '', 2)$$, test_helpers.id('c_owner')), '22023',
                                  'body must not be blank', 'a blank body: 22023');
SELECT is((SELECT body FROM intracker.comments WHERE id = test_helpers.id('c_owner')), 'Looks good; @editor @viewer please check CI.',
          '... none of which changed it');
SELECT throws_ok(format($$SELECT intracker.update_comment(%L, 'mine now', 1)$$, test_helpers.id('c_editor')), '42501', NULL,
                 'an owner may not edit another''s comment: 42501');
SELECT is(test_helpers.affected(format($$UPDATE intracker.comments SET body = 'mine now' WHERE id = %L$$, test_helpers.id('c_editor'))), 0,
          '... nor through the view (RLS: no row)');
SELECT test_helpers.as_user('outsider');
SELECT throws_ok(format($$SELECT intracker.update_comment(%L, 'x', 2)$$, test_helpers.id('c_owner')), 'PT404', NULL,
                 'a non-member: PT404');
SELECT test_helpers.as_user('editor');
SELECT is(test_helpers.affected(format($$UPDATE intracker.comments SET body = 'edited in place', version = 1 WHERE id = %L$$,
                                       test_helpers.id('c_editor'))), 1,
          'an author edits through the view (PATCH) with the version read');
SELECT throws_ok(format($$UPDATE intracker.comments SET body = 'stale', version = 1 WHERE id = %L$$, test_helpers.id('c_editor')),
                 'PT409', NULL, '... and a stale one there is PT409 too');

SELECT test_helpers.as_user('viewer');
SELECT is((SELECT array_agg(id) FROM intracker.list_comments(test_helpers.id('t1'))), ARRAY[test_helpers.id('c_owner')],
          'list_comments: a viewer reads the comments of a todo');
SELECT is((SELECT count(*)::int FROM intracker.list_comments(test_helpers.id('f1'))), 1, '... of a feature');
SELECT throws_ok($$SELECT * FROM intracker.list_comments(gen_random_uuid())$$, 'PT404', NULL, '... of nothing: PT404');
SELECT throws_ok(format($$SELECT * FROM intracker.list_comments(%L, 0)$$, test_helpers.id('t1')), '22023', NULL, '... max_rows 0: 22023');
SELECT test_helpers.as_user('outsider');
SELECT throws_ok(format($$SELECT * FROM intracker.list_comments(%L)$$, test_helpers.id('t1')), 'PT404', NULL,
                 '... of another project''s todo: PT404');
SELECT test_helpers.as_user('editor');

------------------------------------------------------------------------------
-- delete_comment
------------------------------------------------------------------------------
SELECT throws_ok(format($$SELECT intracker.delete_comment(%L)$$, test_helpers.id('c_owner')), '42501', NULL,
                 'an editor may not delete another''s comment: 42501');
SELECT test_helpers.as_user('viewer');
SELECT throws_ok(format($$SELECT intracker.delete_comment(%L)$$, test_helpers.id('c_owner')), '42501', NULL, '... nor a viewer');
SELECT is(test_helpers.affected(format($$DELETE FROM intracker.comments WHERE id = %L$$, test_helpers.id('c_owner'))), 0,
          '... nor through the view');
SELECT test_helpers.as_user('outsider');
SELECT throws_ok(format($$SELECT intracker.delete_comment(%L)$$, test_helpers.id('c_owner')), 'PT404', NULL, '... a non-member: PT404');
SELECT test_helpers.as_user('owner');
SELECT is((intracker.delete_comment(test_helpers.id('c_editor'))).id, test_helpers.id('c_editor'),
          'an owner deletes any comment, and gets it back');
SELECT throws_ok(format($$SELECT intracker.delete_comment(%L)$$, test_helpers.id('c_editor')), 'PT404', NULL,
                 '... once: then PT404');
SELECT test_helpers.as_user('editor');
SELECT is(test_helpers.affected($$DELETE FROM intracker.comments WHERE body = 'via the view, @viewer'$$), 1,
          'an author deletes their own (through the view)');

------------------------------------------------------------------------------
-- Notifications: mention, comment, assigned, unblocked
------------------------------------------------------------------------------
SELECT is(pg_temp.inbox('editor'), ARRAY['mention:c_owner'], 'the editor: mentioned in the owner''s comment, once (not again for its edit)');
SELECT is(pg_temp.inbox('owner'), ARRAY['mention:c_editor'], 'the owner: mentioned in the editor''s comment');
SELECT is(pg_temp.inbox('viewer'), ARRAY['mention:c_owner', 'mention:c_view'],
          'the viewer: mentioned in the comment posted through the view, and when the owner''s was edited to name them');
SELECT is(pg_temp.inbox('outsider'), '{}'::text[], 'the outsider, mentioned in p1: nothing');
SELECT pg_temp.forget_notifications();

SELECT test_helpers.as_user('owner');
INSERT INTO test_helpers.ids SELECT 'c2', id FROM intracker.add_comment(test_helpers.id('t1'), 'Any news? @owner');
SELECT is(pg_temp.inbox('editor'), ARRAY['comment:c2'], 'a comment on the editor''s todo: "comment" for the editor');
SELECT is(pg_temp.inbox('owner'), '{}'::text[], '... and nothing for the owner, who mentioned themselves');
INSERT INTO test_helpers.ids SELECT 'c3', id FROM intracker.add_comment(test_helpers.id('t1'), '@editor ping');
SELECT is(pg_temp.inbox('editor'), ARRAY['comment:c2', 'mention:c3'], 'a comment that mentions the assignee: one notification, a mention');
SELECT test_helpers.as_user('editor');
SELECT lives_ok(format($$SELECT intracker.add_comment(%L, 'on it')$$, test_helpers.id('t1')), 'the assignee comments on their own todo');
SELECT is(cardinality(pg_temp.inbox('editor')), 2, '... and is not notified of it');
SELECT pg_temp.forget_notifications();

-- Descriptions: a mention added is one; one already there is not again.
SELECT is((intracker.update_todo(test_helpers.id('unassigned'), '{"description": "needs @Viewer and @outsider"}',
                                  test_helpers.version_of(test_helpers.id('unassigned')))).version, 2, 'the editor mentions the viewer in a description');
SELECT is(pg_temp.inbox('viewer'), ARRAY['mention:unassigned'], '... a "mention" of the todo for the viewer, none for the outsider');
SELECT lives_ok(format($$SELECT intracker.update_todo(%L, '{"description": "still needs @viewer"}', 2)$$, test_helpers.id('unassigned')),
                'an edit that keeps the mention');
SELECT is(cardinality(pg_temp.inbox('viewer')), 1, '... notifies no one again');

-- Assignment: by someone else, not by oneself.
SELECT lives_ok(format($$SELECT intracker.update_todo(%L, jsonb_build_object('assigned_to', %L::uuid), 3)$$,
                       test_helpers.id('unassigned'), test_helpers.id('owner')), 'the editor gives a todo to the owner');
SELECT is(pg_temp.inbox('owner'), ARRAY['assigned:unassigned'], '... "assigned" for the owner');
SELECT test_helpers.as_user('owner');
SELECT test_helpers.feature('f2', 'p1', assignee => 'owner');
SELECT test_helpers.todo('mine', 'p1', assignee => 'owner');
SELECT is(cardinality(pg_temp.inbox('owner')), 1, 'taking work oneself (a feature, a todo) notifies no one');
SELECT test_helpers.feature('f3', 'p1', assignee => 'editor');
SELECT ok(pg_temp.inbox('editor') @> ARRAY['assigned:f3'], 'a feature given to the editor: "assigned"');
-- An import: one statement giving the editor three todos (and the owner
-- one) notifies the editor once, with the first and the count.
SELECT pg_temp.forget_notifications();
INSERT INTO intracker.todos (project_id, title, assigned_to)
SELECT test_helpers.id('p1'), 'Imported ' || i, test_helpers.id(CASE WHEN i = 4 THEN 'owner' ELSE 'editor' END)
  FROM generate_series(1, 4) AS i;
SELECT matches(array_to_string(pg_temp.summaries('editor'), ' | '), '^Owner assigned you 3 todos: "Imported [123]" and 2 more$',
               'an import notifies each assignee once, naming one of the todos and counting the rest');
SELECT is(cardinality(pg_temp.inbox('owner')), 0, '... and not the one importing');

-- Unblocked: the last open blocker of the editor's todo goes done.
SELECT test_helpers.todo('b1', 'p1');
SELECT test_helpers.todo('b2', 'p1');
SELECT intracker.add_dependency(test_helpers.id('t1'), test_helpers.id('b1'));
SELECT intracker.add_dependency(test_helpers.id('t1'), test_helpers.id('b2'));
SELECT pg_temp.forget_notifications();
SELECT intracker.set_todo_status(test_helpers.id('b1'), 'done', test_helpers.version_of(test_helpers.id('b1')));
SELECT is(pg_temp.inbox('editor'), '{}'::text[], 'one blocker of two done: nothing yet');
SELECT intracker.set_todo_status(test_helpers.id('b2'), 'cancelled', test_helpers.version_of(test_helpers.id('b2')));
SELECT is(pg_temp.inbox('editor'), ARRAY['unblocked:t1'], 'the last one cancelled: "unblocked" for the assignee');

------------------------------------------------------------------------------
-- Reading and marking the inbox
------------------------------------------------------------------------------
SELECT test_helpers.as_user('owner');
INSERT INTO test_helpers.ids SELECT 'c4', id FROM intracker.add_comment(test_helpers.id('t1'), '@editor @viewer two more');
SELECT is((SELECT count(*)::int FROM intracker.my_notifications), 0, 'the owner''s inbox shows none of the others''');
SELECT test_helpers.as_user('editor');
SELECT is((SELECT array_agg(kind ORDER BY kind) FROM intracker.my_notifications), ARRAY['mention', 'unblocked'],
          'the editor''s inbox: theirs only');
SELECT ok((SELECT bool_and(actor = test_helpers.id('owner') AND project_id = test_helpers.id('p1') AND read_at IS NULL
                           AND summary LIKE 'Owner %')
             FROM intracker.my_notifications WHERE kind = 'mention'),
          '... with actor, project, a summary naming who, unread');
SELECT is((SELECT summary FROM intracker.my_notifications WHERE kind = 'mention'), 'Owner mentioned you in a comment on todo "t1"',
          '... in plain words');
SELECT is((SELECT array_agg(kind ORDER BY kind) FROM intracker.get_my_notifications()), ARRAY['mention', 'unblocked'],
          'get_my_notifications(): the unread ones');
SELECT is(intracker.mark_notifications_read(ARRAY(SELECT id FROM intracker.my_notifications WHERE kind = 'mention')), 1,
          'mark_notifications_read(ids) marks those');
SELECT is((SELECT array_agg(kind) FROM intracker.get_my_notifications()), ARRAY['unblocked'], '... which then lists the others');
SELECT is((SELECT count(*)::int FROM intracker.get_my_notifications(unread_only => false)), 2, '... and all with unread_only => false');
SELECT is(intracker.mark_notifications_read(ARRAY(SELECT id FROM intracker.my_notifications WHERE kind = 'mention')), 0,
          '... once');
SELECT test_helpers.as_user('viewer');
SELECT is(intracker.mark_notifications_read((SELECT array_agg(n.id) FROM intracker.my_notifications n) ||
                                            ARRAY[gen_random_uuid()]), 1,
          'the viewer marks theirs; an id that is not theirs is passed over');
SELECT test_helpers.as_user('editor');
SELECT is(test_helpers.affected($$UPDATE intracker_data.notifications SET read_at = now() WHERE read_at IS NULL$$), 1,
          'a user sets read_at on their own unread ones only (RLS)');
SELECT is(intracker.mark_notifications_read(), 0, 'mark_notifications_read() with none left: 0');
SELECT throws_ok($$UPDATE intracker.my_notifications SET summary = 'forged'$$, '42501', NULL, 'the summary is not theirs to change');
SELECT throws_ok(format($$INSERT INTO intracker_data.notifications (user_id, kind, project_id, entity_id, summary)
                          VALUES (%L, 'mention', %L, %L, 'forged')$$, test_helpers.id('owner'), test_helpers.id('p1'), test_helpers.id('t1')),
                 '42501', NULL, 'nobody writes notifications themselves');
SELECT throws_ok(format($$SELECT intracker_data.notify('mention', %L, %L, ARRAY[%L::uuid], 'forged')$$,
                        test_helpers.id('p1'), test_helpers.id('t1'), test_helpers.id('owner')),
                 '42501', NULL, '... nor through intracker_data.notify()');
SELECT test_helpers.as_user(NULL);
SELECT throws_ok($$SELECT intracker.mark_notifications_read()$$, 'PT401', NULL, 'anonymous: PT401');
SELECT throws_ok($$SELECT intracker.listen_me()$$, 'PT401', NULL, '... also for listen_me()');

------------------------------------------------------------------------------
-- Events: comment.*, and notifications for their user only
------------------------------------------------------------------------------
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT intracker_data.publish_pending_events();
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;
SELECT test_helpers.as_user('viewer');
SELECT ok((SELECT array_agg(DISTINCT type) FROM intracker.events WHERE type LIKE 'comment.%') @> ARRAY['comment.added', 'comment.updated', 'comment.deleted'],
          'comments are events: comment.added, comment.updated, comment.deleted');
SELECT is((SELECT count(*)::int FROM intracker.events WHERE type LIKE 'notification.%' AND entity_id <> intracker.current_user_id()), 0,
          'a member sees no one else''s notification events');
SELECT is((SELECT count(*)::int FROM intracker.events_since(0, NULL, 10000) WHERE type = 'notification.created'),
          pg_temp.notification_events('viewer'), '... and all of their own');
SELECT cmp_ok(pg_temp.notification_events('viewer'), '>=', 4, '... one per notification the viewer got (forgotten ones too)');
SELECT is(intracker.listen_me(), 'intracker.user.' || test_helpers.id('viewer'), 'listen_me() listens on user_channel(me)');
SELECT is(intracker.user_channel(test_helpers.id('viewer')), 'intracker.user.' || test_helpers.id('viewer'), 'user_channel()');
UNLISTEN *;

-- Webhooks get comments in plain words (notifications they never get).
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT is((SELECT intracker_data.slack_text(e) FROM intracker_data.events e
            WHERE e.type = 'comment.added' AND e.entity_id = test_helpers.id('c2')),
          'Owner commented on *t1*: Any news? @owner', 'a comment''s Slack text names who, on what, and what was said');
SELECT is((SELECT intracker_data.slack_text(e) FROM intracker_data.events e
            WHERE e.type = 'comment.deleted' AND e.entity_id = test_helpers.id('c_editor')),
          'Owner deleted a comment on *Feature one*', '... and a deletion, without the text');

SELECT * FROM finish();
ROLLBACK;
