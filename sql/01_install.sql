--
-- Install the extension: what it owns, its roles, and creating users.
--
\set ECHO none
\i sql/fixture/setup.sql
\set ECHO all
-- The fixture (sql/fixture/setup.sql) installed the extension and its cast;
-- this file installs it from nothing and creates the users itself.
DROP EXTENSION intracker;
CREATE EXTENSION intracker;

-- What the extension owns, as a newcomer would list it.
SELECT pg_describe_object(classid, objid, 0) AS object
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'intracker')
   AND deptype = 'e'
   AND (pg_describe_object(classid, objid, 0) LIKE 'schema %'
        OR pg_describe_object(classid, objid, 0) LIKE 'view intracker.%'
        OR pg_describe_object(classid, objid, 0) LIKE 'function intracker.%')
 ORDER BY 1;

SELECT rolname, rolcanlogin, pg_has_role('intracker_admin', 'intracker_user', 'MEMBER') AS admin_is_user
  FROM pg_roles WHERE rolname IN ('intracker_user', 'intracker_admin') ORDER BY 1;

-- The team, with the fixed ids the fixture gives them (and its names for them).
SET ROLE regress_admin;
SELECT name, email, kind, is_active
  FROM intracker.create_user('ann@example.com', 'Ann', user_id => '00000000-0000-0000-0000-00000000000a');
SELECT name, kind FROM intracker.create_user('bot@example.com', 'Builder Bot', 'agent', 'builder-bot', '00000000-0000-0000-0000-00000000000b');
SELECT name FROM intracker.create_user('vic@example.com', 'Vic', user_id => '00000000-0000-0000-0000-00000000000c');
SELECT name FROM intracker.create_user('out@example.com', 'Outsider', user_id => '00000000-0000-0000-0000-00000000000d');

-- Users: email is unique whatever its case; bad input names the field.
SELECT * FROM regress.try($$SELECT intracker.create_user('ANN@example.com', 'Ann again')$$);
SELECT * FROM regress.try($$SELECT intracker.create_user('not-an-email', 'X')$$);
SELECT * FROM regress.try($$SELECT intracker.create_user('x@example.com', 'X', 'robot')$$);
SELECT * FROM regress.try($$SELECT intracker.create_user('x@example.com', '  ')$$);
RESET ROLE;
