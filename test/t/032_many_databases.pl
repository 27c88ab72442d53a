# 032_many_databases.pl — one server, many databases (issue 17).
#
# Server "many": intracker.database = '*', intracker.max_databases = 3.
#
#   A. Picked up without a restart: CREATE EXTENSION in three new databases
#      (alpha, beta, gamma) after the server started gets each its own
#      publisher and deliverer; worker_status and deliverer_status show each
#      database its own processes; databases without the extension (postgres,
#      plain) keep no publisher; the supervisor stays the same process.
#   B. Each database its own events and NOTIFYs: todos in each one are
#      numbered in that database from its own seq, and a LISTENer in each
#      hears its own database's events only; a stale write is counted in
#      intracker.metrics and recorded as conflict.rejected in its own
#      database only.
#   C. gamma dropped and created again (with the extension) while writers in
#      alpha and beta commit one todo per transaction: alpha's and beta's
#      publishers are the same processes throughout, their logs are gap-free
#      with each todo's event exactly once; gamma is served again and numbers
#      its new events from 1.
#   D. intracker.max_databases exceeded: a fourth database with the
#      extension gets a WARNING (once: no retry loop), worker_status there
#      says so, events_since() there publishes on read; the others are
#      untouched.  DROP EXTENSION in gamma lets the fourth one in, NOTIFYs
#      and all.
#   E. The settings: intracker.database takes one name, a list or '*' alone;
#      intracker.max_databases is from 1 (ALTER SYSTEM refuses the others).
#
# Server "short": intracker.database = 'one, two' (a list) with too few
# max_worker_processes: a WARNING at start that says how many are needed,
# a WARNING (once per process that finds no room) instead of a crash loop,
# and the one that fits still publishes.
#
# No assertion is about duration: every wait is a poll.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use IPC::Run ();
use IntrackerTest;
use PublisherTest;

my @served = qw(alpha beta gamma);

# The database's own publisher and deliverer run, and its worker_status
# and deliverer_status show them.
sub served_ok
{
	my ($node, $db, $label) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	poll_ok($node, $db,
		"SELECT w.state = 'idle' AND w.pid IS NOT NULL AND d.pid IS NOT NULL AND d.state NOT IN ('starting', 'stopped')"
		  . " FROM intracker.worker_status w, intracker.deliverer_status d",
		"$label: $db has its publisher and deliverer");
	is($node->safe_psql($db, 'SELECT pid FROM intracker.worker_status'), publisher_pid($node, $db),
		"$label: worker_status in $db shows the publisher connected to $db");
	is($node->safe_psql($db, 'SELECT pid FROM intracker.deliverer_status'),
		backend_pid($node, 'intracker deliverer', $db),
		"$label: deliverer_status in $db shows the deliverer connected to $db");
	return;
}

# Poll until no publisher is connected to $db (a look into a database
# without the extension ends at once).
sub no_publisher_ok
{
	my ($node, $db, $label) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	ok(poll_for($node, 'postgres',
			"SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'intracker publisher' AND datname = '$db')",
			60),
		"$label: no publisher stays in $db");
	return;
}

# A background psql that commits $n todos "$tag-1" .. "$tag-$n", one per
# transaction, as the team's user.
sub start_writer
{
	my ($node, $db, $team, $tag, $n) = @_;
	my $script = "SELECT intracker.act_as('$team->{user}') \\gset\n"
	  . join('', map { "SELECT FROM intracker.create_todo('$team->{project}', '$tag-$_');\n" } 1 .. $n);
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($db) ],
		'<', \$script, '>', \$out, '2>', \$err);
	return { harness => $h, err => \$err };
}

##############################################################################
# Server "many"

my $node = new_node('many');
$node->append_conf('postgresql.conf',
	"intracker.database = '*'\nintracker.max_databases = 3\nmax_worker_processes = 16\n");
$node->restart;
my $sup = supervisor_pid($node);
like($sup, qr/^\d+$/, 'the supervisor runs');

##############################################################################
# A. Picked up without a restart

install_extension($node, $_) for @served;
$node->safe_psql('postgres', 'CREATE DATABASE plain');
served_ok($node, $_, 'A') for @served;
my %pub = map { $_ => publisher_pid($node, $_) } @served;
is(scalar(keys %{ { reverse %pub } }), 3, 'A: three publishers, one per database');
no_publisher_ok($node, $_, 'A') for qw(postgres plain);
is(supervisor_pid($node), $sup, 'A: the same supervisor (no restart)');
like($node->safe_psql('alpha', 'SELECT database FROM intracker.worker_status'), qr/^\*$/,
	'A: worker_status shows the setting');

##############################################################################
# B. Each database its own events and NOTIFYs

