-- test/pgtap/handles.sql — issue 16: every user has a handle, how others
-- @mention them: unique regardless of case, filled on creation from the
-- GitHub login or the email's local part (made to fit, numbered when
-- taken), shown in intracker.users, changeable by its user only (and not
-- with a read-only token).

BEGIN;
SELECT plan(14);

SELECT is((intracker.create_user('octo@example.com', 'Octo', github_username => 'Octo-Cat')).handle, 'Octo-Cat',
          'a new user''s handle is their GitHub login');
SELECT is((intracker.create_user('ada.lovelace@example.com', 'Ada')).handle, 'ada-lovelace',
          '... else their email''s local part, made to fit (. becomes -)');
SELECT is((intracker.create_user('ADA.LOVELACE@elsewhere.org', 'Ada too')).handle, 'ADA-LOVELACE-2',
          '... numbered when another user has it in any case');
SELECT is((intracker.create_user('__x__@example.com', 'X')).handle, 'x__',
          '... starting with a letter or digit');
SELECT is((intracker.create_user('+++@example.com', 'Plus')).handle, 'user',
          '... and "user" when nothing of the local part fits');
SELECT is((intracker.create_user('very.long.local.part.of.an.email.address.indeed@example.com', 'Long')).handle,
          'very-long-local-part-of-an-email', '... at most 32 characters of it');

INSERT INTO test_helpers.ids SELECT 'ada', id FROM intracker.users WHERE handle = 'ada-lovelace';
INSERT INTO test_helpers.ids SELECT 'octo', id FROM intracker.users WHERE handle = 'Octo-Cat';
-- As PostgREST's role: row-level security judges (the superuser bypasses it).
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;
SELECT test_helpers.as_user('ada');
SELECT is(test_helpers.affected($$UPDATE intracker.users SET handle = 'Ada' WHERE id = intracker.current_user_id()$$), 1,
          'a user changes their own handle');
SELECT is((SELECT handle FROM intracker.users WHERE id = test_helpers.id('ada')), 'Ada', '... which intracker.users shows');
SELECT throws_ok($$UPDATE intracker.users SET handle = 'bad handle!' WHERE id = intracker.current_user_id()$$, '23514', NULL,
                 'a handle of the wrong shape: 23514 (users_handle_format)');
SELECT is(test_helpers.affected(format($$UPDATE intracker.users SET handle = 'mine' WHERE id = %L$$, test_helpers.id('octo'))), 0,
          'nobody changes another user''s handle (RLS: no row)');
SELECT test_helpers.as_user('octo');
SELECT throws_ok($$UPDATE intracker.users SET handle = 'ADA' WHERE id = intracker.current_user_id()$$, '23505', NULL,
                 'a handle another user has, in another case: 23505');
SELECT lives_ok($$UPDATE intracker.users SET handle = 'octo' WHERE id = intracker.current_user_id()$$,
                'one only you have (in another case than before) is fine');

-- A read-only token may not change it.
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT intracker.act_as(test_helpers.id('octo'));
CREATE TEMP TABLE ro_token AS SELECT token FROM intracker.create_api_token('read', read_only => true);
GRANT SELECT ON ro_token TO PUBLIC;
SELECT intracker.act_as(NULL);
SET ROLE tester_plain;
SELECT intracker.authenticate((SELECT token FROM ro_token));
SELECT throws_ok($$UPDATE intracker.users SET handle = 'ro' WHERE id = intracker.current_user_id()$$, '42501', NULL,
                 'with a read-only token: 42501');
RESET ROLE;
SELECT intracker.act_as(NULL);
SELECT is((SELECT handle FROM intracker_data.users WHERE id = test_helpers.id('octo')), 'octo', '... and it is unchanged');

SELECT * FROM finish();
ROLLBACK;
