-- test/pgtap/credentials.sql — API tokens, passwords, login, authenticate
-- and read-only tokens (issue 14), as a plain role that has only
-- intracker_user (tester_plain) wherever the caller is a user.
--
--   A  tokens: shape, the view, who may create and revoke them
--   B  authenticate: the identity it sets, and every bad token alike PT401
--   C  read-only tokens: every write path refused, reads unchanged
--   D  passwords: strength rules, storage, who may set them
--   E  login: the JWT's claims, authenticate and PostgREST accept it,
--      tampered tokens refused
--   F  settings only a superuser sets or sees
--
-- What needs commits, several sessions or time (revocation ending another
-- session's identity, DISCARD ALL, the lockout window, the JWT checked
-- with an HMAC outside PostgreSQL, forged signatures and expiry) is in
-- test/t/024_credentials.pl.

BEGIN;
SELECT plan(153);

SELECT test_helpers.team_fixture();
SELECT intracker.act_as(test_helpers.id('owner'));
SELECT test_helpers.todo('t1', 'p1', 'editor');
SELECT test_helpers.todo('t2', 'p1');
INSERT INTO test_helpers.ids SELECT 's1', s.id FROM intracker.start_session(test_helpers.id('p1'), 'Goal') s;
INSERT INTO test_helpers.ids SELECT 'w1', w.id FROM intracker.create_webhook(test_helpers.id('p1'), 'https://example.com/hook') w;
SELECT intracker.update_project(test_helpers.id('p1'), '{"github_repo": "octo/repo"}', 1);
-- a second project, where the owner has no open session
INSERT INTO test_helpers.ids SELECT 'p2', p.id FROM intracker.create_project('Project Two') p;

-- tokens, created by the superuser acting as each user (a member of intracker_admin)
CREATE TEMP TABLE tokens (name text PRIMARY KEY, id uuid, token text);
GRANT SELECT ON tokens TO PUBLIC;
INSERT INTO tokens SELECT 'owner_rw', t.token_id, t.token FROM intracker.create_api_token('laptop') t;
INSERT INTO tokens SELECT 'owner_ro', t.token_id, t.token FROM intracker.create_api_token('dashboard', read_only => true) t;
INSERT INTO tokens SELECT 'owner_revoked', t.token_id, t.token FROM intracker.create_api_token('old') t;
INSERT INTO tokens SELECT 'owner_expired', t.token_id, t.token FROM intracker.create_api_token('expired') t;
SELECT intracker.act_as(test_helpers.id('editor'));
INSERT INTO tokens SELECT 'editor_rw', t.token_id, t.token FROM intracker.create_api_token('agent') t;
SELECT intracker.act_as(test_helpers.id('viewer'));
INSERT INTO tokens SELECT 'viewer_rw', t.token_id, t.token FROM intracker.create_api_token('viewer') t;
SELECT intracker.act_as(test_helpers.id('newbie'));
INSERT INTO tokens SELECT 'newbie_rw', t.token_id, t.token FROM intracker.create_api_token('soon inactive') t;
SELECT intracker.act_as(NULL);
-- expired a day ago (made so from above: expires_at must be in the future when created)
UPDATE intracker_data.api_tokens SET created_at = now() - interval '2 days', expires_at = now() - interval '1 day'
 WHERE id = (SELECT id FROM tokens WHERE name = 'owner_expired');

CREATE FUNCTION pg_temp.token(token_name text) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT token FROM pg_temp.tokens WHERE name = token_name $$;
CREATE FUNCTION pg_temp.token_id(token_name text) RETURNS uuid
LANGUAGE sql STABLE AS $$ SELECT id FROM pg_temp.tokens WHERE name = token_name $$;
GRANT EXECUTE ON FUNCTION pg_temp.token(text), pg_temp.token_id(text) TO PUBLIC;

------------------------------------------------------------------------------
-- A. Tokens
------------------------------------------------------------------------------

SELECT ok((SELECT bool_and(token ~ '^itk_[0-9A-Za-z]{44}$') FROM tokens),
          'a token is itk_ and 44 letters and digits');
