-- test/pgtap/schema.sql — the shape of the installed extension.
--
-- Catalog checks that hold for every object, written as queries over the
-- catalogs ("find the objects that break the rule; expect none"), so that a
-- table, view or function added later without RLS, a comment, a pinned
-- search_path or a revoke fails here without anyone editing this file.
-- Runs as the superuser; nothing is created, everything is rolled back.

BEGIN;
SELECT plan(74);

------------------------------------------------------------------------------
-- Extension, schemas, roles, settings
------------------------------------------------------------------------------

SELECT has_extension('intracker', 'extension intracker is installed');
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'intracker'), '0.1',
          'intracker is at version 0.1');
SELECT has_schema('intracker', 'schema intracker (the API) exists');
SELECT has_schema('intracker_data', 'schema intracker_data (the storage) exists');
SELECT is_empty($$
    SELECT n.nspname FROM pg_namespace n
     WHERE n.nspname IN ('intracker', 'intracker_data')
       AND obj_description(n.oid, 'pg_namespace') IS NULL
$$, 'both schemas have a COMMENT');

SELECT has_role('intracker_user', 'role intracker_user exists');
SELECT has_role('intracker_admin', 'role intracker_admin exists');
SELECT is_member_of('intracker_user', ARRAY['intracker_admin'], 'intracker_admin is a member of intracker_user');
SELECT is_empty($$
    SELECT rolname FROM pg_roles
     WHERE rolname IN ('intracker_user', 'intracker_admin') AND (rolcanlogin OR rolsuper OR rolbypassrls)
$$, 'intracker_user and intracker_admin cannot log in, are not superusers and do not bypass RLS');

SELECT results_eq($$
    SELECT name, setting, context FROM pg_settings WHERE name LIKE 'intracker.%' ORDER BY name
$$, $$ VALUES ('intracker.acting_user', '', 'superuser'),
              ('intracker.authenticator_role', 'authenticator', 'superuser') $$,
  'the identity GUCs exist, with their defaults, and only superusers (or act_as) may set them');

------------------------------------------------------------------------------
-- Tables (schema intracker_data)
------------------------------------------------------------------------------

SELECT tables_are('intracker_data',
    ARRAY['users', 'projects', 'project_members', 'features', 'todos', 'todo_dependencies', 'sessions'],
    'intracker_data holds exactly the seven data tables');

-- Every table, present or future, has row-level security enabled.
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace = 'intracker_data'::regnamespace
       AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity
$$, 'every table in intracker_data has row-level security enabled');
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace = 'intracker_data'::regnamespace AND c.relkind IN ('r', 'p')
       AND NOT EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = c.oid AND p.polcmd IN ('r', '*'))
$$, 'every table in intracker_data has a SELECT policy (RLS without one would hide everything)');

-- The policy set of each table: what each command may do (the RLS suite tests their effect).
SELECT policies_are('intracker_data', 'users',
    ARRAY['users_select', 'users_update_self', 'users_insert_admin'], 'users: select, update self, admin insert');
SELECT policies_are('intracker_data', 'projects',
    ARRAY['projects_select', 'projects_update', 'projects_delete'], 'projects: select, update, delete (insert via create_project)');
SELECT policies_are('intracker_data', 'project_members',
    ARRAY['project_members_select', 'project_members_insert', 'project_members_update', 'project_members_delete'],
    'project_members: one policy per command');
SELECT policies_are('intracker_data', 'features',
    ARRAY['features_select', 'features_insert', 'features_update', 'features_delete'], 'features: one policy per command');
SELECT policies_are('intracker_data', 'todos',
    ARRAY['todos_select', 'todos_insert', 'todos_update', 'todos_delete'], 'todos: one policy per command');
SELECT policies_are('intracker_data', 'todo_dependencies',
    ARRAY['todo_dependencies_select', 'todo_dependencies_insert', 'todo_dependencies_delete'],
    'todo_dependencies: select, insert, delete (no update)');
