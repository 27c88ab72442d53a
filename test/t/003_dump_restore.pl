# 003_dump_restore.pl — pg_dump -Fc / pg_restore round-trips every row.
#
# The extension's tables are extension members, so pg_dump dumps their rows
# only because the install script registers them with
# pg_extension_config_dump().  This test builds a sample team (users of both
# kinds, two projects, owners/editors/viewers, features, todos in every
# status, dependencies, ended and open sessions, a resume_context with
# unicode, quotes and backslashes), dumps the database, restores it into a
# fresh database and requires every table to come back identical: same rows,
# same versions, same timestamps, no row added (e.g. an owner membership) or
# changed (e.g. completed_at) by a trigger during the restore.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IntrackerTest;

my $node = new_node('dump');
install_extension($node, 'source');
create_test_roles($node);
my $t = sample_team($node, 'source');

# Columns no API function sets, written by an administrator.
$node->safe_psql('source', qq{
UPDATE intracker_data.users SET is_active = false WHERE id = '$t->{dave}';
UPDATE intracker_data.users SET avatar_url = 'https://example.com/a.png',
                                last_login_at = '2026-01-02 03:04:05.678901+00'
 WHERE id = '$t->{alice}';
});

#
# The sample must cover what the round trip is about, or the comparison
# below proves little.
#
my %coverage = (
	'todo statuses' => [
		'SELECT string_agg(DISTINCT status, \',\' ORDER BY status) FROM intracker_data.todos',
		'blocked,cancelled,done,in_progress,review,todo'
	],
	'member roles' => [
		'SELECT string_agg(DISTINCT role, \',\' ORDER BY role) FROM intracker_data.project_members',
		'editor,owner,viewer'
	],
	'user kinds and activity' => [
		"SELECT string_agg(DISTINCT kind || '/' || is_active, ',' ORDER BY kind || '/' || is_active) FROM intracker_data.users",
		'agent/true,human/false,human/true'
	],
	'versions above 1 in every versioned table' => [
		"SELECT (SELECT max(version) > 1 FROM intracker_data.projects)
		    AND (SELECT max(version) > 1 FROM intracker_data.features)
		    AND (SELECT max(version) > 1 FROM intracker_data.todos)",
		't'
	],
	'done todos with completed_at and completed_by' => [
		"SELECT count(*) FROM intracker_data.todos WHERE status = 'done' AND completed_at IS NOT NULL AND completed_by IS NOT NULL",
		'2'
	],
	'a done feature with completed_at and completed_by' => [
		"SELECT count(*) FROM intracker_data.features WHERE status = 'done' AND completed_at IS NOT NULL AND completed_by IS NOT NULL",
		'1'
	],
	'dependencies' => [ 'SELECT count(*) FROM intracker_data.todo_dependencies', '3' ],
	'ended and open sessions' => [
		'SELECT count(*) FILTER (WHERE ended_at IS NOT NULL) || \' ended, \' || count(*) FILTER (WHERE ended_at IS NULL) || \' open\' FROM intracker_data.sessions',
		'2 ended, 1 open'
	],
	'resume_context stored as given' => [
		"SELECT resume_context = " . q_lit($t->{resume_context}) . "::jsonb FROM intracker_data.projects WHERE id = '$t->{apollo}'",
		't'
	],);
for my $what (sort keys %coverage)
{
	my ($sql, $expected) = @{ $coverage{$what} };
	is($node->safe_psql('source', $sql), $expected, "sample covers $what");
}

# Every table of intracker_data must be registered for dumping.
# Tables of user data must be dumped; derived data (counters the triggers
# rebuild while pg_restore inserts the rows) must not be, or restored
# counters would count twice.  The table comments say which is which.
my @tables = split /\n/, $node->safe_psql(
	'source', q{
SELECT c.relname FROM pg_class c
 WHERE c.relnamespace = 'intracker_data'::regnamespace AND c.relkind IN ('r', 'p')
   AND coalesce(obj_description(c.oid, 'pg_class'), '') NOT LIKE '%derived data, not dumped%'
 ORDER BY 1});