SELECT is((SELECT count(DISTINCT token)::int FROM tokens), (SELECT count(*)::int FROM tokens), 'every token is different');
SELECT is((SELECT count(*)::int FROM intracker_data.api_tokens t JOIN tokens k ON k.id = t.id
            WHERE t.token_hash = sha256(convert_to(k.token, 'UTF8'))), 7,
          'what is stored is the SHA-256 of the token');
SELECT is_empty($$SELECT FROM intracker_data.api_tokens t JOIN pg_temp.tokens k ON k.id = t.id
                   WHERE position(convert_to(substr(k.token, 17), 'UTF8') IN t.token_hash) > 0
                      OR t.selector LIKE '%' || substr(k.token, 17, 8) || '%'$$,
                'the secret part of a token is stored nowhere');
SELECT columns_are('intracker', 'api_tokens',
                   ARRAY['id', 'user_id', 'name', 'token_prefix', 'read_only', 'created_at', 'expires_at',
                         'last_used_at', 'revoked_at'],
                   'intracker.api_tokens shows neither the token nor its hash');

SET ROLE tester_plain;
SELECT is(intracker.authenticate(pg_temp.token('owner_rw')), test_helpers.id('owner'), 'authenticate returns the token''s user');
SELECT is(intracker.current_user_id(), test_helpers.id('owner'), '... who is the acting user');
SELECT set_eq($$SELECT name FROM intracker.api_tokens$$, ARRAY['laptop', 'dashboard', 'old', 'expired'],
              'a user sees their own tokens only');
SELECT is((SELECT token_prefix FROM intracker.api_tokens WHERE id = pg_temp.token_id('owner_rw')),
          left(pg_temp.token('owner_rw'), 16), 'token_prefix is the token''s first 16 characters');
SELECT ok((SELECT last_used_at IS NOT NULL FROM intracker.api_tokens WHERE id = pg_temp.token_id('owner_rw')),
          'authenticate noted last_used_at');
SELECT ok((SELECT last_login_at IS NOT NULL FROM intracker.users WHERE id = test_helpers.id('owner')),
          '... and the user''s last_login_at');
SELECT throws_ok($$SELECT token_hash FROM intracker_data.api_tokens$$, '42501', NULL,
                 'a user cannot read token hashes, not even their own');
SELECT throws_ok($$SELECT * FROM intracker_data.user_passwords$$, '42501', NULL,
                 'a user cannot read password secrets');
SELECT throws_ok($$INSERT INTO intracker_data.api_tokens (user_id, name, selector, token_hash)
                   VALUES (intracker.current_user_id(), 'mine', 'AAAAAAAAAAAA', '\x00')$$, '42501', NULL,
                 'a user cannot write a token row of their own choosing');
SELECT throws_ok($$UPDATE intracker_data.api_tokens SET revoked_at = NULL$$, '42501', NULL,
                 '... nor un-revoke one');

-- create for yourself; for another user only as an admin
SELECT ok((SELECT token FROM intracker.create_api_token('ci', now() + interval '30 days')) LIKE 'itk_%',
          'a user creates a token for themselves');
SELECT ok((SELECT expires_at > now() + interval '29 days' FROM intracker.api_tokens WHERE name = 'ci'),
          '... with the expiry asked for');
SELECT throws_ok(format('SELECT intracker.create_api_token(%L, user_id => %L)', 'for editor', test_helpers.id('editor')),
                 '42501', 'permission denied to create an API token for another user',
                 'a user who is not an admin cannot create a token for another user');
SELECT throws_ok($$SELECT intracker.create_api_token('past', now() - interval '1 minute')$$, '22023', NULL,
                 'an expiry in the past is refused');
SELECT throws_ok($$SELECT intracker.create_api_token('  ')$$, '22023', NULL, 'a blank name is refused');
SELECT throws_ok($$SELECT intracker.create_api_token(NULL)$$, '22023', NULL, 'a NULL name is refused');
SELECT throws_ok($$SELECT intracker.create_api_token('x', read_only => NULL)$$, '22023', 'read_only must not be null',
                 'a NULL read_only is refused');
