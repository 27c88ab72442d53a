# 008_publisher_ops.pl — the publisher's operational behaviour
# (issue 5): settings reloads, DROP DATABASE / DROP EXTENSION under a running
# publisher, a missing extension, no preload, shutdown and restarts, errors.
#
# Two servers:
#
#   ops     preloaded, intracker.database = 'tracker'; databases tracker (the
#           served one) and other, both with the extension.
#   nopre   first NOT preloaded (database nopre), later restarted preloaded
#           with intracker.database = 'plain', a database without the
#           extension, and intracker.event_retention = '1s'.
#
#   5. nopre, not preloaded: writes still record events (outbox);
#      worker_status says 'not running'; REPEATABLE READ and SERIALIZABLE
#      readers of events_since() do not fail (and publish nothing); a READ
#      COMMITTED reader publishes gap-free seq 1..N, also as a non-superuser
#      member; two readers publishing at the same instant give no gap and no
#      duplicate; a LISTENer gets no notification (checked with a sentinel
#      NOTIFY: notifications arrive in commit order).  With intracker.database
#      left in postgresql.conf, sessions using the extension are not warned.
#   4. nopre restarted preloaded, intracker.database = 'plain' (no
#      extension): the publisher says "waiting for CREATE EXTENSION" once and
#      keeps waiting in the same process (a recheck is seen through
#      pg_stat_activity.state_change; no restarts in the log).  From another
#      database that has the extension, worker_status reports the publisher
#      as 'serving another database' (no pid: none of its own; database
#      'plain', the setting), not plain's
#      'waiting for extension', and events_since() there publishes on read.
#      CREATE EXTENSION in plain: the same publisher starts publishing, and
#      retention (1s) prunes what it published afterwards.
#   6. ops, database other: events_since() publishes on read, worker_status
#      says 'serving another database', a LISTENer there gets nothing.
#   1. Settings: invalid intracker.event_retention values ('bogus', '-1 day',
#      '0') and publish_batch_size out of range are rejected by ALTER SYSTEM
#      (22023, the check hook's detail) and SET; a bad value in
#      postgresql.conf is ignored by a reload and the publisher survives it.
#      publish_batch_size = 1 through ALTER SYSTEM + reload: visible to new
#      sessions, and a 30-event transaction is published in 30 rounds (30
#      distinct published_at, one per publishing transaction), gap-free, all
#      NOTIFYed in order; back at the default, one round.  A retention that
#      the check hook accepts must not stop publication ('300000 years').
#      Later (after 7): event_retention = '1s' + reload prunes everything but
#      the newest event, numbering continues after it, and the publisher
#      then sleeps instead of spinning (transactions committed in its
#      database while idle).
#   9. A publishing error (a CHECK constraint on intracker_data.events that
#      rejects new rows): worker_status 'retrying after error' with
#      last_error, a second attempt by the same process, the events wait in
#      the outbox; constraint dropped: the backlog drains gap-free, same pid.
#   8. kill -TERM of the publisher: the supervisor (same pid) starts a new
#      one, which logs where numbering stands; events written meanwhile are
#      published exactly once, no crash restart.
#   7. pg_ctl stop -m fast while a writer commits one todo per transaction
#      and the publisher publishes them: the stop returns and the server is
#      down; after start every committed todo has exactly one todo.created
#      event, none for a todo that did not commit, seq gap-free.
#   3. DROP EXTENSION intracker in tracker under the running publisher:
#      succeeds; the drop stopped the publisher (one exit) and a new one
#      runs (issue 12: before, the same process went on, and deadlocked with
#      the drop under load; 014 tests that); one "waiting for CREATE
#      EXTENSION" WARNING, from the new one, which rechecks without warning
#      again; CREATE EXTENSION: that publisher resumes, worker_status agrees
#      with the (empty) events table, new events are numbered from 1 and
#      reach a LISTENer.
#   2. DROP DATABASE tracker under the running publisher: succeeds (not
#      "being accessed by other users"); from database other worker_status
#      says 'waiting for database' with no pid; the supervisor logs the
#      WARNING once over 15 s, keeps its pid and starts no publisher;
#      CREATE DATABASE + CREATE EXTENSION: the publisher comes back and
#      NOTIFYs new events to a LISTENer.
#
# No assertion is about duration: waits are polls with generous limits.  The
# few bounded polls (a "must happen" that would otherwise wait for the
# framework's full timeout) allow many times the expected delay.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use IPC::Run ();
use IntrackerTest;
use PublisherTest;

my $t_start = Time::HiRes::time();

##############################################################################
# Helpers (the common ones are in PublisherTest.pm)