SELECT policies_are('intracker_data', 'sessions',
    ARRAY['sessions_select', 'sessions_insert', 'sessions_update', 'sessions_delete'], 'sessions: one policy per command');
SELECT is_empty($$
    SELECT p.polname FROM pg_policy p
      JOIN pg_class c ON c.oid = p.polrelid
     WHERE c.relnamespace = 'intracker_data'::regnamespace AND NOT p.polpermissive
$$, 'no restrictive policies (the matrix in rls.sql assumes permissive ones)');

-- pg_dump keeps the rows of an extension table only if it is registered.
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace = 'intracker_data'::regnamespace AND c.relkind IN ('r', 'p')
       AND c.oid <> ALL (coalesce((SELECT e.extconfig FROM pg_extension e WHERE e.extname = 'intracker'), '{}'))
$$, 'every table in intracker_data is registered with pg_extension_config_dump');
SELECT is((SELECT array_length(extconfig, 1) = array_length(extcondition, 1)
                  AND '' = ALL (extcondition)
             FROM pg_extension WHERE extname = 'intracker'),
          true, 'pg_dump dumps all rows of every registered table (empty filter condition)');

-- Every foreign key is backed by an index whose leading columns are the
-- key's columns (in any order), so cascades and joins do not scan.  A
-- partial index does not count.
SELECT is_empty($$
    SELECT c.conrelid::regclass AS tbl, c.conname
      FROM pg_constraint c
     WHERE c.contype = 'f' AND c.connamespace = 'intracker_data'::regnamespace
       AND NOT EXISTS (
            SELECT FROM pg_index i
             WHERE i.indrelid = c.conrelid AND i.indpred IS NULL
               AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey)
$$, 'every foreign key in intracker_data has an index on its columns');
SELECT cmp_ok((SELECT count(*)::int FROM pg_constraint c
                WHERE c.contype = 'f' AND c.connamespace = 'intracker_data'::regnamespace),
              '>=', 15, 'the foreign-key index check above had foreign keys to look at');
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'project_id' AND NOT a.attisdropped
     WHERE c.relnamespace = 'intracker_data'::regnamespace AND c.relkind = 'r'
       AND NOT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.oid AND i.indpred IS NULL
                                              AND i.indkey[0] = a.attnum)
$$, 'every table with a project_id has an index leading with project_id (the hot path)');
SELECT has_index('intracker_data', 'users', 'users_email_key', 'users has an index on lower(email)');
SELECT is((SELECT indisunique AND pg_get_indexdef(indexrelid) LIKE '%lower(email)%'
             FROM pg_index WHERE indexrelid = 'intracker_data.users_email_key'::regclass),
          true, 'emails are unique regardless of case');
SELECT is((SELECT indisunique AND pg_get_expr(indpred, indrelid) LIKE '%ended_at IS NULL%'
             FROM pg_index WHERE indexrelid = 'intracker_data.sessions_one_open_per_user'::regclass),
          true, 'a partial unique index allows one open session per user and project');

-- Versioned tables carry the C row-version trigger.
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'version' AND NOT a.attisdropped
     WHERE c.relnamespace = 'intracker_data'::regnamespace AND c.relkind = 'r'
       AND NOT EXISTS (SELECT FROM pg_trigger t
                        WHERE t.tgrelid = c.oid AND t.tgfoid = 'intracker_data.row_version'::regproc
                          AND t.tgenabled = 'O')
$$, 'every table with a version column has the enabled row_version trigger');
SELECT set_eq($$
    SELECT c.relname::text COLLATE "default" FROM pg_class c
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'version' AND NOT a.attisdropped
     WHERE c.relnamespace = 'intracker_data'::regnamespace AND c.relkind = 'r'
$$, ARRAY['projects', 'features', 'todos'], 'projects, features and todos are versioned');
SELECT function_lang_is('intracker_data', 'row_version', '{}'::name[], 'c', 'the row-version trigger is written in C');
SELECT trigger_is('intracker_data', 'todos', 'todos_blocker_gate', 'intracker_data', 'todos_blocker_gate',
                  'todos have the dependency gate trigger');