SELECT throws_ok($$SELECT intracker.create_api_token('n' || g) FROM generate_series(1, 100) g$$, '54000', 'too many API tokens',
                 'at most 100 usable tokens per user');
SELECT throws_ok(format('SELECT intracker.revoke_api_token(%L)', pg_temp.token_id('editor_rw')), 'PT404', NULL,
                 'another user''s token is "not found" to a user');
SELECT lives_ok(format('SELECT intracker.revoke_api_token(%L)', pg_temp.token_id('owner_revoked')),
                'a user revokes their own token');
SELECT ok((SELECT revoked_at IS NOT NULL FROM intracker.api_tokens WHERE id = pg_temp.token_id('owner_revoked')),
          '... revoked_at is set');
SELECT throws_ok($$SELECT intracker.revoke_api_token(NULL)$$, '22023', NULL, 'revoking NULL is refused');
SELECT intracker.authenticate(NULL);
SELECT throws_ok($$SELECT intracker.create_api_token('anon')$$, 'PT401', NULL, 'without an identity, no token');
RESET ROLE;

-- admins: another user's token, everyone's tokens, revoking any
SET ROLE tester_admin;
SELECT intracker.act_as(test_helpers.id('owner'));
SELECT ok((SELECT token FROM intracker.create_api_token('agent token', user_id => test_helpers.id('editor'))) LIKE 'itk_%',
          'an admin creates a token for another user');
SELECT is((SELECT user_id FROM intracker.api_tokens WHERE name = 'agent token'), test_helpers.id('editor'),
          '... which belongs to that user');
SELECT ok((SELECT count(DISTINCT user_id) >= 4 FROM intracker.api_tokens), 'an admin sees everyone''s tokens');
SELECT throws_ok(format('SELECT intracker.create_api_token(%L, user_id => %L)', 'ghost', gen_random_uuid()), 'PT404', NULL,
                 'a token for a user who does not exist is refused');
SELECT intracker.act_as(NULL);
RESET ROLE;

------------------------------------------------------------------------------
-- B. authenticate
------------------------------------------------------------------------------

-- newbie is deactivated: their token stops working
SELECT intracker.set_user_active(test_helpers.id('newbie'), false);
UPDATE intracker_data.api_tokens SET revoked_at = now() WHERE id = pg_temp.token_id('owner_revoked');

SET ROLE tester_plain;
CREATE TEMP TABLE refusals AS
SELECT label, test_helpers.error_of(format('SELECT intracker.authenticate(%L)', token)) AS error
  FROM (VALUES ('unknown', 'itk_' || repeat('A', 44)),
               ('tampered', left(pg_temp.token('owner_rw'), 47) || CASE WHEN right(pg_temp.token('owner_rw'), 1) = 'x' THEN 'y' ELSE 'x' END),
               ('wrong prefix', 'itx_' || substr(pg_temp.token('owner_rw'), 5)),
               ('too short', left(pg_temp.token('owner_rw'), 47)),
               ('expired', pg_temp.token('owner_expired')),
               ('revoked', pg_temp.token('owner_revoked')),
               ('deactivated user', pg_temp.token('newbie_rw')),
               ('empty', ''),
               ('garbage', 'not a token at all'),
               ('a JWT-looking string', 'eyJhbGciOiJIUzI1NiJ9.e30.c2ln')) AS bad (label, token);
SELECT is(error ->> 'sqlstate', 'PT401', format('a %s token is refused with PT401', label)) FROM refusals ORDER BY label;
SELECT is((SELECT count(DISTINCT error)::int FROM refusals), 1,
          'every refusal is the same error (message, detail, hint): nothing says which check failed');
SELECT is(intracker.current_user_id(), NULL, 'a refused token leaves no identity');
SELECT is(intracker.authenticate(pg_temp.token('editor_rw')), test_helpers.id('editor'), 'a good token after bad ones works');

