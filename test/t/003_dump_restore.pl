# 003_dump_restore.pl — pg_dump -Fc / pg_restore round-trips every row,
# the event log and the counters' state.
#
# The extension's tables are extension members, so pg_dump dumps their rows
# only because the install script registers them with
# pg_extension_config_dump().  This test builds a sample team (users of both
# kinds, two projects, owners/editors/viewers, features, todos in every
# status, dependencies, ended and open sessions, a resume_context with
# unicode, quotes and backslashes, a webhook with deliveries, an automatic
# assignment, published events and events still in the outbox), dumps the
# database and restores it four times: into a fresh database and into the
# database the publisher and the deliverer serve, each with and without
# --single-transaction.  Every table must come back identical: same rows,
# same versions, same timestamps, no row added (e.g. an owner membership)
# or changed (e.g. completed_at) by a trigger during the restore, the same
# event log (same seq, same event) and member_load (last_assigned_at
# included).  The restore queues no event and no delivery of its own; the
# events still pending at the dump are published after the restored log,
# and numbering goes on from there.  (0.5 queued a *.created event per
# restored row, numbered them before the log was loaded, so that the log's
# restore failed on a duplicate seq in a served database, re-sent them to
# webhooks, and reset every last_assigned_at.)

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IntrackerTest;

my $node = new_node('dump');
# The processes serve the database named 'served', restored into below.
$node->append_conf('postgresql.conf', "intracker.database = 'served'\n");
$node->restart;
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

# A webhook (deliveries are dumped) and an automatic assignment (it stamps
# member_load.last_assigned_at).  No publisher serves 'source': reading the
# events publishes them and queues their deliveries.  The writes after that
# stay in the outbox, as events do between a commit and their publication.
safe_psql_as($node, 'source', $t->{alice},
	"SELECT FROM intracker.create_webhook('$t->{apollo}', 'https://hooks.example.com/apollo', '{todo.*}')",
	via => 'superuser');
safe_psql_as($node, 'source', $t->{bob},
	"SELECT FROM intracker.assign_todo('$t->{t_docs}', NULL, (SELECT version FROM intracker.todos WHERE id = '$t->{t_docs}'))",
	via => 'superuser');
cmp_ok($node->safe_psql('source', 'SELECT count(*) FROM intracker.events_since(0, max_events => 10000)'),
	'>', 0, 'the sample\'s events are published before the dump');
safe_psql_as($node, 'source', $t->{bob}, <<"SQL", via => 'superuser');
SELECT FROM intracker.update_todo('$t->{t_review}', '{"title": "Review billing (pending)"}',
                                  (SELECT version FROM intracker.todos WHERE id = '$t->{t_review}'));
SELECT FROM intracker.add_dependency('$t->{t_stuck}', '$t->{t_review}');
SQL

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
	'dependencies' => [ 'SELECT count(*) FROM intracker_data.todo_dependencies', '4' ],
	'ended and open sessions' => [
		'SELECT count(*) FILTER (WHERE ended_at IS NOT NULL) || \' ended, \' || count(*) FILTER (WHERE ended_at IS NULL) || \' open\' FROM intracker_data.sessions',
		'2 ended, 1 open'
	],
	'published events, deliveries and events still pending' => [
		"SELECT (SELECT count(*) > 10 FROM intracker_data.events) AND (SELECT count(*) > 0 FROM intracker_data.deliveries),
		        (SELECT count(*) FROM intracker_data.outbox)",
		't|2'
	],
	'assignments stamped last_assigned_at' => [
		'SELECT count(*) > 0 FROM intracker_data.member_load WHERE last_assigned_at IS NOT NULL', 't'
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
# Tables of user data must be dumped; derived data (the progress counters
# their trigger rebuilds while pg_restore inserts the todos) must not be, or
# restored counters would count twice.  The table comments say which is
# which.
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
	'delivery_position_seq,github_inbound_id_seq,outbox_id_seq',
	'the sequences of the dumped tables are registered too (0.6: the outbox\'s)');
cmp_ok(scalar(@tables), '>=', 7, 'found the extension\'s tables (' . join(', ', @tables) . ')');