SELECT trigger_is('intracker_data', 'todo_dependencies', 'todo_dependencies_no_cycle', 'intracker_data',
                  'todo_dependencies_no_cycle', 'todo_dependencies have the cycle check trigger');
SELECT trigger_is('intracker_data', 'project_members', 'project_members_keep_owner', 'intracker_data',
                  'project_keeps_an_owner', 'project_members have the last-owner trigger');

------------------------------------------------------------------------------
-- Views (schema intracker)
------------------------------------------------------------------------------

SELECT views_are('intracker',
    ARRAY['users', 'projects', 'project_members', 'features', 'todos', 'todo_dependencies', 'sessions', 'my_todos'],
    'intracker has exactly the eight API views');
SELECT is_empty($$
    SELECT c.relname, c.relkind FROM pg_class c
     WHERE c.relnamespace = 'intracker'::regnamespace AND c.relkind <> 'v'
$$, 'schema intracker contains no tables, sequences, indexes or other relations: only views');
SELECT is_empty($$
    SELECT t.typname FROM pg_type t
     WHERE t.typnamespace = 'intracker'::regnamespace
       AND NOT (t.typtype = 'c' AND EXISTS (SELECT FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'v'))
       AND NOT (t.typcategory = 'A' AND EXISTS (SELECT FROM pg_type e JOIN pg_class c ON c.oid = e.typrelid
                                                 WHERE e.oid = t.typelem AND c.relkind = 'v'))
$$, 'schema intracker defines no types of its own (only the row types of its views)');
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace = 'intracker'::regnamespace AND c.relkind = 'v'
       AND NOT coalesce('security_invoker=true' = ANY (c.reloptions)
                        OR 'security_invoker=on' = ANY (c.reloptions), false)
$$, 'every view in intracker is security_invoker, so RLS applies to the caller');
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace = 'intracker'::regnamespace AND c.relkind = 'v'
       AND obj_description(c.oid, 'pg_class') IS NULL
$$, 'every view in intracker has a COMMENT (the OpenAPI description)');

-- Auto-updatable views: PostgREST POST/PATCH/DELETE work on them.
SELECT is_empty($$
    SELECT table_name FROM information_schema.views
     WHERE table_schema = 'intracker' AND (is_updatable <> 'YES' OR is_insertable_into <> 'YES')
$$, 'every view in intracker is updatable, deletable and insertable');
SELECT is((SELECT is_trigger_insertable_into FROM information_schema.views
            WHERE table_schema = 'intracker' AND table_name = 'projects'),
          'YES', 'INSERT into intracker.projects goes through an INSTEAD OF trigger (create_project)');
SELECT trigger_is('intracker', 'projects', 'projects_insert', 'intracker_data', 'projects_view_insert',
                  'intracker.projects INSERT trigger calls projects_view_insert');
SELECT set_eq($$
    SELECT column_name::text COLLATE "default" FROM information_schema.columns
     WHERE table_schema = 'intracker' AND table_name = 'features' AND is_updatable = 'NO'
$$, ARRAY['todos_total', 'todos_done', 'progress'], 'only the computed progress columns of intracker.features are read-only');
SELECT is_empty($$
    SELECT table_name, column_name FROM information_schema.columns
     WHERE table_schema = 'intracker' AND table_name <> 'features' AND is_updatable = 'NO'
$$, 'every column of the other views maps to a table column (updatable, embeddable)');
SELECT is_empty($$
    SELECT table_name FROM information_schema.columns
     WHERE table_schema = 'intracker' AND table_name IN ('projects', 'features', 'todos', 'my_todos')
     GROUP BY table_name
    HAVING NOT bool_or(column_name = 'version' AND is_updatable = 'YES')
$$, 'the views of versioned tables expose an updatable version column (SET version = n)');