-- the identity behaves like SET
SAVEPOINT before_switch;
SELECT intracker.authenticate(pg_temp.token('owner_rw'));
SELECT is(intracker.current_user_id(), test_helpers.id('owner'), 'authenticating again switches the identity');
ROLLBACK TO SAVEPOINT before_switch;
SELECT is(intracker.current_user_id(), test_helpers.id('editor'), 'ROLLBACK undoes authenticate');
SELECT is(intracker.authenticate(NULL), NULL, 'authenticate(NULL) returns NULL');
SELECT is(intracker.current_user_id(), NULL, '... and signs out');
SELECT intracker.authenticate(pg_temp.token('editor_rw'));
RESET ALL;
SELECT is(intracker.current_user_id(), NULL, 'RESET ALL drops the identity');
SELECT throws_ok($$SET intracker.acting_user = '00000000-0000-4000-8000-000000000001'$$, '42501', NULL,
                 'a user cannot set the acting user by hand');
SELECT throws_ok($$SET intracker.acting_credential = ''$$, '42501', NULL,
                 '... nor what it rests on');
SELECT intracker.authenticate(pg_temp.token('editor_rw'));
SELECT is((SELECT count(*)::int FROM intracker.todos WHERE project_id = test_helpers.id('p1')), 2,
          'an authenticated agent reads its projects');
SELECT ok((SELECT version FROM intracker.set_todo_status(test_helpers.id('t1'), 'in_progress', 1)) = 2,
          '... and writes');
RESET ROLE;
SELECT intracker.authenticate(NULL);

------------------------------------------------------------------------------
-- C. Read-only tokens: every write refused, whatever the path
------------------------------------------------------------------------------

SET ROLE tester_plain;
SELECT intracker.authenticate(pg_temp.token('owner_rw'));
SELECT ok(NOT intracker.identity_is_read_only(), 'identity_is_read_only(): false for a token that may write');
CREATE TEMP TABLE rw_reads AS
SELECT (SELECT count(*) FROM intracker.todos) AS todos, (SELECT count(*) FROM intracker.sessions) AS sessions,
       (SELECT count(*) FROM intracker.project_members) AS members,
       (intracker.team_context(test_helpers.id('p1')) - 'generated_at') AS team_context;
SELECT is(intracker.authenticate(pg_temp.token('owner_ro')), test_helpers.id('owner'), 'a read-only token authenticates its user');
SELECT is(current_setting('intracker.acting_credential'), 'token:' || pg_temp.token_id('owner_ro') || ':read-only',
          '... as read-only');
SELECT ok(intracker.identity_is_read_only(), '... which intracker.identity_is_read_only() says');
SELECT results_eq($$SELECT (SELECT count(*) FROM intracker.todos), (SELECT count(*) FROM intracker.sessions),
                           (SELECT count(*) FROM intracker.project_members),
                           (intracker.team_context(test_helpers.id('p1')) - 'generated_at')$$,
                  $$SELECT todos, sessions, members, team_context FROM rw_reads$$,
                  'a read-only token reads what its user reads (views, team_context)');
SELECT lives_ok($$SELECT intracker.resume_context(test_helpers.id('p1')), intracker.events_since(0, test_helpers.id('p1'))$$,
                '... resume_context and events_since too');