# Wait until the listener has $n notifications on $channel; returns their
# seqs in arrival order.
sub listener_seqs
{
	my ($listener, $channel, $n) = @_;
	my $until = Time::HiRes::time() + $PostgreSQL::Test::Utils::timeout_default;
	my @seqs;
	while (1)
	{
		@seqs = map { $_->[2] } grep { $_->[0] eq $channel } @{ notifications($listener) };
		last if @seqs >= $n || Time::HiRes::time() > $until;
		usleep(10_000);
	}
	return \@seqs;
}

# Reload the configuration and wait until new sessions show $setting as
# $value (the postmaster has reloaded and signalled its children) and the
# publisher (pid $pid) ran a round after the reload: it reads its SIGHUP at
# the top of its loop, before the round, and each round moves its
# pg_stat_activity.state_change.
sub reload_and_wait_round
{
	my ($node, $pid, $setting, $value) = @_;
	my $before = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	return $node->poll_query_until('postgres', "SHOW $setting", $value)
	  && $node->poll_query_until('postgres',
		"SELECT state_change > '$before' FROM pg_stat_activity WHERE pid = $pid");
}

my $waiting_re = sub {
	my ($db) = @_;
	return qr/WARNING:  intracker: publisher is waiting for CREATE EXTENSION intracker in database "$db"/;
};
my $publisher_exit_re = qr/background worker "intracker publisher" \(PID \d+\) exited/;
my $supervisor_exit_re = qr/background worker "intracker supervisor" \(PID \d+\) exited/;
my $crash_re = qr/terminating any other active server processes|was terminated by signal|server process .* exited with exit code/;

##############################################################################
# 5. Not preloaded

my $nb = new_node('nopre', preload => 0);
install_extension($nb, 'nopre');
create_test_roles($nb);
my $nb_team = new_team($nb, 'nopre', 'nina');
my $nb_listener = start_listener($nb, 'nopre', 'intracker',
	$nb->safe_psql('nopre', "SELECT intracker.project_channel('$nb_team->{project}')"));

add_todos($nb, 'nopre', $nb_team, 'np', 5);
is($nb->safe_psql('nopre', 'SELECT count(*) FROM intracker_data.outbox'),
	'7', 'not preloaded: writes record their events in the outbox (2 + 5)');
is($nb->safe_psql('nopre', 'SELECT count(*) FROM intracker_data.events'),
	'0', 'not preloaded: nothing is published without a reader');
{
	my $s = status_of($nb, 'nopre');
	is($s->{state}, 'not running', 'not preloaded: worker_status.state is "not running"');
	is($s->{pid}, '', 'not preloaded: no publisher pid');
	is($s->{backlog}, '7', 'not preloaded: worker_status.backlog counts the outbox');
	like($s->{last_error}, qr/shared_preload_libraries/, 'not preloaded: worker_status explains why');
}

for my $iso ('REPEATABLE READ', 'SERIALIZABLE')
{
	my ($ret, $out, $err) = $nb->psql('nopre',
		"BEGIN ISOLATION LEVEL $iso;\nSELECT count(*) FROM intracker.events_since(0);\nCOMMIT;");
	is($ret, 0, "not preloaded: events_since() in a $iso transaction does not fail")
	  or diag($err);
	is($out, '0', "not preloaded: a $iso reader publishes nothing (it sees what was published before it began)");
}
is($nb->safe_psql('nopre', 'SELECT count(*) FROM intracker_data.outbox'),
	'7', 'not preloaded: the events still wait after the snapshot readers');

my $rows = events_after($nb, 'nopre', 0);
events_ok('not preloaded, READ COMMITTED events_since(0)', $rows, after => 0, total => 7, tag => 'np', n => 5);
is($nb->safe_psql('nopre', 'SELECT count(*) FROM intracker_data.outbox'), '0',
	'not preloaded: the reader published the whole outbox');

# A non-superuser member reading publishes too (publish_pending_events is
# SECURITY DEFINER).
add_todos($nb, 'nopre', $nb_team, 'np2', 3);
{
	my $out = safe_psql_as($nb, 'nopre', $nb_team->{user},
		"SELECT string_agg(seq::text || ':' || coalesce(changes -> 'title' ->> 'new', ''), ',' ORDER BY seq)"
		  . " FROM intracker.events_since(7, '$nb_team->{project}')");
	is($out, '8:np2-1,9:np2-2,10:np2-3',
		'not preloaded: a member (act_as, not a superuser) publishes on read, seq 8..10');
}

