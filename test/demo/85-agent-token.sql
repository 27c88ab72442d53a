-- Demo section 8b: an agent proves who it is with an API token, over SQL and
-- over MCP (intracker-mcp), and a read-only token cannot write.
\ir lib/settings.psql

\echo
\echo '================================================================================'
\echo ' 8b. Agents: API tokens, read-only tokens, and the MCP server'
\echo '================================================================================'
\echo 'An admin gives the agent Claude a token (shown once; only its hash is stored):'
SELECT intracker.act_as(:'ada') AS acting \gset
SELECT token AS claude_token FROM intracker.create_api_token('claude on the CI box', user_id => :'claude') \gset
SELECT token AS reader_token FROM intracker.create_api_token('dashboard', read_only => true, user_id => :'claude') \gset
SELECT u.name AS owner, t.name, t.token_prefix, t.read_only
  FROM intracker.api_tokens t JOIN intracker.users u ON u.id = t.user_id ORDER BY t.name;
SELECT intracker.act_as(NULL) AS acting \gset

\echo
\echo 'Any client, no admin rights needed, signs in with it:'
\echo '  SELECT intracker.authenticate(''itk_...'');'
SELECT u.name AS now_acting_as FROM intracker.users u WHERE u.id = intracker.authenticate(:'claude_token');
SELECT count(*) AS claudes_open_todos FROM intracker.get_my_todos();

\echo
\echo 'With the read-only token it reads, and every write is refused:'
SELECT intracker.authenticate(:'reader_token') IS NOT NULL AS signed_in;
SELECT count(*) AS projects_seen FROM intracker.list_projects();
\set expected 42501
\set ON_ERROR_STOP 0
SELECT intracker.create_todo((SELECT id FROM intracker.projects WHERE name = 'intracker'), 'Sneaky write');
\set ON_ERROR_STOP 1
\ir lib/expect_error.psql
SELECT intracker.authenticate(NULL) AS signed_out;

\echo
\echo 'The same token for intracker-mcp, the MCP server an agent''s client starts (tools/list, then a call):'
\set mcp_url 'host=' :HOST ' port=' :PORT ' dbname=' :DBNAME ' user=' :USER
\setenv INTRACKER_DATABASE_URL :mcp_url
\setenv INTRACKER_TOKEN :claude_token
\! printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_projects","arguments":{}}}' | /usr/lib/postgresql/15/bin/intracker-mcp | cut -c1-150
\setenv INTRACKER_TOKEN