my (%team, %listener);
for my $db (@served)
{
	$team{$db} = new_team($node, $db, "u$db");
	wait_published($node, $db);
	$listener{$db} = start_listener($node, $db, 'intracker');
}
add_todos($node, $_, $team{$_}, "b-$_", 3) for @served;
for my $db (@served)
{
	wait_published($node, $db);
	my $heard = await_sentinel($node, $db, $listener{$db}, 'intracker');
	is(scalar @$heard, 3, "B: the listener in $db heard its own 3 events, not the others'");
	is(join(',', map { $_->[2] } @$heard), '3,4,5', "B: $db numbers its own events (seq 3..5 after its 2 team events)");
	events_ok("B: $db", events_after($node, $db, 2), after => 2, total => 3, tag => "b-$db", n => 3);
	$listener{$db}->{stop}->();
}

# and its own counters: a stale write in alpha counts in alpha only
{
	my $todo = safe_psql_as($node, 'alpha', $team{alpha}{user},
		"SELECT id FROM intracker.create_todo('$team{alpha}{project}', 'stale target')", via => 'superuser');
	my ($ret, $out, $err) = psql_as($node, 'alpha', $team{alpha}{user},
		"SELECT intracker.update_todo('$todo', '{\"title\": \"stale\"}', 9)", via => 'superuser');
	like($err, qr/PT409/, 'B: a stale write in alpha');
	my $conflicts = q{SELECT coalesce(sum(value), 0) FROM intracker.metrics
	                   WHERE name = 'intracker_conflicts_total' AND labels @> '{"entity": "todo"}'};
	is($node->safe_psql('alpha', $conflicts), '1', 'B: alpha counts its conflict');
	is($node->safe_psql($_, $conflicts), '0', "B: $_ counts none of alpha's") for qw(beta gamma);
	poll_ok($node, 'alpha', q{SELECT count(*) = 1 FROM intracker_data.events WHERE type = 'conflict.rejected'},
		'B: alpha\'s publisher records the rejected write');
	is($node->safe_psql($_, q{SELECT count(*) FROM intracker_data.events WHERE type = 'conflict.rejected'}), '0',
		"B: $_ records none of it") for qw(beta gamma);
	wait_published($node, 'alpha');
}

##############################################################################
# C. gamma dropped and created again while alpha and beta publish

my $per_writer = 150;
my @writers = map { start_writer($node, $_, $team{$_}, "c-$_", $per_writer) } qw(alpha beta);
my %before = map { $_ => max_seq($node, $_) } qw(alpha beta);
$node->safe_psql('postgres', 'DROP DATABASE gamma');
pass('C: DROP DATABASE gamma while its children ran');
install_extension($node, 'gamma');
for my $w (@writers)
{
	$w->{harness}->finish;
	is(${ $w->{err} }, '', 'C: a writer committed all its todos');
}
for my $db (qw(alpha beta))
{
	wait_published($node, $db);
	events_ok("C: $db while gamma was dropped and created", events_after($node, $db, $before{$db}),
		after => $before{$db}, total => $per_writer, tag => "c-$db", n => $per_writer);
	is(publisher_pid($node, $db), $pub{$db}, "C: $db kept its publisher throughout");
}
served_ok($node, 'gamma', 'C');
isnt(publisher_pid($node, 'gamma'), $pub{gamma}, 'C: gamma has a new publisher');
{
	my $listener = start_listener($node, 'gamma', 'intracker');
	my $team = new_team($node, 'gamma', 'ugamma2');
	wait_published($node, 'gamma');
	my $heard = await_sentinel($node, 'gamma', $listener, 'intracker');
	is(join(',', map { $_->[2] } @$heard), '1,2', 'C: the new gamma numbers its events from 1, and NOTIFYs them');
	$listener->{stop}->();
}

##############################################################################
# D. intracker.max_databases exceeded

my $log = log_size($node);
install_extension($node, 'delta');
my $over_re = qr/WARNING:  intracker: database "delta" is not served: intracker\.max_databases \(3\) databases are/;
is(wait_for_count($node, $log, $over_re, 1), 1, 'D: a fourth database: WARNING that max_databases are served');
like(log_since($node, $log), qr/HINT:  Raise intracker\.max_databases/, 'D: ... with a hint');
poll_ok($node, 'delta',
	"SELECT state = 'not served: intracker.max_databases reached' AND pid IS NULL FROM intracker.worker_status",
	'D: worker_status in delta says why it is not served');
is($node->safe_psql('delta', 'SELECT state FROM intracker.deliverer_status'), 'not served: intracker.max_databases reached',
	'D: so does deliverer_status');
