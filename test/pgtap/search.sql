-- test/pgtap/search.sql — issue 16: intracker.search().  What it finds of
-- each kind, web-search syntax (phrases, or, -word), the last word as a
-- prefix, ranking and snippets; what it must not find (another project,
-- session notes a viewer may not read); per role; bad input; the
-- configuration setting.  As PostgREST's non-superuser role.

BEGIN;
SELECT plan(31);

SELECT test_helpers.team_fixture();
SELECT intracker.act_as(test_helpers.id('owner'));
INSERT INTO test_helpers.ids SELECT 'oauth', id
  FROM intracker.create_todo(test_helpers.id('p1'), 'OAuth callback handler',
                             description => 'The callback from GitHub fails with a state mismatch');
INSERT INTO test_helpers.ids SELECT 'login', id
  FROM intracker.create_todo(test_helpers.id('p1'), 'Login page', description => 'Link to the oauth callback docs');
INSERT INTO test_helpers.ids SELECT 'feat', id
  FROM intracker.create_feature(test_helpers.id('p1'), 'Zanzibar import', description => 'Bring the old tracker''s data');
INSERT INTO test_helpers.ids SELECT 'note', id
  FROM intracker.add_comment(test_helpers.id('oauth'), 'CI is flaky on the callback tests; mismatch state seen twice');
INSERT INTO test_helpers.ids SELECT 'doc', id
  FROM intracker.create_document(test_helpers.id('p1'), 'Auth decision', 'We use PKCE. Árvíztűrő tükörfúrógép.', 'decision');
SELECT intracker.act_as(test_helpers.id('editor'));
INSERT INTO test_helpers.ids SELECT 'session', id FROM intracker.start_session(test_helpers.id('p1'), 'Quokka migration');
SELECT intracker.end_session(test_helpers.id('session'), 'The wombat summary is private', '{"feed the wombat"}');
SELECT intracker.act_as(test_helpers.id('outsider'));
INSERT INTO test_helpers.ids SELECT 'p2', id FROM intracker.create_project('Elsewhere');
SELECT intracker.create_todo(test_helpers.id('p2'), 'OAuth callback elsewhere');
SELECT intracker.act_as(NULL);

CREATE FUNCTION pg_temp.found(query text, project uuid DEFAULT NULL, kinds text[] DEFAULT NULL) RETURNS text[]
LANGUAGE sql AS $$
    SELECT coalesce(array_agg(test_helpers.name_of(s.id) ORDER BY s.rank DESC, test_helpers.name_of(s.id)), '{}')
      FROM intracker.search(query, project, kinds) s
$$;
GRANT EXECUTE ON FUNCTION pg_temp.found(text, uuid, text[]) TO PUBLIC;

SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;
SELECT test_helpers.as_user('viewer');

SELECT is(pg_temp.found('callback'), ARRAY['oauth', 'login', 'note'],
          'a word: the todos and the comment that hold it, the one with it in its title first');
SELECT is(pg_temp.found('zanzibar'), ARRAY['feat'], 'a feature');
SELECT is(pg_temp.found('pkce'), ARRAY['doc'], 'a document');
SELECT is(pg_temp.found('tükörfúrógép'), ARRAY['doc'], 'any language''s words (simple: no stemming, no stop words)');
SELECT is(pg_temp.found('quokka'), ARRAY['session'], 'a session, by its goal');
SELECT is(pg_temp.found('CALLBACK'), pg_temp.found('callback'), 'regardless of case');
SELECT is(pg_temp.found('zanz'), ARRAY['feat'], 'the last word is a prefix (search as you type)');
SELECT is(pg_temp.found('oauth cal'), ARRAY['oauth', 'login'], '... after whole words');
SELECT is(pg_temp.found('"state mismatch"'), ARRAY['oauth'], 'a quoted phrase: those words in that order only');
SELECT is(pg_temp.found('callback -flaky'), ARRAY['oauth', 'login'], '-word excludes');
SELECT is(pg_temp.found('pkce or zanzibar'), ARRAY['feat', 'doc'], 'or (a title''s match first)');
SELECT is(pg_temp.found('callback', kinds => '{comment}'), ARRAY['note'], 'kinds: comments only');
SELECT is(pg_temp.found('callback', test_helpers.id('p1'), '{todo,feature}'), ARRAY['oauth', 'login'], '... todos and features of a project');
SELECT is(pg_temp.found('!!!'), '{}'::text[], 'nothing searchable: no result, no error');
SELECT is((SELECT count(*)::int FROM intracker.search('callback', max_results => 1)), 1, 'max_results bounds the results');

SELECT alike((SELECT snippet FROM intracker.search('mismatch', kinds => '{comment}')), '%callback tests; **mismatch** state seen%',
             'the snippet shows the match in bold, in its context');
SELECT is((SELECT title FROM intracker.search('flaky')), 'OAuth callback handler', 'a comment is titled by what it is about');
SELECT ok((SELECT bool_and(project_id = test_helpers.id('p1') AND rank > 0 AND updated_at IS NOT NULL) FROM intracker.search('callback')),
          'each result has its project, a rank and when it changed');

-- What must not be found.
SELECT is(pg_temp.found('wombat'), '{}'::text[], 'a viewer does not find others'' session notes (summary, next steps)');
SELECT test_helpers.as_user('editor');
SELECT is(pg_temp.found('wombat'), ARRAY['session'], '... which their author finds');
SELECT test_helpers.as_user('owner');
SELECT is(pg_temp.found('wombat'), ARRAY['session'], '... and an owner');
SELECT ok(NOT 'OAuth callback elsewhere' = ANY (ARRAY(SELECT title FROM intracker.search('callback'))),
          'nothing of a project you are not in');
SELECT test_helpers.as_user('outsider');
SELECT is((SELECT array_agg(title) FROM intracker.search('callback')), ARRAY['OAuth callback elsewhere'],
          'a non-member finds their own project''s only');
SELECT throws_ok(format($$SELECT * FROM intracker.search('callback', %L)$$, test_helpers.id('p1')), 'PT404', NULL,
                 '... and PT404 for a project they are not in');
SELECT test_helpers.as_user(NULL);
SELECT throws_ok($$SELECT * FROM intracker.search('callback')$$, 'PT401', NULL, 'anonymous: PT401');

-- Bad input.
SELECT test_helpers.as_user('viewer');
SELECT throws_ok($$SELECT * FROM intracker.search('  ')$$, '22023', NULL, 'a blank query: 22023');
SELECT throws_ok($$SELECT * FROM intracker.search(repeat('x', 1001))$$, '22023', NULL, 'a query over 1,000 characters: 22023');
SELECT throws_ok($$SELECT * FROM intracker.search('x', max_results => 101)$$, '22023', NULL, 'max_results 101: 22023');
SELECT throws_ok($$SELECT * FROM intracker.search('x', kinds => '{todo,nope}')$$, '22023', NULL, 'an unknown kind: 22023');

-- The configuration.
SET LOCAL intracker.search_config = 'english';
SELECT is(pg_temp.found('handlers'), ARRAY['oauth'], 'intracker.search_config = english: stems (handlers finds handler)');
SET LOCAL intracker.search_config = 'no_such_config';
SELECT throws_ok($$SELECT * FROM intracker.search('x')$$, '22023', NULL, 'a configuration that does not exist: 22023');

SELECT * FROM finish();
ROLLBACK;