SELECT test_helpers.throws_detail(sql, '42501', 'read-only API token', 'read-only: ' || label)
  FROM (VALUES
    ('create_project', $$SELECT intracker.create_project('Nope')$$),
    ('update_project', format($$SELECT intracker.update_project(%L, '{"name": "x"}', 1)$$, test_helpers.id('p1'))),
    ('add_member', format($$SELECT intracker.add_member(%L, %L, 'viewer')$$, test_helpers.id('p1'), test_helpers.id('outsider'))),
    ('remove_member', format($$SELECT intracker.remove_member(%L, %L)$$, test_helpers.id('p1'), test_helpers.id('viewer'))),
    ('set_capacity', format($$SELECT intracker.set_capacity(%L, %L, 3)$$, test_helpers.id('p1'), test_helpers.id('editor'))),
    ('set_availability', format($$SELECT intracker.set_availability(%L, false)$$, test_helpers.id('p1'))),
    ('create_feature', format($$SELECT intracker.create_feature(%L, 'F')$$, test_helpers.id('p1'))),
    ('update_feature', format($$SELECT intracker.update_feature(%L, '{"title": "x"}', 1)$$, test_helpers.id('f1'))),
    ('assign_feature', format($$SELECT intracker.assign_feature(%L, %L)$$, test_helpers.id('f1'), test_helpers.id('editor'))),
    ('create_todo', format($$SELECT intracker.create_todo(%L, 'T')$$, test_helpers.id('p1'))),
    ('update_todo', format($$SELECT intracker.update_todo(%L, '{"title": "x"}', 1)$$, test_helpers.id('t2'))),
    ('set_todo_status', format($$SELECT intracker.set_todo_status(%L, 'done', 1)$$, test_helpers.id('t2'))),
    ('assign_todo', format($$SELECT intracker.assign_todo(%L)$$, test_helpers.id('t2'))),
    ('unassign_todo', format($$SELECT intracker.unassign_todo(%L)$$, test_helpers.id('t1'))),
    ('claim_next_todo', format($$SELECT intracker.claim_next_todo(%L)$$, test_helpers.id('p1'))),
    ('rebalance', format($$SELECT intracker.rebalance(%L, false)$$, test_helpers.id('p1'))),
    ('add_dependency', format($$SELECT intracker.add_dependency(%L, %L)$$, test_helpers.id('t2'), test_helpers.id('t1'))),
    ('start_session', format($$SELECT intracker.start_session(%L)$$, test_helpers.id('p2'))),
    ('end_session', format($$SELECT intracker.end_session(%L, 'done')$$, test_helpers.id('s1'))),
    ('create_webhook', format($$SELECT intracker.create_webhook(%L, 'https://example.com/other')$$, test_helpers.id('p1'))),
    ('set_webhook_active', format($$SELECT intracker.set_webhook_active(%L, false)$$, test_helpers.id('w1'))),
    ('delete_webhook', format($$SELECT intracker.delete_webhook(%L)$$, test_helpers.id('w1'))),
    ('redeliver', format($$SELECT intracker.redeliver(%L)$$, gen_random_uuid())),
    ('set_github_token', format($$SELECT intracker.set_github_token(%L, 'ghp_x')$$, test_helpers.id('p1'))),
    ('set_github_webhook_secret', format($$SELECT intracker.set_github_webhook_secret(%L, 'secret')$$, test_helpers.id('p1'))),
    ('link_github_issue', format($$SELECT intracker.link_github_issue(%L, 7)$$, test_helpers.id('t2'))),
    ('create_github_issue', format($$SELECT intracker.create_github_issue(%L)$$, test_helpers.id('t2'))),
    ('create_api_token', $$SELECT intracker.create_api_token('escalate')$$),
    ('revoke_api_token', format($$SELECT intracker.revoke_api_token(%L)$$, pg_temp.token_id('owner_rw'))),
    ('set_password', $$SELECT intracker.set_password('a long enough passphrase')$$),
    ('INSERT INTO intracker.projects', $$INSERT INTO intracker.projects (name) VALUES ('Nope')$$),
    ('UPDATE intracker.projects', $$UPDATE intracker.projects SET name = 'x'$$),
    ('DELETE FROM intracker.projects', $$DELETE FROM intracker.projects$$),
    ('INSERT INTO intracker.project_members', format($$INSERT INTO intracker.project_members (project_id, user_id, role) VALUES (%L, %L, 'viewer')$$, test_helpers.id('p1'), test_helpers.id('outsider'))),
    ('UPDATE intracker.project_members', $$UPDATE intracker.project_members SET role = 'viewer' WHERE role = 'editor'$$),
    ('DELETE FROM intracker.project_members', $$DELETE FROM intracker.project_members WHERE role = 'viewer'$$),
    ('INSERT INTO intracker.features', format($$INSERT INTO intracker.features (project_id, title) VALUES (%L, 'F')$$, test_helpers.id('p1'))),
    ('UPDATE intracker.features', $$UPDATE intracker.features SET title = 'x'$$),
    ('DELETE FROM intracker.features', $$DELETE FROM intracker.features$$),
    ('INSERT INTO intracker.todos', format($$INSERT INTO intracker.todos (project_id, title) VALUES (%L, 'T')$$, test_helpers.id('p1'))),
    ('UPDATE intracker.todos', $$UPDATE intracker.todos SET title = 'x'$$),
    ('DELETE FROM intracker.todos', $$DELETE FROM intracker.todos$$),
    ('INSERT INTO intracker.todo_dependencies', format($$INSERT INTO intracker.todo_dependencies (todo_id, blocked_by, project_id) VALUES (%L, %L, %L)$$, test_helpers.id('t2'), test_helpers.id('t1'), test_helpers.id('p1'))),
    ('DELETE FROM intracker.todo_dependencies', $$DELETE FROM intracker.todo_dependencies$$),
    ('INSERT INTO intracker.sessions', format($$INSERT INTO intracker.sessions (project_id, user_id) VALUES (%L, %L)$$, test_helpers.id('p1'), test_helpers.id('owner'))),
    ('UPDATE intracker.sessions', $$UPDATE intracker.sessions SET goal = 'x'$$),
    ('DELETE FROM intracker.sessions', $$DELETE FROM intracker.sessions$$),
    ('UPDATE intracker.users', $$UPDATE intracker.users SET name = 'x' WHERE id = intracker.current_user_id()$$)
  ) AS paths (label, sql);