# Two readers publishing the same backlog at the same instant.
add_todos($nb, 'nopre', $nb_team, 'np3', 200);
{
	my @s = map { IntrackerTest::Session->new($nb, 'nopre', name => "reader$_", via => 'superuser') } 1 .. 2;
	my ($res) = run_together($nb, map { [ $_, 'SELECT count(*) FROM intracker.events_since(10, NULL, 10000);' ] } @s);
	# 0.6: a reader does not wait for another reader that publishes: the one
	# that takes the event log's lock publishes all 200 and reads them; the
	# other reads what was committed when it read, all 200 or none.
	for my $i (0, 1)
	{
		is($res->[$i]{err}, '', "not preloaded: concurrent reader " . ($i + 1) . " has no error");
	}
	my @counts = sort { $b <=> $a } map { $_->{out} } @$res;
	ok($counts[0] == 200 && ($counts[1] == 0 || $counts[1] == 200),
		"not preloaded: one concurrent reader published and sees all 200 new events, the other all or none (it did not wait): @counts");
	$_->quit for @s;
	events_ok('not preloaded, after two concurrent publishing readers', events_after($nb, 'nopre', 10),
		after => 10, total => 200, tag => 'np3', n => 200);
}

is_deeply(await_sentinel($nb, 'nopre', $nb_listener, 'intracker'), [],
	'not preloaded: the LISTENer got no notification (only the sentinel)');
$nb_listener->{stop}->();

# The README's setup with only the preload taken out: intracker.database
# stays in postgresql.conf.  Sessions using the extension must not be warned
# about it (the library reserves the "intracker" prefix when it loads).
$nb->append_conf('postgresql.conf', "intracker.database = 'nopre'\n");
$nb->reload;
$nb->poll_query_until('nopre', 'SHOW intracker.database', 'nopre')
  or diag('intracker.database did not reach new sessions');
{
	my ($ret, $out, $err) = $nb->psql('nopre', 'SELECT state FROM intracker.worker_status');
	is($out, 'not running', 'not preloaded, intracker.database set: worker_status says "not running"');
	is($err, '', 'not preloaded, intracker.database set: a session using the extension gets no WARNING');
}

##############################################################################
# 4. Preloaded, intracker.database names a database without the extension.
#    Set up now; checked after the ops scenarios, so the rechecks happen
#    meanwhile.

$nb->safe_psql('postgres', 'CREATE DATABASE plain');
$nb->append_conf('postgresql.conf',
	"shared_preload_libraries = 'intracker'\n"
	  . "intracker.database = 'plain'\n"
	  . "intracker.event_retention = '1s'\n");
my $nb_log0 = log_size($nb);
$nb->restart;
$nb->wait_for_log($waiting_re->('plain'), $nb_log0);
my $nb_pub = publisher_pid($nb);
my $nb_sup = supervisor_pid($nb);
like($nb_pub, qr/^\d+$/, 'no extension in intracker.database: one publisher runs there');
my $nb_first_round = $nb->safe_psql('postgres',
	"SELECT state_change FROM pg_stat_activity WHERE pid = $nb_pub");
my $nb_t0 = Time::HiRes::time();
{
	# From a database that has the extension the publisher is another
	# database's; its own state ('waiting for extension') is not shown.
	my $s = status_of($nb, 'nopre');
	is($s->{state}, 'serving another database',
		'no extension in intracker.database: worker_status elsewhere says "serving another database"');
	is($s->{pid}, '', '... with no pid: no publisher of its own (issue 17: each database sees its own)');
	is($s->{database}, 'plain', '... and database "plain"');
}
add_todos($nb, 'nopre', $nb_team, 'np4', 2);
events_ok('no extension in intracker.database: events_since() elsewhere publishes on read',
	events_after($nb, 'nopre', 210), after => 210, total => 2, tag => 'np4', n => 2);

##############################################################################
# The ops server

my $node = new_node('ops');
$node->append_conf('postgresql.conf', "intracker.database = 'tracker'\n");
$node->restart;
install_extension($node, 'tracker');
install_extension($node, 'other');
create_test_roles($node);
$node->poll_query_until('tracker',
	"SELECT state = 'idle' AND pid IS NOT NULL FROM intracker.worker_status")
  or BAIL_OUT('the publisher did not start in tracker');
my $pub = publisher_pid($node);
my $sup = supervisor_pid($node);
note("ops: supervisor $sup, publisher $pub");
my $team = new_team($node, 'tracker', 'olga');

##############################################################################
# 6. Another database of a preloaded server

