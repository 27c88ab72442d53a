# 001_create_extension.pl — CREATE EXTENSION with and without
# shared_preload_libraries, restarts that change it, DROP + CREATE again.
#
# In every configuration the basic API is exercised as a non-superuser
# (tracker_admin, a member of intracker_admin): create_user, act_as,
# create_project, an update with the current version, a stale update (PT409
# through the function and through UPDATE on the view), the JWT identity path
# and PT401 without identity.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IntrackerTest;

# Runs the basic API checks on $db of $node; $label names the configuration
# in every assertion.
sub check_basic_api
{
	my ($node, $db, $label) = @_;
	my ($ret, $out, $err);

	(my $mail = "owner-$label\@example.com") =~ s/ /-/g;
	my $uid = safe_psql_as($node, $db, undef,
		"SELECT id FROM intracker.create_user('$mail', 'Owner $label')",
		via => 'none');
	like($uid, qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
		"$label: create_user returns the new user's id");

	is(safe_psql_as($node, $db, $uid, 'SELECT intracker.current_user_id()'),
		$uid, "$label: act_as() makes current_user_id() the user");
	is(safe_psql_as($node, $db, $uid, 'SELECT intracker.current_user_id()', via => 'jwt'),
		$uid, "$label: JWT claims on the authenticator connection identify the user");

	my ($project, $version) = split /\|/, safe_psql_as($node, $db, $uid,
		"SELECT id, version FROM intracker.create_project('Project $label')");
	is($version, 1, "$label: create_project returns version 1");
	is(safe_psql_as($node, $db, $uid,
			"SELECT role FROM intracker.project_members WHERE project_id = '$project'"),
		'owner', "$label: the creator is the project's only member, as owner");

	is(safe_psql_as($node, $db, $uid,
			"SELECT version FROM intracker.update_project('$project', '{\"name\": \"Renamed\"}', 1)"),
		2, "$label: update with the current version succeeds and returns version 2");

	($ret, $out, $err) = psql_as($node, $db, $uid,
		"SELECT version FROM intracker.update_project('$project', '{\"name\": \"Stale\"}', 1)");
	is_sqlstate($err, 'PT409', "$label: update_project with a stale version fails with PT409", $out);
	like($err, qr/HINT:\s+Re-read the row and retry/,
		"$label: the PT409 error tells the caller to re-read");

	($ret, $out, $err) = psql_as($node, $db, $uid,
		"UPDATE intracker.projects SET name = 'Stale too', version = 1 WHERE id = '$project'");
	is_sqlstate($err, 'PT409', "$label: UPDATE on the view with a stale version fails with PT409", $out);

	is(safe_psql_as($node, $db, $uid,
			"SELECT name || ' v' || version FROM intracker.projects WHERE id = '$project'"),
		'Renamed v2', "$label: the stale writes changed nothing");

	($ret, $out, $err) = psql_as($node, $db, undef,
		"SELECT intracker.create_project('Nobody''s')", via => 'none');
	is_sqlstate($err, 'PT401', "$label: create_project without an identity fails with PT401", $out);
	return;
}

# The GUC intracker.authenticator_role exists once the library is loaded; a
# fresh connection shows it only when the library is preloaded.
sub library_loaded_at_start
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(current_setting('intracker.authenticator_role', true), '(unset)')");
}

sub roles_state
{
	my ($node) = @_;
	return $node->safe_psql(
		'postgres', q{
SELECT string_agg(rolname || ':' || rolcanlogin, ',' ORDER BY rolname)
       || ' admin_in_user=' || pg_has_role('intracker_admin', 'intracker_user', 'MEMBER')
  FROM pg_roles WHERE rolname IN ('intracker_user', 'intracker_admin')});
}

#
# 1. A server that preloads the library.
#
my $pre = new_node('preloaded', preload => 1);
is($pre->safe_psql('postgres', 'SHOW shared_preload_libraries'),
	'intracker', 'preloaded: shared_preload_libraries is intracker');
is(library_loaded_at_start($pre), 'authenticator',
	'preloaded: intracker GUCs exist before CREATE EXTENSION');
install_extension($pre, 'tracker');
is($pre->safe_psql('tracker',
		"SELECT e.extversion = a.default_version FROM pg_extension e"
		  . " JOIN pg_available_extensions a ON a.name = e.extname WHERE e.extname = 'intracker'"),
	't', 'preloaded: CREATE EXTENSION installs the default version (0.1 plus the upgrade chain)');