SELECT is(test_helpers.version_of(test_helpers.id('t2')), 1, 'nothing was written: t2 is still at version 1');
SELECT is(intracker.authenticate(pg_temp.token('owner_rw')), test_helpers.id('owner'),
          'a read-only identity may sign in with another token');
SELECT lives_ok(format($$SELECT intracker.update_todo(%L, '{"title": "Written"}', 1)$$, test_helpers.id('t2')),
                '... which writes again');
RESET ROLE;
SELECT intracker.authenticate(pg_temp.token('owner_ro'));
SELECT test_helpers.throws_detail('SELECT intracker.requeue_dead_events()', '42501', 'read-only API token',
                                  'read-only: requeue_dead_events, even for a superuser acting with the token');
SELECT intracker.authenticate(NULL);

------------------------------------------------------------------------------
-- D. Passwords
------------------------------------------------------------------------------

SET ROLE tester_plain;
SELECT intracker.authenticate(pg_temp.token('owner_rw'));
SELECT throws_ok($$SELECT intracker.set_password('Sh0rt!pw')$$, '22023', 'password is too short', 'fewer than 12 characters: refused');
SELECT throws_ok($$SELECT intracker.set_password('abababababababab')$$, '22023', 'password is too simple', 'fewer than 5 different characters: refused');
SELECT throws_ok($$SELECT intracker.set_password('my name is OWNER, hello')$$, '22023', 'password contains the user''s email name',
                 'the email''s name in any case: refused');
SELECT throws_ok($$SELECT intracker.set_password(repeat('abcdefghij', 103))$$, '22023', 'password is too long', 'over 1024 bytes: refused');
SELECT throws_ok($$SELECT intracker.set_password(NULL)$$, '22023', 'password must not be null', 'NULL: refused');
SELECT is((SELECT error ->> 'message' || coalesce(error ->> 'detail', '') || coalesce(error ->> 'hint', '') LIKE '%Sh0rt%'
             FROM (SELECT test_helpers.error_of($$SELECT intracker.set_password('Sh0rt!pw')$$) AS error) e),
          false, 'the error does not repeat the password');