{
	my $listener = start_listener($node, 'other', 'intracker');
	my $oteam = new_team($node, 'other', 'otto');
	add_todos($node, 'other', $oteam, 'oth', 4);
	my $s = status_of($node, 'other');
	is($s->{state}, 'serving another database', 'other database: worker_status says "serving another database"');
	is($s->{pid}, '', 'other database: worker_status shows no pid (tracker\'s publisher is not its own)');
	is($s->{backlog}, '6', 'other database: its events wait for a reader (backlog 6)');
	events_ok('other database: events_since(0) publishes on read', events_after($node, 'other', 0),
		after => 0, total => 6, tag => 'oth', n => 4);
	is($node->safe_psql('other', 'SELECT count(*) FROM intracker_data.outbox'), '0',
		'other database: outbox empty after the read');
	is_deeply(await_sentinel($node, 'other', $listener, 'intracker'), [],
		'other database: the LISTENer got no notification (only the sentinel)');
	$listener->{stop}->();
}

##############################################################################
# 1. Settings

for my $bad ('bogus', '-1 day', '0')
{
	my ($ret, $out, $err) = $node->psql('tracker',
		"\\set VERBOSITY verbose\nALTER SYSTEM SET intracker.event_retention = '$bad'");
	is(sqlstate_of($err), '22023', "ALTER SYSTEM SET intracker.event_retention = '$bad' fails with 22023");
	like($err, qr/must be a positive interval/, "... with the check hook's detail ('$bad')");
	($ret, $out, $err) = $node->psql('tracker', "SET intracker.event_retention = '$bad'");
	isnt($ret, 0, "SET intracker.event_retention = '$bad' fails");
}
for my $bad (0, 100001)
{
	my ($ret, $out, $err) = $node->psql('tracker',
		"\\set VERBOSITY verbose\nALTER SYSTEM SET intracker.publish_batch_size = $bad");
	is(sqlstate_of($err), '22023', "ALTER SYSTEM SET intracker.publish_batch_size = $bad fails with 22023");
}
unlike(slurp_file($node->data_dir . '/postgresql.auto.conf'), qr/intracker\./,
	'rejected values never reach postgresql.auto.conf');
is($node->safe_psql('tracker', 'SHOW intracker.event_retention'), '7 days', 'event_retention still 7 days');

# A bad value in postgresql.conf: the reload keeps the old value, the
# publisher survives it.
{
	my $off = log_size($node);
	$node->append_conf('postgresql.conf', "intracker.event_retention = 'bogus'\n");
	ok(reload_and_wait_round($node, $pub, 'intracker.event_retention', '7 days'),
		'bad event_retention in postgresql.conf: the publisher ran a round after the reload');
	ok(wait_for_count($node, $off, qr/invalid value for parameter "intracker.event_retention": "bogus"/, 1) >= 1,
		'bad event_retention in postgresql.conf: the reload logs "invalid value"');
	is($node->safe_psql('tracker', 'SHOW intracker.event_retention'), '7 days',
		'bad event_retention in postgresql.conf: the old value stays');
	is(publisher_pid($node), $pub, 'bad event_retention in postgresql.conf: same publisher');
	$node->adjust_conf('postgresql.conf', 'intracker.event_retention', "'7 days'");
	ok(reload_and_wait_round($node, $pub, 'intracker.event_retention', '7 days'), 'postgresql.conf fixed and reloaded');
}

# publish_batch_size = 1
{
	my $listener = start_listener($node, 'tracker', 'intracker');
	wait_published($node, 'tracker');
	my $base = max_seq($node, 'tracker');

	$node->safe_psql('tracker', 'ALTER SYSTEM SET intracker.publish_batch_size = 1');
	ok(reload_and_wait_round($node, $pub, 'intracker.publish_batch_size', '1'),
		'publish_batch_size = 1: the publisher ran a round after the reload');
	is($node->safe_psql('tracker', 'SHOW intracker.publish_batch_size'), '1',
		'publish_batch_size = 1: a new session shows it');

	add_todos($node, 'tracker', $team, 'b1', 30);
	wait_published($node, 'tracker', 'publish_batch_size = 1: a 30-event transaction is published');
	my $rows = events_after($node, 'tracker', $base);
	events_ok('publish_batch_size = 1', $rows, after => $base, total => 30, tag => 'b1', n => 30);
	is($node->safe_psql('tracker',
			"SELECT count(DISTINCT published_at) FROM intracker_data.events WHERE seq > $base"),
		'30', 'publish_batch_size = 1: 30 publishing transactions (distinct published_at)');
	my $seqs = listener_seqs($listener, 'intracker', 30);
	is_deeply($seqs, [ map { $base + $_ } 1 .. 30 ],
		'publish_batch_size = 1: the LISTENer got all 30 NOTIFYs, in seq order, gap-free');
	is(publisher_pid($node), $pub, 'publish_batch_size = 1: same publisher');

	$node->safe_psql('tracker', 'ALTER SYSTEM RESET intracker.publish_batch_size');
	ok(reload_and_wait_round($node, $pub, 'intracker.publish_batch_size', '1000'),
		'publish_batch_size reset: the publisher ran a round after the reload');
	is($node->safe_psql('tracker', 'SHOW intracker.publish_batch_size'), '1000',
		'publish_batch_size reset: a new session shows 1000');
	$base += 30;
	add_todos($node, 'tracker', $team, 'b1000', 30);
	wait_published($node, 'tracker');
	events_ok('publish_batch_size = 1000', events_after($node, 'tracker', $base),
		after => $base, total => 30, tag => 'b1000', n => 30);
	is($node->safe_psql('tracker',
			"SELECT count(DISTINCT published_at) FROM intracker_data.events WHERE seq > $base"),
		'1', 'publish_batch_size = 1000: one publishing transaction for the 30 events');
	is_deeply(listener_seqs($listener, 'intracker', 60), [ map { $base - 30 + $_ } 1 .. 60 ],
		'publish_batch_size = 1000: the LISTENer got the next 30 NOTIFYs too');
	$listener->{stop}->();
}