my $registered = $node->safe_psql(
	'source', q{
SELECT string_agg(c.relname, ',' ORDER BY c.relname)
  FROM pg_extension e, unnest(e.extconfig) AS cfg(oid) JOIN pg_class c ON c.oid = cfg.oid
 WHERE e.extname = 'intracker' AND c.relkind IN ('r', 'p')});
is($registered, join(',', @tables),
	'every table in intracker_data is registered with pg_extension_config_dump');
# 0.5: the sequences that number dumped rows go with them, or the next
# insert after a restore would collide with a restored row.
is($node->safe_psql('source', q{
SELECT string_agg(c.relname, ',' ORDER BY c.relname)
  FROM pg_extension e, unnest(e.extconfig) AS cfg(oid) JOIN pg_class c ON c.oid = cfg.oid
 WHERE e.extname = 'intracker' AND c.relkind = 'S'}),
	'delivery_position_seq,github_inbound_id_seq',
	'the sequences of the dumped webhook tables are registered too');
cmp_ok(scalar(@tables), '>=', 7, 'found the extension\'s tables (' . join(', ', @tables) . ')');

#
# Dump and restore.
#
# Publish the events the sample wrote (no publisher serves this database, so
# reading publishes them), so that the dump holds a non-empty event log.
cmp_ok($node->safe_psql('source', 'SELECT count(*) FROM intracker.events_since(0, max_events => 10000)'),
	'>', 0, 'the sample\'s events are published before the dump');
my $dump = PostgreSQL::Test::Utils::tempdir() . '/source.dump';
$node->command_checks_all(
	[ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('source') ],
	0, [qr/\A\z/], [qr/\A\z/], 'pg_dump -Fc');

my $toc = `pg_restore -l '$dump'`;
for my $table (@tables)
{
	like($toc, qr/TABLE DATA intracker_data $table /m,
		"the dump contains the rows of intracker_data.$table");
}

$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_checks_all(
	[ 'pg_restore', '-d', $node->connstr('restored'), $dump ],
	0, [qr/\A\z/], [qr/\A\z/], 'pg_restore into a fresh database');

#
# Compare every table, row by row.
#
sub rows
{
	my ($db, $table) = @_;
	return split /\n/, $node->safe_psql($db,
		"SELECT t::text FROM intracker_data.$table t ORDER BY 1");
}