SELECT lives_ok($$SELECT intracker.set_password('correct horse battery staple')$$, 'a user sets their password');
SELECT throws_ok(format($$SELECT intracker.set_password('correct horse battery staple', %L)$$, test_helpers.id('editor')),
                 '42501', 'permission denied to set another user''s password', 'a user cannot set another user''s password');
RESET ROLE;
SELECT ok((SELECT secret ~ '^SCRAM-SHA-256\$4096:[^$]+\$[^:]+:.+$' AND position('horse' IN secret) = 0
             FROM intracker_data.user_passwords WHERE user_id = test_helpers.id('owner')),
          'the password is stored as a SCRAM-SHA-256 secret, 4096 iterations, not as itself');
SET ROLE tester_admin;
SELECT intracker.act_as(test_helpers.id('viewer'));
SELECT lives_ok(format($$SELECT intracker.set_password('viewer passphrase 42', %L)$$, test_helpers.id('editor')),
                'an admin sets another user''s password');
SELECT throws_ok(format($$SELECT intracker.set_password('viewer passphrase 42', %L)$$, gen_random_uuid()), 'PT404', NULL,
                 '... of a user who exists');
SELECT intracker.act_as(NULL);
RESET ROLE;

------------------------------------------------------------------------------
-- E. login and its JWT
------------------------------------------------------------------------------

