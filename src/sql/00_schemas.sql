-- intracker: the install script of the current version, built by the Makefile
-- by concatenating src/sql/*.sql in name order (this file first).  Each file
-- holds one concern's current definitions: its tables, triggers, policies,
-- views, functions, comments and privileges.  Existing installations update
-- through the chain in src/upgrade/ instead; a TAP test checks that both
-- give the same catalog.
--
-- Layout: tables live in the private schema intracker_data; the schema
-- intracker holds only the API (security_invoker views and functions) that
-- psql users, any client and PostgREST (db-schemas = intracker) use.
--
-- Roles: intracker_user is granted to every role that uses the API (the
-- PostgREST authenticated role, application roles); intracker_admin may
-- create users and act as any user (scripts, tests, the demo).  Neither role
-- can log in; the README shows how a deployment wires them up.

\echo Use "CREATE EXTENSION intracker" to load this file. \quit

-- Roles are cluster-wide and outlive the extension; create them only if an
-- earlier installation (in this or another database) has not.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'intracker_user') THEN
        CREATE ROLE intracker_user NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'intracker_admin') THEN
        CREATE ROLE intracker_admin NOLOGIN;
    END IF;
    IF NOT pg_catalog.pg_has_role('intracker_admin', 'intracker_user', 'MEMBER') THEN
        GRANT intracker_user TO intracker_admin;
    END IF;
END
$roles$;

CREATE SCHEMA intracker;
COMMENT ON SCHEMA intracker IS
    'intracker API: views and functions for projects, features, todos and work sessions. Expose it with PostgREST (db-schemas = intracker).';
CREATE SCHEMA intracker_data;
COMMENT ON SCHEMA intracker_data IS
    'intracker private storage: tables and internal helpers. Use the views and functions of schema intracker instead.';

REVOKE ALL ON SCHEMA intracker, intracker_data FROM PUBLIC;
GRANT USAGE ON SCHEMA intracker TO intracker_user;
-- The API functions run as their caller (SECURITY INVOKER), so the caller
-- needs the private schema too; row-level security guards every table.
GRANT USAGE ON SCHEMA intracker_data TO intracker_user;