#
# Dump.
#
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
# A restore loads the data in this order (by name, foreign keys first):
# the log before the outbox, so that a publisher serving the database
# numbers the pending events after the log.
my @data_order = $toc =~ /TABLE DATA intracker_data (\w+) /mg;
my %position = map { $data_order[$_] => $_ } 0 .. $#data_order;
cmp_ok($position{events}, '<', $position{outbox}, 'the dump restores the event log before the outbox');

my $src_last = $node->safe_psql('source', 'SELECT max(seq) FROM intracker_data.events');
my $src_pending = $node->safe_psql('source',
	"SELECT string_agg(($src_last + n) || ' ' || id || ' ' || type || ' ' || entity_id, E'\\n' ORDER BY id)"
	  . ' FROM (SELECT o.*, row_number() OVER (ORDER BY o.id) AS n FROM intracker_data.outbox o) pending');

#
# Restore, four ways.
#
sub summary_of
{
	my ($db, $table, $where) = @_;
	return $node->safe_psql($db,
		    "SELECT count(*) || ' rows, md5 ' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '-')"
		  . " FROM intracker_data.$table t" . ($where ? " WHERE $where" : ''));
}

sub compare_table
{
	my ($db, $table, $where, $label) = @_;
	my $src = summary_of('source', $table, $where);
	return if is(summary_of($db, $table, $where), $src, "$label: intracker_data.$table: restored contents identical ($src)");

	# Show which rows differ.
	my $rows = "SELECT t::text FROM intracker_data.$table t" . ($where ? " WHERE $where" : '') . ' ORDER BY 1';
	my %in_src = map { $_ => 1 } split /\n/, $node->safe_psql('source', $rows);
	my %in_dst = map { $_ => 1 } split /\n/, $node->safe_psql($db, $rows);
	my @lost  = grep { !$in_dst{$_} } sort keys %in_src;
	my @added = grep { !$in_src{$_} } sort keys %in_dst;
	diag("$table: only in source (" . scalar(@lost) . "):\n  " . join("\n  ", @lost[ 0 .. ($#lost < 9 ? $#lost : 9) ]));
	diag("$table: only in restored (" . scalar(@added) . "):\n  " . join("\n  ", @added[ 0 .. ($#added < 9 ? $#added : 9) ]));
	return;
}

# What the processes change in a served database once it is restored: they
# publish the pending events (queue their deliveries, record their history)
# and try the deliveries.  Everything else must be exactly the source's at
# once.
my %changed_when_served = (events => 1, outbox => 1, deliveries => 1, history => 1);
my $delivery_columns = 'id, position, kind, queue_id, project_id, webhook_id, todo_id, event_seq, event_type, body, created_at, redelivery_of';

for my $case ([ 'restored', 0, 'fresh' ], [ 'restored_single', 1, 'fresh' ], [ 'served', 0, 'served' ], [ 'served', 1, 'served' ])
{
	my ($db, $single, $kind) = @$case;
	my $label = "$kind database" . ($single ? ', --single-transaction' : '');
	my $served = $kind eq 'served';

	$node->safe_psql('postgres', "DROP DATABASE IF EXISTS $db");
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->command_checks_all(
		[ 'pg_restore', ($single ? ('--single-transaction') : ()), '-d', $node->connstr($db), $dump ],
		0, [qr/\A\z/], [qr/\A\z/], "$label: pg_restore");

	for my $table (@tables)
	{
		compare_table($db, $table, undef, $label) unless $served && $changed_when_served{$table};
	}

	if ($served)
	{
		ok($node->poll_query_until($db, q{SELECT state = 'idle' AND backlog = 0 FROM intracker.worker_status}),
			"$label: the publisher publishes what the restore left in the outbox");
		compare_table($db, 'events', "seq <= $src_last", $label);
		compare_table($db, 'history', "seq <= $src_last", $label);
		is($node->safe_psql($db,
				"SELECT $delivery_columns FROM intracker_data.deliveries WHERE event_seq <= $src_last ORDER BY id"),
			$node->safe_psql('source', "SELECT $delivery_columns FROM intracker_data.deliveries ORDER BY id"),
			"$label: the restored deliveries are the source's, and no restored event was fanned out again");
	}
	else
	{
		is($node->safe_psql($db, 'SELECT count(*) FROM intracker.events_since(0, max_events => 10000)') + 0,
			$src_last + 2, "$label: reading the events publishes the two pending ones after the restored log");
	}
	is($node->safe_psql($db,
			"SELECT string_agg(seq || ' ' || outbox_id || ' ' || type || ' ' || entity_id, E'\\n' ORDER BY seq)"
			  . " FROM intracker_data.events WHERE seq > $src_last"),
		$src_pending, "$label: the events pending at the dump, numbered after the restored log");
	is($node->safe_psql($db,
			"SELECT string_agg(event_type, ',' ORDER BY event_type) FROM intracker_data.deliveries WHERE event_seq > $src_last"),
		'todo.updated', "$label: of those, the todo's update is queued for the webhook (todo.*), once");

	# Numbering goes on, and so do the outbox ids.  (A session: it has no
	# version, so the comparisons of versions below still hold.)
	my $session = safe_psql_as($node, $db, $t->{erin},
		"SELECT id FROM intracker.start_session('$t->{zeta}', goal => 'After the restore')", via => 'superuser');
	if ($served)
	{
		ok($node->poll_query_until($db, q{SELECT state = 'idle' AND backlog = 0 FROM intracker.worker_status}),
			"$label: the publisher publishes a new write");
	}
	else
	{
		$node->safe_psql($db, 'SELECT count(*) FROM intracker.events_since(0, max_events => 10000)');
	}
	my $next = $src_last + 3;
	is($node->safe_psql($db, "SELECT seq || ' ' || type FROM intracker_data.events WHERE entity_id = '$session'"),
		"$next session.started", "$label: a new write is event $next");
	is($node->safe_psql($db, "SELECT min(outbox_id) > (SELECT max(outbox_id) FROM intracker_data.events WHERE seq < $next)"
			  . " FROM intracker_data.events WHERE seq = $next"),
		't', "$label: its outbox id follows the restored ones (the outbox's sequence is restored)");

	is($node->safe_psql($db, 'SELECT count(*) FROM intracker.verify_counters()'),
		'0', "$label: every counter agrees with the rows (verify_counters is empty)");
}

# While a restore loads the served database the publisher publishes
# nothing: events still pending at the dump would otherwise be published,
# and fanned out, before the webhooks they go to are loaded.  A restoring
# session (a superuser's, row_security off) holds the restore lock until it
# ends; what it loads into the outbox wakes the publisher, which waits for
# that end.  Here the publisher of 'served' is idle with nothing due for a
# week: only that wake makes it look.
my $served_last = $node->safe_psql('served', 'SELECT max(seq) FROM intracker_data.events');
my $restoring = IntrackerTest::Session->new($node, 'served', name => 'restoring', via => 'superuser');
$restoring->query_safe(qq{
SET row_security = off;
INSERT INTO intracker_data.outbox (type, project_id, entity_id, changes)
VALUES ('todo.updated', '$t->{apollo}', '$t->{t_docs}', '{}');
});
ok($node->poll_query_until('served', q{SELECT state = 'waiting for restore' FROM intracker.worker_status}),
	'a restoring session\'s write to the outbox wakes the publisher, which waits for the restore');
is($node->safe_psql('served', "SELECT count(*) FROM intracker_data.events WHERE seq > $served_last"),
	'0', '... and publishes nothing while the restoring session is open');
$restoring->quit;
ok($node->poll_query_until('served', "SELECT count(*) = 1 FROM intracker_data.events WHERE seq > $served_last"),
	'once it ends, the event is published');

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
my $last_assigned = "SELECT string_agg(project_id || '/' || user_id || ' ' || coalesce(last_assigned_at::text, '-'), ', '"
  . ' ORDER BY project_id, user_id) FROM intracker_data.member_load';
is($node->safe_psql('restored', $last_assigned), $node->safe_psql('source', $last_assigned),
	'member_load: every last_assigned_at as it was (the tie-breaker of automatic assignment)');

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

$node->stop;

done_testing();