SELECT columns_are('intracker', 'users',
    ARRAY['id', 'email', 'name', 'github_username', 'avatar_url', 'kind', 'is_active', 'last_login_at',
          'created_at', 'updated_at'], 'intracker.users has the columns of the data model');
SELECT columns_are('intracker', 'projects',
    ARRAY['id', 'name', 'description', 'status', 'tags', 'github_repo', 'resume_context', 'created_by',
          'created_at', 'updated_at', 'version'], 'intracker.projects has the columns of the data model');
SELECT columns_are('intracker', 'project_members',
    ARRAY['project_id', 'user_id', 'role', 'created_at'], 'intracker.project_members has the columns of the data model');
SELECT has_column('intracker', 'features', 'progress', 'intracker.features has a computed progress');
SELECT columns_are('intracker', 'sessions',
    ARRAY['id', 'project_id', 'user_id', 'started_at', 'ended_at', 'goal', 'summary', 'next_steps',
          'blockers', 'todo_ids'], 'intracker.sessions has the columns of the data model');
SELECT is_empty($$
    SELECT a.attname FROM pg_attribute a
     WHERE a.attrelid = 'intracker_data.todos'::regclass AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname NOT IN (SELECT column_name FROM information_schema.columns
                              WHERE table_schema = 'intracker' AND table_name = 'todos')
$$, 'intracker.todos exposes every column of intracker_data.todos');

------------------------------------------------------------------------------
-- Functions
------------------------------------------------------------------------------

SELECT functions_are('intracker',
    ARRAY['current_user_id', 'act_as', 'create_user', 'create_project', 'update_project', 'add_member',
          'remove_member', 'create_feature', 'update_feature', 'create_todo', 'update_todo',
          'set_todo_status', 'add_dependency', 'remove_dependency', 'start_session', 'end_session'],
    'intracker has exactly the API functions');

-- The contract of the issue: names, parameter names, return types.
SELECT results_eq($$
    SELECT p.proname::text COLLATE "default", pg_get_function_identity_arguments(p.oid), p.prorettype::regtype::text
      FROM pg_proc p WHERE p.pronamespace = 'intracker'::regnamespace
       AND p.proname IN ('create_user', 'create_project', 'add_member', 'remove_member', 'create_feature',
                         'create_todo', 'update_todo', 'update_feature', 'set_todo_status', 'add_dependency',
                         'remove_dependency', 'start_session', 'end_session', 'current_user_id', 'act_as')
     ORDER BY 1
$$, $$ VALUES
    ('act_as', 'user_id uuid', 'uuid'),
    ('add_dependency', 'todo_id uuid, blocked_by uuid', 'intracker.todo_dependencies'),
    ('add_member', 'project_id uuid, user_id uuid, role text', 'intracker.project_members'),
    ('create_feature', 'project_id uuid, title text, description text, priority text, assigned_to uuid, status text', 'intracker.features'),
    ('create_project', 'name text, description text, github_repo text, tags text[], resume_context jsonb, status text', 'intracker.projects'),
    ('create_todo', 'project_id uuid, title text, feature_id uuid, description text, priority text, estimate integer, tags text[], due_date date, assigned_to uuid, status text', 'intracker.todos'),
    ('create_user', 'email text, name text, kind text, github_username text, user_id uuid', 'intracker.users'),
    ('current_user_id', '', 'uuid'),
    ('end_session', 'session_id uuid, summary text, next_steps text[], blockers text[], todo_ids uuid[]', 'intracker.sessions'),
    ('remove_dependency', 'todo_id uuid, blocked_by uuid', 'intracker.todo_dependencies'),
    ('remove_member', 'project_id uuid, user_id uuid', 'intracker.project_members'),
    ('set_todo_status', 'todo_id uuid, status text, expected_version integer', 'intracker.todos'),
    ('start_session', 'project_id uuid, goal text', 'intracker.sessions'),
    ('update_feature', 'feature_id uuid, changes jsonb, expected_version integer', 'intracker.features'),
    ('update_todo', 'todo_id uuid, changes jsonb, expected_version integer', 'intracker.todos')
$$, 'API functions have the names, parameter names and (view) return types of the contract');
SELECT results_eq($$
    SELECT p.proname::text COLLATE "default", (p.pronargs - p.pronargdefaults)::int
      FROM pg_proc p WHERE p.pronamespace = 'intracker'::regnamespace
       AND p.proname IN ('create_user', 'create_project', 'create_feature', 'create_todo', 'start_session', 'end_session')
     ORDER BY 1
$$, $$ VALUES ('create_feature', 2), ('create_project', 1), ('create_todo', 2),
              ('create_user', 2), ('end_session', 2), ('start_session', 1) $$,
  'optional parameters have DEFAULTs (only the leading required ones do not)');
