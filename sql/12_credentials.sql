--
-- Credentials: API tokens, authenticate, read-only tokens, passwords and
-- login, through their whole C paths (the valgrind phase runs this file
-- too).  The rules in depth: test/pgtap/credentials.sql and
-- test/t/024_credentials.pl.  Tokens are random: only their shape shows.
--
\set ECHO none
\i sql/fixture/setup.sql
\set ECHO all
-- Ann makes a token for herself, the admin one for the agent, read-only.
SET ROLE regress_admin;
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting;
SELECT token AS ann_token FROM intracker.create_api_token('laptop') \gset
SELECT token AS bot_token FROM intracker.create_api_token('bot reader', read_only => true,
                                                          user_id => '00000000-0000-0000-0000-00000000000b') \gset
SELECT :'ann_token' ~ '^itk_[0-9A-Za-z]{44}$' AS token_shape;
SELECT name, regress.named(user_id::text) AS owner, length(token_prefix) AS prefix_length, read_only
  FROM intracker.api_tokens ORDER BY name;
SELECT intracker.act_as(NULL) IS NULL AS stopped;
RESET ROLE;

-- A plain user role proves who it is with the token.
SET ROLE regress_plain;
SELECT regress.named(intracker.authenticate(:'ann_token')::text) AS authenticated_as;
SELECT name FROM intracker.projects;
SELECT * FROM regress.try($$SELECT intracker.authenticate('itk_' || repeat('x', 44))$$);
SELECT * FROM regress.try($$SELECT intracker.authenticate('')$$);
SELECT regress.named(intracker.current_user_id()::text) AS still;

-- The agent's read-only token reads, and writes nothing.
SELECT regress.named(intracker.authenticate(:'bot_token')::text) AS authenticated_as;
SELECT current_setting('intracker.acting_credential') LIKE 'token:%:read-only' AS read_only_identity;
SELECT count(*) AS projects_seen FROM intracker.projects;
SELECT * FROM regress.try($$SELECT intracker.create_todo((SELECT id FROM intracker.projects), 'Nope')$$);
SELECT * FROM regress.try($$UPDATE intracker.projects SET name = 'Nope'$$);
SELECT * FROM regress.try($$SELECT intracker.create_api_token('escalate')$$);
SELECT intracker.authenticate(NULL) IS NULL AS signed_out;

-- Ann sets a password (the rules first) and logs in.
SELECT intracker.authenticate(:'ann_token') IS NOT NULL AS authenticated;
SELECT * FROM regress.try($$SELECT intracker.set_password('short')$$);
SELECT * FROM regress.try($$SELECT intracker.set_password('ann is my name really')$$);
SELECT intracker.set_password('correct horse battery staple');
RESET ROLE;
SET intracker.jwt_secret = 'the regression tests'' secret, 32 bytes or more';
SET ROLE regress_plain;
SELECT intracker.login('ANN@example.com', 'correct horse battery staple') AS answer \gset
SELECT regress.named(:'answer'::jsonb ->> 'user_id') AS logged_in, regress.mask(:'answer'::jsonb - 'token') AS rest,
       array_length(string_to_array(:'answer'::jsonb ->> 'token', '.'), 1) AS jwt_segments;
SELECT intracker.authenticate(NULL) IS NULL AS signed_out;
SELECT regress.named(intracker.authenticate(:'answer'::jsonb ->> 'token')::text) AS authenticated_by_jwt;
SELECT * FROM regress.try($$SELECT intracker.login('ann@example.com', 'wrong horse battery staple')$$);
SELECT * FROM regress.try($$SELECT intracker.login('nobody@example.com', 'wrong horse battery staple')$$);
SELECT * FROM regress.try(format('SELECT intracker.authenticate(%L)', (:'answer'::jsonb ->> 'token') || 'x'));
RESET ROLE;
RESET intracker.jwt_secret;

-- Revoked: refused at once.
SET ROLE regress_plain;
SELECT intracker.authenticate(:'ann_token') IS NOT NULL AS authenticated;
SELECT count(intracker.revoke_api_token(id)) AS revoked FROM intracker.api_tokens WHERE name = 'laptop';
SELECT intracker.authenticate(NULL) IS NULL AS signed_out;
SELECT * FROM regress.try(format('SELECT intracker.authenticate(%L)', :'ann_token'));
RESET ROLE;