SET LOCAL intracker.jwt_secret = 'a-test-secret-of-at-least-32-bytes!';
SET ROLE tester_plain;
CREATE TEMP TABLE logins AS SELECT intracker.login('OWNER@example.com', 'correct horse battery staple') AS answer;
CREATE FUNCTION pg_temp.b64url_decode(segment text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT convert_from(decode(rpad(translate(segment, '-_', '+/'), (length(segment) + 3) / 4 * 4, '='), 'base64'), 'UTF8')
$$;
CREATE FUNCTION pg_temp.b64url_encode(plain text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT rtrim(translate(encode(convert_to(plain, 'UTF8'), 'base64'), E'+/\n', '-_'), '=')
$$;
CREATE TEMP VIEW jwt AS
SELECT answer, answer ->> 'token' AS token,
       pg_temp.b64url_decode(split_part(answer ->> 'token', '.', 1))::jsonb AS header,
       pg_temp.b64url_decode(split_part(answer ->> 'token', '.', 2))::jsonb AS claims
  FROM logins;
GRANT SELECT ON logins, jwt TO PUBLIC;
SELECT set_eq($$SELECT jsonb_object_keys(answer) FROM jwt$$, ARRAY['token', 'expires_at', 'user_id'],
              'login answers token, expires_at and user_id');
SELECT is((SELECT (answer ->> 'user_id')::uuid FROM jwt), test_helpers.id('owner'), '... for the email''s user (any case)');
SELECT is((SELECT header FROM jwt), '{"alg": "HS256", "typ": "JWT"}'::jsonb, 'the JWT is HS256');
SELECT is((SELECT claims ->> 'sub' FROM jwt), test_helpers.id('owner')::text, 'its sub is the user id');
SELECT is((SELECT claims ->> 'role' FROM jwt), 'web_user', 'its role is intracker.jwt_role (default web_user)');
SELECT is((SELECT (claims ->> 'exp')::bigint - (claims ->> 'iat')::bigint FROM jwt), 3600::bigint,
          'it lives intracker.jwt_lifetime (default 1h)');
SELECT ok((SELECT abs((claims ->> 'iat')::bigint - extract(epoch FROM clock_timestamp())) < 60 FROM jwt), 'iat is now');
SELECT is((SELECT (answer ->> 'expires_at')::timestamptz FROM jwt), (SELECT to_timestamp((claims ->> 'exp')::bigint) FROM jwt),
          'expires_at is exp');
SELECT is(intracker.authenticate((SELECT token FROM jwt)), test_helpers.id('owner'), 'authenticate accepts the JWT');
SELECT ok(current_setting('intracker.acting_credential') = 'jwt:' || (SELECT claims ->> 'exp' FROM jwt),
          '... until its expiry');
SELECT intracker.authenticate(NULL);
SELECT is(error ->> 'sqlstate', 'PT401', 'a JWT with ' || label || ' is refused')
  FROM (SELECT label, test_helpers.error_of(format('SELECT intracker.authenticate(%L)', forged)) AS error
          FROM jwt, LATERAL (VALUES
            ('a changed payload', split_part(token, '.', 1) || '.' ||
                 pg_temp.b64url_encode(jsonb_set(claims, '{sub}', to_jsonb(test_helpers.id('editor')::text))::text) || '.' || split_part(token, '.', 3)),
            ('alg none', pg_temp.b64url_encode('{"alg":"none","typ":"JWT"}') || '.' || split_part(token, '.', 2) || '.'),
            ('alg HS512', pg_temp.b64url_encode('{"alg":"HS512","typ":"JWT"}') || '.' || split_part(token, '.', 2) || '.' || split_part(token, '.', 3)),
            ('no signature', split_part(token, '.', 1) || '.' || split_part(token, '.', 2) || '.'),
            ('a fourth segment', token || '.x'),
            ('padding', token || '=')) AS f (label, forged)) tries;
SELECT is(test_helpers.error_of($$SELECT intracker.login('owner@example.com', 'wrong password here')$$),
          test_helpers.error_of($$SELECT intracker.login('nobody@example.com', 'wrong password here')$$),
          'a wrong password and an unknown email give the same error');
SELECT is(test_helpers.error_of($$SELECT intracker.login('owner@example.com', 'wrong password here')$$) ->> 'sqlstate', 'PT401',
          '... PT401');
SELECT is(test_helpers.error_of($$SELECT intracker.login('editor@example.com', 'viewer passphrase 42')$$) ->> 'sqlstate', NULL,
          'the password an admin set works');
SELECT throws_ok($$SELECT intracker.login('viewer@example.com', '')$$, 'PT401', NULL, 'a user without a password cannot log in');
SELECT throws_ok($$SELECT intracker.login('owner@example.com', repeat('correct horse battery staple', 100))$$, 'PT401', NULL,
                 'a password over 1024 bytes fails without being hashed');
RESET ROLE;

-- PostgREST verifies the JWT itself and passes its claims: they identify the user
SET LOCAL SESSION AUTHORIZATION authenticator;
SET LOCAL ROLE web_user;
SELECT test_helpers.claims((SELECT claims::text FROM jwt));
SELECT is(intracker.current_user_id(), test_helpers.id('owner'), 'PostgREST''s claims of the JWT identify its user');
RESET ROLE;
RESET SESSION AUTHORIZATION;

SET LOCAL intracker.jwt_secret = '';
SET ROLE tester_plain;
SELECT throws_ok($$SELECT intracker.login('owner@example.com', 'correct horse battery staple')$$, '55000', NULL,
                 'without intracker.jwt_secret login is refused');
SELECT throws_ok(format('SELECT intracker.authenticate(%L)', (SELECT token FROM jwt)), 'PT401', NULL,
                 '... and no JWT is accepted');
RESET ROLE;

------------------------------------------------------------------------------
-- F. Settings
------------------------------------------------------------------------------

SELECT throws_ok($$SET intracker.jwt_secret = 'too short'$$, '22023', NULL, 'a jwt_secret under 32 bytes is refused');
SET ROLE tester_plain;
SELECT throws_ok($$SHOW intracker.jwt_secret$$, '42501', NULL, 'a user cannot read intracker.jwt_secret');
SELECT throws_ok($$SET intracker.jwt_secret = 'a-test-secret-of-at-least-32-bytes!'$$, '42501', NULL, '... nor set it');
SELECT throws_ok($$SET intracker.jwt_role = 'postgres'$$, '42501', NULL, '... nor jwt_role');
SELECT throws_ok($$SET intracker.jwt_lifetime = '1000h'$$, '42501', NULL, '... nor jwt_lifetime');
SELECT is_empty($$SELECT FROM pg_settings WHERE name = 'intracker.jwt_secret'$$, 'pg_settings does not show it to a user');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