SELECT is_empty($$
    SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'intracker'::regnamespace
     GROUP BY p.proname HAVING count(*) > 1
$$, 'no overloaded API functions');
SELECT is_empty($$
    SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'intracker'::regnamespace AND p.pronargs > 0
       AND (p.proargnames IS NULL OR '' = ANY (p.proargnames[1:p.pronargs]))
$$, 'every parameter of every API function is named');
SELECT is_empty($$
    SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'intracker'::regnamespace
       AND p.provolatile <> CASE WHEN p.proname = 'current_user_id' THEN 's' ELSE 'v' END
$$, 'current_user_id is STABLE and every write function is VOLATILE');

SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
     WHERE p.pronamespace IN ('intracker'::regnamespace, 'intracker_data'::regnamespace)
       AND obj_description(p.oid, 'pg_proc') IS NULL
$$, 'every function in intracker and intracker_data has a COMMENT');
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
     WHERE p.pronamespace IN ('intracker'::regnamespace, 'intracker_data'::regnamespace)
       AND p.prosecdef
       AND NOT EXISTS (SELECT FROM unnest(p.proconfig) AS c WHERE c LIKE 'search\_path=%')
$$, 'every SECURITY DEFINER function pins search_path');
-- pg_temp is searched first unless it is listed explicitly, and a schema
-- anyone can create objects in must not be on the path at all.
SELECT is_empty($$
    SELECT p.oid::regprocedure, c FROM pg_proc p, unnest(p.proconfig) AS c
     WHERE p.pronamespace IN ('intracker'::regnamespace, 'intracker_data'::regnamespace)
       AND c LIKE 'search\_path=%'
       AND NOT (c = 'search_path=""' OR c = 'search_path=' OR c ~ 'pg_temp"?$')
$$, 'every pinned search_path is empty or ends with pg_temp');
SELECT is_empty($$
    SELECT p.oid::regprocedure, c FROM pg_proc p, unnest(p.proconfig) AS c
     WHERE p.pronamespace IN ('intracker'::regnamespace, 'intracker_data'::regnamespace)
       AND c ~ '^search_path=.*\m(public|"\$user"|\$user)\M'
$$, 'no pinned search_path includes public or $user');
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
      JOIN pg_language l ON l.oid = p.prolang
     WHERE p.pronamespace IN ('intracker'::regnamespace, 'intracker_data'::regnamespace)
       AND l.lanname <> 'c'
       AND NOT EXISTS (SELECT FROM unnest(p.proconfig) AS c WHERE c LIKE 'search\_path=%')