# A retention the check hook accepts must not stop publication.  (Pruning
# runs in the publishing transaction: now() - '300000 years' is out of the
# timestamp range, so every round would fail.)
{
	my $base = max_seq($node, 'tracker');
	my ($ret, $out, $err) = $node->psql('tracker',
		"ALTER SYSTEM SET intracker.event_retention = '300000 years'");
	if ($ret != 0)
	{
		pass("event_retention = '300000 years' is rejected: $err");
		add_todos($node, 'tracker', $team, 'huge', 1);
	}
	else
	{
		ok(reload_and_wait_round($node, $pub, 'intracker.event_retention', '300000 years'),
			"event_retention = '300000 years' accepted and reloaded");
		add_todos($node, 'tracker', $team, 'huge', 1);
		ok(poll_for($node, 'tracker', 'SELECT backlog = 0 FROM intracker.worker_status', 10),
			"event_retention = '300000 years' (accepted by the check hook): events are still published")
		  or diag('worker_status: ' . describe(status_of($node, 'tracker')));
	}
	$node->safe_psql('tracker', 'ALTER SYSTEM RESET intracker.event_retention');
	ok(reload_and_wait_round($node, $pub, 'intracker.event_retention', '7 days'), 'event_retention reset and reloaded');
	wait_published($node, 'tracker');
	events_ok('after the huge retention', events_after($node, 'tracker', $base),
		after => $base, tag => 'huge', n => 1);
}

##############################################################################
# 9. A publishing error is retried by the same process

{
	my $base = max_seq($node, 'tracker');
	my $off = log_size($node);
	$node->safe_psql('tracker',
		"ALTER TABLE intracker_data.events ADD CONSTRAINT ops_reject_new CHECK (seq <= $base) NOT VALID");
	add_todos($node, 'tracker', $team, 'err', 3);
	poll_ok($node, 'tracker',
		"SELECT state = 'retrying after error' AND last_error LIKE '%ops_reject_new%' FROM intracker.worker_status",
		'publishing error: worker_status says "retrying after error" with the error in last_error');
	my $s = status_of($node, 'tracker');
	is($s->{pid}, $pub, 'publishing error: same publisher pid');
	is($s->{backlog}, '3', 'publishing error: the 3 events wait in the outbox');
	is($node->safe_psql('tracker', "SELECT last_error_at IS NOT NULL FROM intracker.worker_status"), 't',
		'publishing error: last_error_at is set');
	my $warn_re = qr/\[$pub\] WARNING:  intracker publisher: new row for relation "events" violates check constraint "ops_reject_new"/;
	is(wait_for_count($node, $off, $warn_re, 2), 2,
		'publishing error: the same process tried again (two WARNINGs from its pid)');
	is(log_count($node, $off, $publisher_exit_re), 0, 'publishing error: the publisher did not exit');

	$node->safe_psql('tracker', 'ALTER TABLE intracker_data.events DROP CONSTRAINT ops_reject_new');
	wait_published($node, 'tracker', 'publishing error removed: the backlog drains');
	events_ok('after the publishing error', events_after($node, 'tracker', $base),
		after => $base, total => 3, tag => 'err', n => 3);
	is(publisher_pid($node), $pub, 'publishing error removed: still the same publisher');
}

##############################################################################
# 8. kill -TERM of the publisher