for my $table (@tables)
{
	my $summary =
	  "SELECT count(*) || ' rows, md5 ' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '-')"
	  . " FROM intracker_data.$table t";
	my $src = $node->safe_psql('source',   $summary);
	my $dst = $node->safe_psql('restored', $summary);
	next if is($dst, $src, "intracker_data.$table: restored contents identical ($src)");

	# Show which rows differ.
	my %in_src = map { $_ => 1 } rows('source', $table);
	my %in_dst = map { $_ => 1 } rows('restored', $table);
	my @lost  = grep { !$in_dst{$_} } sort keys %in_src;
	my @added = grep { !$in_src{$_} } sort keys %in_dst;
	diag("intracker_data.$table: only in source (" . scalar(@lost) . "):\n  "
		  . join("\n  ", @lost[ 0 .. ($#lost < 9 ? $#lost : 9) ]));
	diag("intracker_data.$table: only in restored (" . scalar(@added) . "):\n  "
		  . join("\n  ", @added[ 0 .. ($#added < 9 ? $#added : 9) ]));
}

# The same facts stated directly, so a failure says what went wrong.
for my $table ('projects', 'features', 'todos')
{
	my $versions = "SELECT string_agg(id || '=v' || version, ', ' ORDER BY id) FROM intracker_data.$table";
	is($node->safe_psql('restored', $versions),
		$node->safe_psql('source', $versions),
		"intracker_data.$table: every version unchanged by the restore");
}
for my $table ('features', 'todos')
{
	my $completion =
	  "SELECT string_agg(id || ' at ' || coalesce(completed_at::text, '-') || ' by ' || coalesce(completed_by::text, '-'), ', ' ORDER BY id)"
	  . " FROM intracker_data.$table WHERE status = 'done'";
	is($node->safe_psql('restored', $completion),
		$node->safe_psql('source', $completion),
		"done $table keep their completed_at and completed_by");
}
# 0.4: the published event log is restored as it was (compared above); the
# outbox is not dumped, and the restore queued exactly one creation event per
# restored row of the tables teams follow (counter bookkeeping is no event).
my $created = q{
SELECT string_agg(kind || '=' || n, ', ' ORDER BY kind) FROM (
    SELECT type AS kind, count(*) AS n FROM intracker_data.outbox GROUP BY type) x};
my $rows = q{
SELECT string_agg(kind || '=' || n, ', ' ORDER BY kind) FROM (VALUES
    ('dependency.added', (SELECT count(*) FROM intracker_data.todo_dependencies)),
    ('feature.created', (SELECT count(*) FROM intracker_data.features)),
    ('member.added', (SELECT count(*) FROM intracker_data.project_members)),
    ('project.created', (SELECT count(*) FROM intracker_data.projects)),
    ('session.started', (SELECT count(*) FROM intracker_data.sessions)),
    ('todo.created', (SELECT count(*) FROM intracker_data.todos))) v (kind, n) WHERE n > 0};
is($node->safe_psql('restored', $created), $node->safe_psql('restored', $rows),
	'the restore queued one creation event per restored row, and no other event');
like($toc, qr/TABLE DATA intracker_data events /m, 'the dump contains the published event log');
unlike($toc, qr/TABLE DATA intracker_data outbox /m, 'the dump leaves the outbox out');

my $members = "SELECT count(*) || ': ' || string_agg(project_id || '/' || user_id || '/' || role, ', ' ORDER BY project_id, user_id)"
  . " FROM intracker_data.project_members";
is($node->safe_psql('restored', $members),
	$node->safe_psql('source', $members),
	'project_members: the restore added no rows (no extra owners) and lost none');
is($node->safe_psql('restored',
		"SELECT resume_context = " . q_lit($t->{resume_context}) . "::jsonb FROM intracker_data.projects WHERE id = '$t->{apollo}'"),
	't', 'resume_context with unicode, quotes and backslashes survives byte for byte');

#
# The restored database is a working intracker: RLS, identity, version
# checks and dependency rules.
#
for my $db ('source', 'restored')
{
	is(safe_psql_as($node, $db, $t->{carol}, 'SELECT string_agg(name, \',\' ORDER BY name) FROM intracker.projects'),
		'Apollo', "$db: carol (viewer of Apollo only) sees only Apollo");
}
my $docs_version = $node->safe_psql('restored',
	"SELECT version FROM intracker_data.todos WHERE id = '$t->{t_docs}'");
my ($ret, $out, $err) = psql_as($node, 'restored', $t->{bob},
	"SELECT version FROM intracker.update_todo('$t->{t_docs}', '{\"title\": \"stale\"}', "
	  . ($docs_version - 1) . ")");
is_sqlstate($err, 'PT409', 'restored: a stale update still fails with PT409', $out);
is(safe_psql_as($node, 'restored', $t->{bob},
		"SELECT version FROM intracker.update_todo('$t->{t_docs}', '{\"title\": \"fresh\"}', $docs_version)"),
	$docs_version + 1, 'restored: an update with the current version bumps it by one');
($ret, $out, $err) = psql_as($node, 'restored', $t->{bob},
	"SELECT FROM intracker.add_dependency('$t->{t_design}', '$t->{t_docs}')");
is_sqlstate($err, '23514', 'restored: a dependency cycle is still rejected', $out);
($ret, $out, $err) = psql_as($node, 'restored', $t->{robot},
	"SELECT FROM intracker.start_session('$t->{apollo}')");
is_sqlstate($err, '23505', 'restored: the open session is still open (a second one is refused)', $out);

# The derived counters are not in the dump: the triggers rebuilt them.
is($node->safe_psql('restored', 'SELECT count(*) FROM intracker.verify_counters()'),
	'0', 'restored: the derived counters were rebuilt exactly (verify_counters is empty)');

$node->stop;

done_testing();