$$, 'every SQL and PL/pgSQL function pins search_path (house style: schema-qualify, pin the path)');
SELECT set_eq($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
     WHERE p.pronamespace IN ('intracker'::regnamespace, 'intracker_data'::regnamespace) AND p.prosecdef
$$, ARRAY['intracker.create_project(text,text,text,text[],jsonb,text)',
          'intracker_data.my_project_ids(text)', 'intracker_data.my_role(uuid)',
          'intracker_data.visible_user_ids()', 'intracker_data.user_is_active(uuid)',
          'intracker_data.project_keeps_an_owner()'],
  'exactly the reviewed functions are SECURITY DEFINER');

------------------------------------------------------------------------------
-- Privileges
------------------------------------------------------------------------------

SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
     WHERE p.pronamespace IN ('intracker'::regnamespace, 'intracker_data'::regnamespace)
       AND EXISTS (SELECT FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                    WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
$$, 'no function in intracker or intracker_data is executable by PUBLIC');
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
     WHERE p.pronamespace = 'intracker'::regnamespace
       AND NOT has_function_privilege('intracker_user', p.oid, 'EXECUTE')
$$, 'intracker_user may execute every API function');
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace IN ('intracker'::regnamespace, 'intracker_data'::regnamespace)
       AND EXISTS (SELECT FROM aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a WHERE a.grantee = 0)
$$, 'no table or view in intracker or intracker_data grants anything to PUBLIC');
SELECT is_empty($$
    SELECT n.nspname FROM pg_namespace n
     WHERE n.nspname IN ('intracker', 'intracker_data')
       AND EXISTS (SELECT FROM aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a WHERE a.grantee = 0)
$$, 'PUBLIC has no privileges on the schemas intracker and intracker_data');
SELECT ok(NOT has_schema_privilege('tester_nobody', 'intracker', 'USAGE')
          AND NOT has_function_privilege('tester_nobody', 'intracker.current_user_id()', 'EXECUTE')
          AND NOT has_table_privilege('tester_nobody', 'intracker.todos', 'SELECT'),
          'a role outside intracker_user can use nothing of the API');
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace = 'intracker'::regnamespace AND c.relkind = 'v'
       AND NOT has_table_privilege('intracker_user', c.oid, 'SELECT')
$$, 'intracker_user may read every API view');
SELECT ok(NOT has_table_privilege('intracker_user', 'intracker.users', 'INSERT')
          AND NOT has_table_privilege('intracker_user', 'intracker.users', 'DELETE')
          AND NOT has_table_privilege('intracker_user', 'intracker_data.users', 'DELETE'),
          'intracker_user can neither insert nor delete users');
SELECT ok(NOT has_table_privilege('intracker_user', 'intracker.todo_dependencies', 'UPDATE'),
          'dependencies are added and removed, never updated');
-- Columns intracker sets itself are not writable by API users.
SELECT is_empty($$
    SELECT c.relname, a.attname FROM pg_class c
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE c.relnamespace IN ('intracker'::regnamespace, 'intracker_data'::regnamespace)
       AND a.attname IN ('created_by', 'created_at', 'updated_at', 'completed_at', 'completed_by', 'is_active',
                         'email', 'user_id', 'started_at')
       AND has_column_privilege('intracker_user', c.oid, a.attnum, 'UPDATE')
$$, 'intracker_user cannot UPDATE bookkeeping columns (created_*, updated_at, completed_*, is_active, email, owner ids)');
SELECT is_empty($$
    SELECT c.relname, a.attname FROM pg_class c
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE c.relnamespace IN ('intracker'::regnamespace, 'intracker_data'::regnamespace)
       AND a.attname IN ('created_by', 'created_at', 'updated_at', 'completed_at', 'completed_by', 'version')
       AND has_column_privilege('intracker_user', c.oid, a.attnum, 'INSERT')
       -- INSERT on this view goes through an INSTEAD OF trigger that decides
       -- itself (errors.sql checks that it refuses version and created_by).
       AND c.oid <> 'intracker.projects'::regclass
$$, 'intracker_user cannot INSERT bookkeeping columns (created_*, updated_at, completed_*, version)');

SELECT * FROM finish();
ROLLBACK;