{
	my $base = max_seq($node, 'tracker');
	my $off = log_size($node);
	is(kill('TERM', $pub), 1, "SIGTERM sent to the publisher ($pub)");
	add_todos($node, 'tracker', $team, 'term', 5);
	poll_ok($node, 'tracker',
		"SELECT pid IS NOT NULL AND pid <> $pub AND state = 'idle' AND backlog = 0 FROM intracker.worker_status",
		'SIGTERM: the supervisor started a new publisher, which published the backlog');
	my $new = publisher_pid($node);
	isnt($new, $pub, "SIGTERM: new publisher pid $new");
	is(supervisor_pid($node), $sup, 'SIGTERM: same supervisor');
	ok(wait_for_count($node, $off, qr/\[$new\] LOG:  intracker publisher started: last published seq \d+, \d+ events waiting/, 1),
		'SIGTERM: the new publisher logged where numbering stands');
	events_ok('after SIGTERM', events_after($node, 'tracker', $base),
		after => $base, total => 5, tag => 'term', n => 5);
	is(log_count($node, $off, $crash_re), 0, 'SIGTERM: no crash restart of the server');
	$pub = $new;
}

##############################################################################
# 7. pg_ctl stop -m fast while a writer commits and the publisher publishes

{
	my $base = max_seq($node, 'tracker');
	my ($out, $err) = ('', '');
	my $writer = IPC::Run::start(
		[
			'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('tracker'),
			'-c', "SELECT intracker.act_as('$team->{user}')",
			'-c', "DO \$\$ BEGIN FOR i IN 1..1000000 LOOP"
			  . " PERFORM intracker.create_todo('$team->{project}', 'stream-' || i); COMMIT;"
			  . " END LOOP; END \$\$"
		],
		'>', \$out, '2>', \$err);
	$node->poll_query_until('tracker',
		"SELECT count(*) >= 300 FROM intracker_data.events WHERE seq > $base AND type = 'todo.created'")
	  or diag("the writer did not get going: $err");
	ok($node->stop('fast'), 'pg_ctl stop -m fast with a writer and the publisher busy returned');
	ok(!-e $node->data_dir . '/postmaster.pid', 'the server is down');
	$writer->finish;
	note("writer's stderr: $err");
	like($err, qr/terminating connection|server closed the connection|connection to server/,
		'the writer was cut off by the shutdown');

	my $off = log_size($node);
	$node->start;
	ok(wait_for_count($node, $off, qr/LOG:  intracker publisher started: last published seq \d+, \d+ events waiting/, 1),
		'after restart: the publisher logged where numbering stands');
	wait_published($node, 'tracker', 'after restart: the publisher published the backlog');
	$pub = publisher_pid($node);
	$sup = supervisor_pid($node);

	my %committed = map { $_ => 1 } split /\n/, $node->safe_psql('tracker',
		"SELECT id FROM intracker_data.todos WHERE title LIKE 'stream-%'");
	my $rows = events_after($node, 'tracker', $base);
	my %events;
	$events{ $_->[2] }++ for grep { $_->[1] eq 'todo.created' } @$rows;
	note(scalar(keys %committed) . ' stream todos committed before the stop');
	ok(keys %committed >= 300, 'the writer committed at least 300 todos before the stop');
	is(seq_gaps($rows, $base), '', 'after restart: seq gap-free');
	is(join(',', grep { ($events{$_} // 0) != 1 } sort keys %committed), '',
		'after restart: every committed todo has exactly one todo.created event');
	is(join(',', grep { !$committed{$_} } sort keys %events), '',
		'after restart: no event for a todo that did not commit');
	is(scalar(@$rows), scalar(keys %committed), 'after restart: nothing but the stream\'s events');
}

##############################################################################
# 1 (continued). event_retention = '1s' through a reload

{
	my $last = max_seq($node, 'tracker');
	ok($node->safe_psql('tracker', 'SELECT count(*) FROM intracker_data.events') > 1, 'retention: many events before');
	$node->safe_psql('tracker', "ALTER SYSTEM SET intracker.event_retention = '1s'");
	ok(reload_and_wait_round($node, $pub, 'intracker.event_retention', '1s'), "event_retention = '1s' reloaded");
	poll_ok($node, 'tracker',
		"SELECT count(*) = 1 AND min(seq) = $last FROM intracker_data.events",
		"event_retention = '1s': the publisher pruned all but the newest event (seq $last)");
	add_todos($node, 'tracker', $team, 'ret', 1);
	wait_published($node, 'tracker');
	events_ok('after pruning: numbering continues after the kept newest', events_after($node, 'tracker', $last),
		after => $last, total => 1, tag => 'ret', n => 1);
	poll_ok($node, 'tracker',
		"SELECT count(*) = 1 AND min(seq) = $last + 1 FROM intracker_data.events",
		"event_retention = '1s': the previous newest is pruned once a newer exists");

	# Idle with one expired event that must be kept: the publisher should
	# sleep.  Its transactions in tracker, counted from another database.
	$node->poll_query_until('tracker',
		"SELECT now() - max(published_at) > interval '1.5 s' FROM intracker_data.events");
	my $xacts = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'tracker'";
	my $x0 = $node->safe_psql('postgres', $xacts);
	# A fixed wait on purpose: it is the window in which a spinning publisher
	# would be caught; no condition becomes true to poll for.
	sleep 3;
	my $x1 = $node->safe_psql('postgres', $xacts);
	cmp_ok($x1 - $x0, '<', 100,
		'retention: with only the (expired) newest event left, the idle publisher does not spin '
		  . '(transactions in tracker over 3 s)');

	$node->safe_psql('tracker', 'ALTER SYSTEM RESET intracker.event_retention');
	ok(reload_and_wait_round($node, $pub, 'intracker.event_retention', '7 days'), 'event_retention reset and reloaded');
}

##############################################################################
# 3. DROP EXTENSION under the running publisher, then CREATE EXTENSION

{
	my $off = log_size($node);
	my ($ret, $out, $err) = $node->psql('tracker', 'DROP EXTENSION intracker');
	is($ret, 0, 'DROP EXTENSION intracker with the publisher running succeeds') or diag($err);
	is(wait_for_count($node, $off, $waiting_re->('tracker'), 1, 30), 1,
		'DROP EXTENSION: the publisher logs that it waits for CREATE EXTENSION');
	# The drop stopped the publisher (it would deadlock with it, issue 12);
	# the supervisor started a new one once the drop committed.
	is(log_count($node, $off, $publisher_exit_re), 1, 'DROP EXTENSION: the drop stopped the publisher (one exit)');
	my $after_drop = publisher_pid($node);
	isnt($after_drop, $pub, "DROP EXTENSION: a new publisher ($after_drop) runs");
	like(log_since($node, $off), qr/\[$after_drop\] WARNING:  intracker: publisher is waiting for CREATE EXTENSION/,
		'DROP EXTENSION: the new publisher is the one that waits');
	$pub = $after_drop;
	# Rounds while waiting are 10 s apart; state_change 5 s past the one that
	# warned can only come from a later round.
	my $after_warning = $node->safe_psql('postgres',
		"SELECT state_change FROM pg_stat_activity WHERE pid = $pub");
	poll_ok($node, 'postgres',
		"SELECT state_change > '$after_warning'::timestamptz + interval '5 s' FROM pg_stat_activity WHERE pid = $pub",
		'DROP EXTENSION: the same publisher rechecked (a later round)');
	is(log_count($node, $off, $waiting_re->('tracker')), 1, 'DROP EXTENSION: the WARNING is logged once');
	is(log_count($node, $off, $publisher_exit_re), 1, 'DROP EXTENSION: the new publisher did not exit');
	is(publisher_pid($node), $pub, 'DROP EXTENSION: same publisher pid while it waits');
	is(status_of($node, 'other')->{state}, 'serving another database',
		'DROP EXTENSION: seen from other, the publisher still serves tracker');

	$node->safe_psql('tracker', 'CREATE EXTENSION intracker');
	poll_ok($node, 'tracker', "SELECT state = 'idle' FROM intracker.worker_status",
		'CREATE EXTENSION again: the publisher is idle again');
	my $s = status_of($node, 'tracker');
	is($s->{pid}, $pub, 'CREATE EXTENSION again: the same publisher');
	is($s->{last_published_seq}, '0',
		'CREATE EXTENSION again: worker_status.last_published_seq agrees with the empty events table');

	my $listener = start_listener($node, 'tracker', 'intracker');
	$team = new_team($node, 'tracker', 'olga');
	add_todos($node, 'tracker', $team, 'again', 3);
	wait_published($node, 'tracker');
	events_ok('CREATE EXTENSION again: numbering starts fresh', events_after($node, 'tracker', 0),
		after => 0, total => 5, tag => 'again', n => 3);
	is_deeply(listener_seqs($listener, 'intracker', 5), [ 1 .. 5 ],
		'CREATE EXTENSION again: the LISTENer got NOTIFYs for seq 1..5');
	$listener->{stop}->();
	is(log_count($node, $off, $waiting_re->('tracker')), 1, 'CREATE EXTENSION again: still one WARNING');
}

##############################################################################
# 2. DROP DATABASE under the running publisher

my $missing_re = qr/WARNING:  intracker: database "tracker" does not exist/;
my ($drop_off, $warn_off, $t_warn);
{
	$drop_off = log_size($node);
	my ($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE tracker');
	is($ret, 0, 'DROP DATABASE of the served database succeeds') or diag($err);
	unlike($err, qr/being accessed by other users/, 'DROP DATABASE: not "being accessed by other users"');
	poll_ok($node, 'other',
		"SELECT state = 'waiting for database' AND pid IS NULL FROM intracker.worker_status",
		'DROP DATABASE: worker_status seen from other: "waiting for database", no pid');
	$warn_off = $node->wait_for_log($missing_re, $drop_off);
	$t_warn = Time::HiRes::time();
	is(supervisor_pid($node), $sup, 'DROP DATABASE: same supervisor');
}

##############################################################################
# 4 (continued), while the supervisor of ops waits for its database

{
	# (rounds while waiting are 10 s apart: see DROP EXTENSION below)
	ok($nb->poll_query_until('postgres',
			"SELECT state_change > '$nb_first_round'::timestamptz + interval '5 s' FROM pg_stat_activity WHERE pid = $nb_pub"),
		'no extension in intracker.database: the publisher rechecked (a later round)');
	note(sprintf('nopre publisher observed for %.1f s', Time::HiRes::time() - $nb_t0));
	is(log_count($nb, $nb_log0, $waiting_re->('plain')), 1,
		'no extension in intracker.database: the WARNING is logged once');
	is(log_count($nb, $nb_log0, $publisher_exit_re), 0,
		'no extension in intracker.database: the publisher never exited (no crash loop)');
	is(publisher_pid($nb), $nb_pub, 'no extension in intracker.database: same publisher pid');
	is(supervisor_pid($nb), $nb_sup, 'no extension in intracker.database: same supervisor pid');

	# The extension arrives: the same process starts publishing.
	$nb->safe_psql('plain', 'CREATE EXTENSION intracker');
	ok($nb->poll_query_until('plain',
			"SELECT state = 'idle' AND pid = $nb_pub FROM intracker.worker_status"),
		'CREATE EXTENSION in intracker.database: the waiting publisher is idle there');
	my $pteam = new_team($nb, 'plain', 'pia');
	add_todos($nb, 'plain', $pteam, 'pl', 2);
	wait_published($nb, 'plain');
	events_ok('CREATE EXTENSION in intracker.database', events_after($nb, 'plain', 0),
		after => 0, total => 4, tag => 'pl', n => 2);
	# event_retention is 1s on this server: all but the newest must go.
	ok(poll_for($nb, 'plain', 'SELECT count(*) = 1 FROM intracker_data.events', 15),
		"event_retention = '1s' from server start: events published after the extension was created are pruned")
	  or diag('events: ' . $nb->safe_psql('plain',
			"SELECT string_agg(seq || ' ' || published_at, ', ') FROM intracker_data.events"));
}

##############################################################################
# 2 (continued)

{
	# A fixed wait on purpose (what is left of it after section 4, which ran
	# meanwhile): the WARNING must not come again during 15 s, and no
	# condition becomes true to poll for.
	my $left = 15 - (Time::HiRes::time() - $t_warn);
	sleep($left) if $left > 0;
	is(log_count($node, $drop_off, $missing_re), 1,
		'DROP DATABASE: the supervisor\'s WARNING is logged once over 15 s');
	is(log_count($node, $warn_off, $publisher_exit_re), 0,
		'DROP DATABASE: no publisher started (and failed) after the WARNING');
	is(log_count($node, $drop_off, $supervisor_exit_re), 0, 'DROP DATABASE: the supervisor never exited');
	is(log_count($node, $drop_off, $crash_re), 0, 'DROP DATABASE: no crash restart');
	is(supervisor_pid($node), $sup, 'DROP DATABASE: same supervisor pid after 15 s');
	is(status_of($node, 'other')->{state}, 'waiting for database', 'DROP DATABASE: still waiting for the database');

	install_extension($node, 'tracker');
	poll_ok($node, 'tracker', "SELECT state = 'idle' AND pid IS NOT NULL FROM intracker.worker_status",
		'CREATE DATABASE + CREATE EXTENSION: the publisher is back');
	isnt(publisher_pid($node), $pub, 'CREATE DATABASE: a new publisher process');
	is(status_of($node, 'other')->{state}, 'serving another database',
		'CREATE DATABASE: seen from other, "serving another database" again');
	my $listener = start_listener($node, 'tracker', 'intracker');
	$team = new_team($node, 'tracker', 'olga');
	add_todos($node, 'tracker', $team, 'newdb', 2);
	wait_published($node, 'tracker');
	events_ok('new tracker database', events_after($node, 'tracker', 0),
		after => 0, total => 4, tag => 'newdb', n => 2);
	is_deeply(listener_seqs($listener, 'intracker', 4), [ 1 .. 4 ],
		'new tracker database: the LISTENer got NOTIFYs for seq 1..4');
	$listener->{stop}->();
	is(supervisor_pid($node), $sup, 'new tracker database: still the same supervisor');
}

note(sprintf('008 ran for %.1f s', Time::HiRes::time() - $t_start));
$node->stop;
$nb->stop;
done_testing();
