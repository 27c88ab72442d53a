--
-- Working together (0.6): comments and @mentions, the inbox, documents,
-- search and history, as a team sees them.  The rules in depth, per role:
-- test/pgtap/comments.sql, documents.sql, search.sql, history.sql; with the
-- worker and listeners: test/t/028_notifications.pl, 029_history.pl.
--
\set ECHO none
\i sql/fixture/setup.sql
\set ECHO all
-- Handles: from the GitHub login, else the email's local part.
SELECT regress.named(id::text) AS user, handle FROM intracker.users ORDER BY handle;

-- Ann gives the bot a todo whose description asks Vic to look.
SET ROLE regress_admin;
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT id AS todo FROM intracker.create_todo((SELECT id FROM regress.names WHERE name = 'tracker'), 'OAuth callback',
                                             description => 'Fails with a state mismatch; @Vic knows why',
                                             assigned_to => '00000000-0000-0000-0000-00000000000b') \gset
INSERT INTO regress.names VALUES (:'todo', 'oauth-todo');

-- The bot answers, mentioning Ann and the outsider (not a member: no one).
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000b') IS NOT NULL AS acting_as_bot;
SELECT id AS comment FROM intracker.add_comment(:'todo', 'CI is flaky on the callback tests, @ann; cc @out') \gset
INSERT INTO regress.names VALUES (:'comment', 'bot-comment');
SELECT regress.named(author::text) AS author, body, ARRAY(SELECT regress.named(m::text) FROM unnest(mentions) m) AS mentions, version
  FROM intracker.comments;
SELECT * FROM regress.try($$SELECT intracker.update_comment((SELECT id FROM regress.names WHERE name = 'bot-comment'), 'stale', 7)$$);
SELECT version, body FROM intracker.update_comment(:'comment', 'CI is flaky on the callback tests, @ann (see the log)', 1);

SELECT version, status FROM intracker.set_todo_status(:'todo', 'in_progress', 1);

-- Each inbox (seen from above): no one is notified of their own acts, the
-- outsider of nothing.
RESET ROLE;
SELECT regress.named(user_id::text) AS inbox, kind, regress.named(entity_id::text) AS about, summary
  FROM intracker_data.notifications ORDER BY 1, 2;
SET ROLE regress_admin;
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000c') IS NOT NULL AS acting_as_vic;
SELECT kind, summary, read_at IS NULL AS unread FROM intracker.my_notifications;
SELECT intracker.mark_notifications_read() AS marked, intracker.mark_notifications_read() AS marked_again;
SELECT * FROM regress.try($$SELECT intracker.add_comment((SELECT id FROM regress.names WHERE name = 'oauth-todo'), 'me too')$$);
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000d') IS NOT NULL AS acting_as_outsider;
SELECT * FROM regress.try($$SELECT intracker.add_comment((SELECT id FROM regress.names WHERE name = 'oauth-todo'), 'hi')$$);
SELECT count(*) AS outsider_sees FROM intracker.comments;

-- A decision, written down.
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT id AS doc FROM intracker.create_document((SELECT id FROM regress.names WHERE name = 'tracker'), 'OAuth state',
                                                'Keep the state in a signed cookie.', 'decision') \gset
INSERT INTO regress.names VALUES (:'doc', 'oauth-decision');
SELECT title, kind, version FROM intracker.update_document(:'doc', '{"body": "Keep the state in a signed, short-lived cookie."}', 1);
SELECT * FROM regress.try($$SELECT intracker.update_document((SELECT id FROM regress.names WHERE name = 'oauth-decision'), '{"kind": "memo"}', 2)$$);
SELECT d ->> 'title' AS title, d ->> 'kind' AS kind, regress.named(d ->> 'id') AS id
  FROM jsonb_array_elements(intracker.team_context((SELECT id FROM regress.names WHERE name = 'tracker')) -> 'documents') AS d;

-- Search, as Vic (a viewer): prefixes, phrases, exclusions.
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000c') IS NOT NULL AS acting_as_vic;
SELECT kind, title, snippet FROM intracker.search('callback');
SELECT kind, title FROM intracker.search('oauth stat');
SELECT kind, title FROM intracker.search('"state mismatch" or cookie -signed');
SELECT * FROM regress.try($$SELECT * FROM intracker.search('')$$);

-- History: every change, the event log's retention notwithstanding.
SELECT intracker.act_as(NULL) IS NULL AS acting_as_nobody;
RESET ROLE;
SELECT intracker_data.publish_pending_events() > 0 AS published;
DELETE FROM intracker_data.events;    -- as retention would
SET ROLE regress_admin;
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000c') IS NOT NULL AS acting_as_vic;
SELECT type, regress.named(actor::text) AS actor, version, ARRAY(SELECT jsonb_object_keys(changes) ORDER BY 1) AS fields
  FROM intracker.history(:'todo');
SELECT type, version FROM intracker.history(:'comment');
SELECT type, version FROM intracker.history(:'doc');
SELECT intracker.act_as(NULL) IS NULL AS done;
RESET ROLE;