create_test_roles($pre);
check_basic_api($pre, 'tracker', 'preloaded');

#
# 2. A server that does not preload it: the first function call loads it.
#
my $nopre = new_node('not_preloaded', preload => 0);
is($nopre->safe_psql('postgres', 'SHOW shared_preload_libraries'),
	'', 'not preloaded: shared_preload_libraries is empty');
is(library_loaded_at_start($nopre), '(unset)',
	'not preloaded: no intracker GUCs before the library is loaded');
install_extension($nopre, 'tracker');
is($nopre->safe_psql('tracker',
		"SELECT e.extversion = a.default_version FROM pg_extension e"
		  . " JOIN pg_available_extensions a ON a.name = e.extname WHERE e.extname = 'intracker'"),
	't', 'not preloaded: CREATE EXTENSION installs the default version (0.1 plus the upgrade chain)');
create_test_roles($nopre);
check_basic_api($nopre, 'tracker', 'not preloaded');

#
# 3. Changing shared_preload_libraries later: an installed extension keeps
#    working after a restart either way, and its data is still there.
#
my $count_projects = 'SELECT count(*) FROM intracker_data.projects';
my $before = $nopre->safe_psql('tracker', $count_projects);
$nopre->append_conf('postgresql.conf', "shared_preload_libraries = 'intracker'");
$nopre->restart;
is($nopre->safe_psql('postgres', 'SHOW shared_preload_libraries'),
	'intracker', 'restarted with preload: setting took effect');
is($nopre->safe_psql('tracker', $count_projects),
	$before, 'restarted with preload: projects survived the restart');
check_basic_api($nopre, 'tracker', 'restarted with preload');

$pre->append_conf('postgresql.conf', "shared_preload_libraries = ''");
$pre->restart;
is(library_loaded_at_start($pre), '(unset)',
	'restarted without preload: library no longer loaded at start');
check_basic_api($pre, 'tracker', 'restarted without preload');

#
# 4. DROP EXTENSION, then CREATE EXTENSION again while the roles exist.
#    Roles are cluster-wide, so they survive the drop; the script must
#    accept them and restore a membership that was revoked meanwhile.
#
$pre->safe_psql('tracker', 'DROP EXTENSION intracker');
is($pre->safe_psql('tracker',
		"SELECT count(*) FROM pg_namespace WHERE nspname IN ('intracker', 'intracker_data')"),
	0, 'DROP EXTENSION removes both schemas');
is(roles_state($pre),
	'intracker_admin:false,intracker_user:false admin_in_user=true',
	'after DROP EXTENSION the roles still exist (NOLOGIN)');

$pre->safe_psql('postgres', 'REVOKE intracker_user FROM intracker_admin');
is(roles_state($pre),
	'intracker_admin:false,intracker_user:false admin_in_user=false',
	'(setup) intracker_admin is no longer a member of intracker_user');
my ($ret, $out, $err) = $pre->psql('tracker', 'CREATE EXTENSION intracker');
is($ret, 0, 'CREATE EXTENSION again succeeds while the roles already exist')
  or diag("stderr: $err");
is(roles_state($pre),
	'intracker_admin:false,intracker_user:false admin_in_user=true',
	'after re-creation both roles exist and intracker_admin is again a member of intracker_user');
is($pre->safe_psql('postgres', "SELECT pg_has_role('tracker_admin', 'intracker_admin', 'MEMBER')"),
	't', 'members of intracker_admin kept their membership');
is($pre->safe_psql('tracker', 'SELECT count(*) FROM intracker_data.users'),
	0, 'the re-created extension starts empty');
check_basic_api($pre, 'tracker', 're-created');

# A second database of the same cluster: the roles exist from the first.
install_extension($pre, 'tracker2');
check_basic_api($pre, 'tracker2', 'second database');
is(roles_state($pre),
	'intracker_admin:false,intracker_user:false admin_in_user=true',
	'one pair of roles serves every database');

# The control file says superuser = true: a database owner cannot install it.
$pre->safe_psql('postgres', 'CREATE DATABASE owned_by_admin OWNER tracker_admin');
($ret, $out, $err) = $pre->psql('owned_by_admin', "\\set VERBOSITY verbose\nCREATE EXTENSION intracker",
	connstr => $pre->connstr('owned_by_admin') . ' user=tracker_admin');
is_sqlstate($err, '42501', 'a non-superuser cannot CREATE EXTENSION intracker', $out);

$pre->stop;
$nopre->stop;
done_testing();