no_publisher_ok($node, 'delta', 'D');
{
	my $team = new_team($node, 'delta', 'udelta');
	add_todos($node, 'delta', $team, 'd-delta', 2);
	events_ok('D: events_since() in delta publishes on read', events_after($node, 'delta', 0),
		after => 0, total => 4, tag => 'd-delta', n => 2);
	$team{delta} = $team;
}
# a while later: said once, the same processes (no loop of retries)
usleep(3_000_000);
is(log_count($node, $log, $over_re), 1, 'D: the WARNING is said once');
is(supervisor_pid($node), $sup, 'D: the same supervisor');
is(publisher_pid($node, $_), $pub{$_}, "D: $_ keeps its publisher") for qw(alpha beta);
no_publisher_ok($node, 'delta', 'D: still');

# gamma stops being served: delta gets in
$node->safe_psql('gamma', 'DROP EXTENSION intracker');
no_publisher_ok($node, 'gamma', 'D: DROP EXTENSION in gamma');
served_ok($node, 'delta', 'D: after gamma left');
{
	my $listener = start_listener($node, 'delta', 'intracker');
	add_todos($node, 'delta', $team{delta}, 'd2-delta', 1);
	wait_published($node, 'delta');
	my $heard = await_sentinel($node, 'delta', $listener, 'intracker');
	is(join(',', map { $_->[2] } @$heard), '5', 'D: delta, now served, NOTIFYs its next event (seq 5)');
	$listener->{stop}->();
}
is($node->safe_psql('gamma', q{SELECT count(*) FROM pg_extension WHERE extname = 'intracker'}), '0',
	'D: gamma has no extension left');

##############################################################################
# E. The settings

for my $case (
	[ 'intracker.database', q{'*, alpha'} ], [ 'intracker.database', q{''} ],
	[ 'intracker.database', q{'alpha,,beta'} ], [ 'intracker.max_databases', '0' ],
	[ 'intracker.max_databases', '1001' ])
{
	my ($name, $value) = @$case;
	my ($ret, $out, $err) = $node->psql('postgres', "ALTER SYSTEM SET $name = $value");
	isnt($ret, 0, "E: ALTER SYSTEM SET $name = $value is refused");
	like($err, qr/invalid value for parameter "\Q$name\E"|is outside the valid range/, "E: ... saying why ($name)");
}
my ($ret, $out, $err) = $node->psql('postgres', q{ALTER SYSTEM SET intracker.database = 'alpha, "Beta Db"'});
is($ret, 0, 'E: a list, with a quoted name, is accepted');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET intracker.database');

$node->stop;

##############################################################################
# Server "short": a list, and too few background workers

my $short = new_node('short');
$short->append_conf('postgresql.conf',
	"intracker.database = 'one, two'\nmax_worker_processes = 3\n");
$short->restart;
like(log_since($short, 0),
	qr/WARNING:  intracker: max_worker_processes \(3\) is too small to serve 2 databases\n.*DETAIL:  .* need 5 background workers.*\n.*HINT:  Raise max_worker_processes to at least 5/,
	'short: at start, a WARNING that says how many background workers are needed');
my $short_sup = supervisor_pid($short);
$log = log_size($short);
install_extension($short, $_) for qw(one two);
# the logical replication launcher, the supervisor and one child fill the three
my $first;
ok(poll_for($short, 'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type IN ('intracker publisher', 'intracker deliverer')", 60),
	'short: one child runs, in the one background worker left');
$first = $short->safe_psql('postgres', "SELECT datname FROM pg_stat_activity WHERE backend_type = 'intracker publisher'");
like($first, qr/^(one|two)$/, 'short: ... a publisher, in one of the two databases named');
my $no_room_re = qr/WARNING:  intracker: could not start the (?:publisher|deliverer) of database "(?:one|two)"/;
ok(wait_for_count($short, $log, $no_room_re, 2) >= 2, 'short: no room for the others: WARNINGs');
like(log_since($short, $log), qr/HINT:  Raise max_worker_processes, or lower intracker\.max_databases/, 'short: ... with a hint');
usleep(3_000_000);
ok(log_count($short, $log, $no_room_re) <= 3, 'short: said once per process that finds no room, not in a loop');
is(supervisor_pid($short), $short_sup, 'short: the same supervisor (no crash loop)');
{
	my $team = new_team($short, $first, 'uone');
	my $listener = start_listener($short, $first, 'intracker');
	add_todos($short, $first, $team, 's-one', 2);
	wait_published($short, $first);
	is(scalar @{ await_sentinel($short, $first, $listener, 'intracker') }, 2,
		'short: events are NOTIFYed where the publisher runs');
	$listener->{stop}->();
}
is($short->safe_psql($first, 'SELECT state FROM intracker.deliverer_status'), 'stopped',
	'short: deliverer_status says its deliverer is stopped');

done_testing();
