# 015_process_safety.pl — what users can do to the background processes
# (issue 12, items 1, 2 and part of 14).  supervisor.h names the processes.
#
# One server preloads intracker with intracker.database = 'tracker'.  The
# database tracker is owned by dbowner, a login role that is NOT a
# superuser; mallory is another login role with no rights at all.  The
# extension is created by the superuser (it is superuser-only).  Webhooks go
# to a local HTTP sink (test/helpers/http_sink.c), one path per part, so
# its log tells the parts apart.
#
#   A. search_path (item 1).  dbowner creates schema trap with its own
#      operators +(bigint,bigint), +(integer,integer), =(bigint,bigint),
#      =(uuid,uuid), =(text,text), <(bigint,bigint), <(timestamptz,
#      timestamptz), -(timestamptz,interval) and a domain trap.text, whose
#      functions, when run by anything but a client backend, record it in
#      trap.sprung and try ALTER ROLE dbowner SUPERUSER; then ALTER DATABASE
#      tracker SET search_path = trap, pg_catalog, public.  After a restart
#      the publisher prunes, publishes, fans out and the deliverer delivers
#      and records: the trap never ran in them, dbowner is still no
#      superuser, and each process logged that it ignores the database's
#      search_path.
#   B. Other settings of the database (item 1).  dbowner sets
#      default_transaction_read_only = on, default_transaction_isolation =
#      serializable, statement_timeout and lock_timeout = 1ms, role =
#      dbowner, TimeZone = 'Asia/Kathmandu' and plpgsql.extra_errors = 'all'
#      for tracker (this test's own sessions override them with PGOPTIONS),
#      and row_security = off, which this test's superuser sessions keep:
#      their writes as a user are still no restore (trigger_util.c), so they
#      queue events.  After a restart both processes work as before: events
#      published and delivered, no last_error, the body's timestamps in the
#      server's time zone, not +05:45.
#   C. DROP DATABASE / DROP EXTENSION that will not happen (item 2a): by
#      mallory (42501, with and without IF EXISTS), by dbowner in a
#      transaction block (25001) and from inside tracker (55006), DROP
#      EXTENSION by dbowner, who does not own it, and by mallory (42501),
#      ALTER DATABASE RENAME and CREATE DATABASE ... TEMPLATE tracker by
#      mallory (42501): each fails, and the publisher and the deliverer keep
#      their pids (checked after they published and delivered an event
#      written after the attempts, so a signal sent by an attempt would have
#      been acted on).
#   D. DROP EXTENSION under load (item 2b): 20 cycles of CREATE EXTENSION, a
#      team with a webhook to a slow endpoint, two writers committing todos
#      as fast as they can (they keep going across the drops), wait until
#      the deliverer sends, DROP EXTENSION by the superuser.  Every drop
#      succeeds (0 failures: it used to deadlock with the publisher), and no
#      request of a cycle's webhook reaches the sink after its drop committed
#      (the deliverer used to go on sending from the chains in its memory).
#      Each cycle's processes are new ones: the drop stopped them.
#   E. The other statements that need the database to themselves, by its
#      owner (given CREATEDB and CREATE on a tablespace): CREATE DATABASE
#      ... TEMPLATE tracker, ALTER DATABASE tracker SET TABLESPACE, RENAME
#      and back succeed with the processes running (they used to fail with
#      "being accessed by other users"); meanwhile the publisher waits for
#      its database; then they serve it again and deliver.  ALLOW_CONNECTIONS
#      false, and the publisher terminated: the supervisor says the database
#      does not accept connections and starts no publisher that would fail to
#      connect (it used to, with a FATAL, again and again); ALLOW_CONNECTIONS
#      true: they serve it again.
#   F. DROP DATABASE by its owner (item 2a, 14): with the publisher failing
#      (a CHECK constraint on intracker_data.events), the deliverer failing
#      to record (one on intracker_data.deliveries) and a stale write
#      rejected meanwhile (PT409, queued for the publisher in shared
#      memory), dbowner drops tracker: it succeeds.  CREATE DATABASE tracker
#      + CREATE EXTENSION: the new publisher shows no last_error (it used to
#      show the old database's), the deliverer neither, and the old
#      database's rejected write is not recorded in the new one.
#
# No assertion is about time: waits are polls, with generous limits only as
# hang guards.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use JSON::PP ();
use IntrackerTest;
use PublisherTest qw(add_todos);    # its other helpers have namesakes here

my $db   = 'tracker';
my $node = new_node('safety');
$node->append_conf('postgresql.conf', <<"EOC");
# added by 015_process_safety.pl
intracker.database = '$db'
intracker.http_retry_base_delay = '100ms'
intracker.http_timeout = '5s'
# the sink listens on 127.0.0.1
intracker.http_allow_private_networks = on
EOC
$node->safe_psql('postgres', q{
CREATE ROLE dbowner LOGIN NOSUPERUSER;
CREATE ROLE mallory LOGIN NOSUPERUSER;
});
$node->safe_psql('postgres', "CREATE DATABASE $db OWNER dbowner");
$node->safe_psql($db, 'CREATE EXTENSION intracker');
create_test_roles($node);
$node->restart;

my $sink = start_http_sink(log => 1);

##############################################################################
# Helpers

my $HANG_GUARD = $PostgreSQL::Test::Utils::timeout_default;

sub su { return $node->safe_psql($db, $_[0]) }

# psql as $role (superuser when undef) in $dbname, VERBOSITY verbose:
# ($ret, $stdout, $stderr).
sub psql_role
{
	my ($role, $dbname, $sql) = @_;
	my $connstr = $node->connstr($dbname) . (defined $role ? " user=$role" : '');
	my ($ret, $out, $err) = $node->psql($dbname, "\\set VERBOSITY verbose\n$sql", connstr => $connstr);
	return ($ret, $out, $err);
}

# Poll $query in $dbname until it prints 't' (at most the hang guard).
sub poll_ok
{
	my ($dbname, $query, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	return ok($node->poll_query_until($dbname, $query), $name);
}

sub child_pid
{
	my ($type) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(string_agg(pid::text, ','), '') FROM pg_stat_activity WHERE backend_type = 'intracker $type'");
}

# Requests the sink logged on paths containing $tag.
sub requests_of
{
	my ($tag) = @_;
	return [ grep { index($_->{path}, $tag) >= 0 } @{ $sink->{requests}->() } ];
}

# Wait until the sink logged at least $n requests on paths containing $tag;
# returns how many it did.
sub wait_requests
{
	my ($tag, $n) = @_;
	my $until = Time::HiRes::time() + $HANG_GUARD;
	my $got;
	while (1)
	{
		$got = scalar @{ requests_of($tag) };
		return $got if $got >= $n || Time::HiRes::time() > $until;
		usleep(20_000);
	}
}

# A user, a project it owns and a webhook of that project to the sink's
# $path (all events); returns { user, project, webhook }.  The project's
# own events are published before the webhook exists (with $wait; not while
# writers keep the publisher busy): only later events are delivered.
sub new_team
{
	my ($key, $path, %o) = @_;
	my $user = su("SELECT id FROM intracker.create_user('$key\@example.com', 'User $key')");
	my $project = safe_psql_as($node, $db, $user,
		"SELECT id FROM intracker.create_project('Project $key')", via => 'superuser');
	wait_published("$key: the project's events are published") unless $o{busy};
	my $webhook = safe_psql_as($node, $db, $user,
		"SELECT id FROM intracker.create_webhook('$project', " . q_lit($sink->{url} . $path) . ')',
		via => 'superuser');
	return { user => $user, project => $project, webhook => $webhook };
}

sub wait_published
{
	my ($name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	return poll_ok($db, "SELECT backlog = 0 AND state = 'idle' FROM intracker.worker_status",
		$name // 'the publisher published the backlog');
}

sub log_offset { return -s $node->logfile }

# Wait until $re appears in the server log after $offset (at most the hang
# guard); returns whether it did.
sub wait_log
{
	my ($re, $offset) = @_;
	my $until = Time::HiRes::time() + $HANG_GUARD;
	while (Time::HiRes::time() <= $until)
	{
		return 1 if slurp_file($node->logfile, $offset) =~ $re;
		usleep(100_000);
	}
	return 0;
}

# Wait until the processes serve tracker again after a restart.
sub wait_running
{
	my ($name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	return poll_ok($db,
		"SELECT p.state = 'idle' AND d.state = 'idle'"
		  . " FROM intracker.worker_status p, intracker.deliverer_status d",
		$name);
}

##############################################################################
# A. search_path: the database owner's operators never run in the processes

my $early = new_team('early', '/ok/early');
add_todos($node, $db, $early, 'early', 3);
wait_published('before the trap: published');
is(wait_requests('/ok/early', 3), 3, 'before the trap: 3 deliveries');

{
	my @ops = (
		[ '+', 'bigint', 'bigint', 'bigint' ],
		[ '+', 'integer', 'integer', 'integer' ],
		[ '=', 'bigint', 'bigint', 'boolean' ],
		[ '=', 'uuid', 'uuid', 'boolean' ],
		[ '=', 'text', 'text', 'boolean' ],
		[ '<', 'bigint', 'bigint', 'boolean' ],
		[ '<', 'timestamptz', 'timestamptz', 'boolean' ],
		[ '-', 'timestamptz', 'interval', 'timestamptz' ]);
	my $sql = <<'SQL';
CREATE SCHEMA trap;
CREATE TABLE trap.sprung (op text, backend_type text, role text, at timestamptz DEFAULT clock_timestamp());
GRANT INSERT ON trap.sprung TO PUBLIC;
-- Record the call and try to make dbowner a superuser, but only when not
-- called by a client backend (this test's own sessions use the same path).
CREATE FUNCTION trap.spring(op text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
    kind text := (SELECT a.backend_type FROM pg_stat_activity a WHERE a.pid = pg_backend_pid());
BEGIN
    IF kind IS DISTINCT FROM 'client backend' THEN
        INSERT INTO trap.sprung (op, backend_type, role) VALUES (op, kind, current_user);
        BEGIN
            EXECUTE 'ALTER ROLE dbowner SUPERUSER';
        EXCEPTION WHEN insufficient_privilege THEN
            NULL;
        END;
    END IF;
    RETURN true;
END
$f$;
CREATE DOMAIN trap.text AS pg_catalog.text CHECK (trap.spring('domain text'));
SQL
	my $i = 0;
	for my $op (@ops)
	{
		my ($name, $left, $right, $result) = @$op;
		$i++;
		$sql .= <<"SQL";
CREATE FUNCTION trap.op$i(a $left, b $right) RETURNS $result
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS \$f\$
BEGIN
    PERFORM trap.spring('$name($left,$right)');
    RETURN a $name b;
END
\$f\$;
CREATE OPERATOR trap.$name (LEFTARG = $left, RIGHTARG = $right, FUNCTION = trap.op$i);
SQL
	}
	$sql .= "ALTER DATABASE $db SET search_path = trap, pg_catalog, public;\n";
	my ($ret, $out, $err) = psql_role('dbowner', $db, $sql);
	is($ret, 0, 'search_path: the database owner (no superuser) creates schema trap and sets the search_path')
	  or diag($err);
}

my $off = log_offset();
$node->restart;
wait_running('search_path: the publisher and the deliverer are back after the restart');
{
	add_todos($node, $db, $early, 'trapped', 3);
	wait_published('search_path: published');
	is(wait_requests('/ok/early', 6), 6, 'search_path: the deliverer delivered the 3 new events');
	poll_ok($db,
		"SELECT count(*) = 0 FROM intracker_data.deliveries WHERE state <> 'delivered'",
		'search_path: the deliverer recorded the deliveries');
	my $sprung = su(q{SELECT count(*) FROM trap.sprung});
	is($sprung, '0', 'search_path: no operator or type of schema trap ran in the processes')
	  or diag(su(q{SELECT string_agg(concat_ws(' ', backend_type, op, role), E'\n') FROM trap.sprung}));
	is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'dbowner'}), 'f',
		'search_path: the database owner is still not a superuser');
	my $log = slurp_file($node->logfile, $off);
	for my $process ('publisher', 'deliverer')
	{
		like($log, qr/LOG:  intracker $process ignores the per-database and per-role values of [^\n]*search_path/,
			"search_path: the $process logged that it ignores the database's search_path");
	}
}

# The database back to normal (also for this test's sessions).
{
	my ($ret, $out, $err) = psql_role('dbowner', $db, "ALTER DATABASE $db RESET search_path; DROP SCHEMA trap CASCADE;");
	is($ret, 0, 'search_path: reset') or diag($err);
	# (if the trap worked, undo it so that the rest of the test is meaningful)
	$node->safe_psql('postgres', 'ALTER ROLE dbowner NOSUPERUSER');
}

##############################################################################
# B. The database's other settings do not reach the processes

{
	# (the DO loads plpgsql, so that its settings are known to the session)
	my ($ret, $out, $err) = psql_role('dbowner', $db, <<"SQL");
DO \$\$ BEGIN END \$\$;
ALTER DATABASE $db SET default_transaction_read_only = on;
ALTER DATABASE $db SET default_transaction_isolation = 'serializable';
ALTER DATABASE $db SET statement_timeout = '1ms';
ALTER DATABASE $db SET lock_timeout = '1ms';
ALTER DATABASE $db SET role = 'dbowner';
ALTER DATABASE $db SET TimeZone = 'Asia/Kathmandu';
ALTER DATABASE $db SET plpgsql.extra_errors = 'all';
ALTER DATABASE $db SET row_security = off;
SQL
	is($ret, 0, 'settings: the database owner sets them for the database') or diag($err);

	# This test's own sessions must not suffer them.
	local $ENV{PGOPTIONS} =
	  '-c default_transaction_read_only=off -c statement_timeout=0 -c lock_timeout=0 -c role=none -c plpgsql.extra_errors=none';
	my $off = log_offset();
	$node->restart;
	wait_running('settings: the publisher and the deliverer are idle after the restart');
	my $team = new_team('settings', '/ok/settings');
	add_todos($node, $db, $team, 'settings', 2);
	wait_published('settings: published');
	is(su(q{SELECT current_setting('row_security')}), 'off',
		"settings: this test's superuser sessions have the database's row_security = off");
	is(wait_requests('/ok/settings', 2), 2,
		'settings: the deliverer delivered the 2 events (a superuser writing with the database\'s row_security = off is no restore)');
	poll_ok($db, "SELECT count(*) = 0 FROM intracker_data.deliveries WHERE state <> 'delivered'",
		'settings: the deliverer recorded the deliveries');
	is(su('SELECT last_error IS NULL FROM intracker.worker_status'), 't', 'settings: no publisher error')
	  or diag(su('SELECT last_error FROM intracker.worker_status'));
	is(su('SELECT last_error IS NULL FROM intracker.deliverer_status'), 't', 'settings: no deliverer error')
	  or diag(su('SELECT last_error FROM intracker.deliverer_status'));
	my $first = requests_of('/ok/settings')->[0];
	my $body = $first ? JSON::PP->new->decode($first->{body}) : {};
	my $server_offset = $node->safe_psql('postgres', q{SELECT to_char(now(), 'TZH:TZM')});
	like($body->{published_at} // '', qr/\Q$server_offset\E$/,
		"settings: timestamps in the server's time zone ($server_offset), not the database's (+05:45)");
	my $log = slurp_file($node->logfile, $off);
	like($log,
		qr/LOG:  intracker publisher ignores the per-database and per-role values of (?=[^\n]*default_transaction_read_only)(?=[^\n]*\brole\b)(?=[^\n]*TimeZone)(?=[^\n]*plpgsql\.extra_errors)/,
		'settings: the publisher logged which settings it ignores');

	# (by the superuser: the owner's RESET ALL keeps plpgsql.extra_errors
	# when plpgsql is not loaded in its session)
	$node->safe_psql('postgres', "ALTER DATABASE $db RESET ALL");
	$node->restart;
	wait_running('settings: back after the reset');
}

##############################################################################
# C. A DROP that will not happen does not touch the processes

{
	my ($pub, $del) = (child_pid('publisher'), child_pid('deliverer'));
	like($pub, qr/^\d+$/, "one publisher ($pub)");
	like($del, qr/^\d+$/, "one deliverer ($del)");
	my @attempts = (
		[ 'mallory', 'postgres', "DROP DATABASE $db",                    '42501', 'by a role that may not drop it' ],
		[ 'mallory', 'postgres', "DROP DATABASE IF EXISTS $db",          '42501', 'IF EXISTS, by a role that may not drop it' ],
		[ 'dbowner', 'postgres', "BEGIN;\nDROP DATABASE $db;\nROLLBACK;", '25001', 'by its owner in a transaction block' ],
		[ 'dbowner', $db,        "DROP DATABASE $db",                    '55006', 'by its owner from inside it' ],
		[ 'dbowner', $db,        'DROP EXTENSION intracker',             '42501', 'DROP EXTENSION by a role that does not own it' ],
		[ 'mallory', $db,        'DROP EXTENSION IF EXISTS intracker',   '42501', 'DROP EXTENSION IF EXISTS by a role that does not own it' ],
		[ 'mallory', 'postgres', "ALTER DATABASE $db RENAME TO stolen",  '42501', 'RENAME by a role that does not own it' ],
		[ 'mallory', 'postgres', "CREATE DATABASE stolen TEMPLATE $db",  '42501', 'a copy by a role that may not copy it' ]);
	for my $a (@attempts)
	{
		my ($role, $dbname, $sql, $code, $what) = @$a;
		my ($ret, $out, $err) = psql_role($role, $dbname, $sql);
		is_sqlstate($err, $code, "failing drop $what: $code", $out);
	}
	my $team = new_team('nodrop', '/ok/nodrop');
	add_todos($node, $db, $team, 'nodrop', 1);
	wait_published('failing drops: published');
	is(wait_requests('/ok/nodrop', 1), 1, 'failing drops: the deliverer delivered the event');
	is(child_pid('publisher'), $pub, 'failing drops: the publisher was not stopped (same pid)');
	is(child_pid('deliverer'), $del, 'failing drops: the deliverer was not stopped (same pid)');
}

##############################################################################
# D. DROP EXTENSION under load, 20 times

{
	my $cycles = 20;
	su(q{
CREATE TABLE public.writers_target (user_id uuid, project_id uuid);
INSERT INTO public.writers_target VALUES (NULL, NULL);
CREATE TABLE public.writers_stop ();
});
	# Writers commit one todo at a time, in whatever project writers_target
	# names; while the extension is gone (or being dropped) their calls
	# fail, and they go on.  Dynamic SQL: the functions come and go.
	my $writer_script = q{
DO $w$
DECLARE
    target record;
    n bigint := 0;
    failed bigint := 0;
BEGIN
    WHILE NOT EXISTS (SELECT FROM public.writers_stop) LOOP
        SELECT * INTO target FROM public.writers_target;
        BEGIN
            n := n + 1;
            EXECUTE 'SELECT intracker.act_as($1)' USING target.user_id;
            EXECUTE 'SELECT intracker.create_todo($1, $2)' USING target.project_id, 'load-' || n;
        EXCEPTION WHEN OTHERS THEN
            failed := failed + 1;
            PERFORM pg_sleep(0.005);
        END;
        COMMIT;
    END LOOP;
    RAISE NOTICE 'writer: % attempts, % failed', n, failed;
END
$w$;
};
	my @writers = map { IntrackerTest::Session->new($node, $db, name => "writer$_", via => 'superuser') } 1 .. 2;
	$_->send($writer_script) for @writers;

	my (@failures, @committed_at, %pids);
	for my $cycle (1 .. $cycles)
	{
		su('CREATE EXTENSION intracker') if $cycle > 1;
		my $team = new_team("c$cycle", "/slow/20/cycle$cycle/", busy => 1);
		su("UPDATE public.writers_target SET user_id = '$team->{user}', project_id = '$team->{project}'");
		# The deliverer is sending this cycle's deliveries (and the
		# publisher publishing the writers' events).
		my $got = wait_requests("/cycle$cycle/", 5);
		if ($got < 5)
		{
			fail("cycle $cycle: the deliverer never sent (got $got)");
			diag(su('SELECT concat_ws(\' | \', p.state, p.last_error, d.state, d.last_error) FROM intracker.worker_status p, intracker.deliverer_status d'));
			last;
		}
		$pids{ child_pid('publisher') . '/' . child_pid('deliverer') }++;
		my ($ret, $out, $err) = psql_role(undef, $db,
			"DROP EXTENSION intracker;\nSELECT extract(epoch FROM clock_timestamp());");
		if ($ret != 0)
		{
			push @failures, "cycle $cycle: " . (sqlstate_of($err) || $err);
			diag("cycle $cycle: DROP EXTENSION failed: $err");
			# Drop it anyway for the next cycle.
			for (1 .. 20)
			{
				my ($r) = psql_role(undef, $db, 'DROP EXTENSION IF EXISTS intracker');
				last if $r == 0;
			}
			$committed_at[$cycle] = undef;
			next;
		}
		($committed_at[$cycle]) = $out =~ /([\d.]+)\s*$/;
	}
	is(scalar @failures, 0, "DROP EXTENSION under write load: $cycles attempts, no failure")
	  or diag(join("\n", @failures));

	# A last CREATE EXTENSION: the processes are back (so anything the old
	# ones still sent has arrived by the time this one's deliveries do).
	su('CREATE EXTENSION intracker');
	my $final = new_team('final', '/ok/final/', busy => 1);
	su("UPDATE public.writers_target SET user_id = '$final->{user}', project_id = '$final->{project}'");
	cmp_ok(wait_requests('/ok/final/', 5), '>=', 5, 'after the last drop: CREATE EXTENSION, and the processes deliver again');
	su('INSERT INTO public.writers_stop DEFAULT VALUES');
	for my $w (@writers)
	{
		my ($out, $err) = $w->wait_result;
		like($err, qr/writer: \d+ attempts/, "$w->{name} ran to the end");
		note("$w->{name}: $err");
		$w->quit;
	}

	my @late;
	for my $cycle (1 .. $cycles)
	{
		next unless defined $committed_at[$cycle];
		my @after = grep { $_->{t} > $committed_at[$cycle] } @{ requests_of("/cycle$cycle/") };
		push @late, sprintf('cycle %d: %d request(s) after the drop committed (first %.3f s after)',
			$cycle, scalar @after, $after[0]{t} - $committed_at[$cycle])
		  if @after;
	}
	is(join("\n", @late), '', 'no webhook request reached the sink after its DROP EXTENSION committed');
	is(scalar keys %pids, $cycles, 'each cycle had a publisher and a deliverer of its own (the drop stopped them)')
	  or diag(join(', ', sort keys %pids));
}

##############################################################################
# E. Copy, move, rename: the processes step aside for their owner

{
	$node->safe_psql('postgres', 'ALTER ROLE dbowner CREATEDB');
	my $tsdir = PostgreSQL::Test::Utils::tempdir();
	$node->safe_psql('postgres', "CREATE TABLESPACE safety_ts LOCATION '$tsdir'");
	$node->safe_psql('postgres', 'GRANT CREATE ON TABLESPACE safety_ts TO dbowner');
	my $team = new_team('moved', '/ok/moved/');

	my ($ret, $out, $err) = psql_role('dbowner', 'postgres', "CREATE DATABASE tracker_copy TEMPLATE $db");
	is($ret, 0, 'CREATE DATABASE ... TEMPLATE tracker by its owner with the processes running succeeds') or diag($err);
	my ($r, $copied) = $node->psql('tracker_copy', "SELECT count(*) FROM intracker_data.projects WHERE id = '$team->{project}'");
	is($copied, '1', 'the copy has the project');
	($ret, $out, $err) = psql_role('dbowner', 'postgres', "ALTER DATABASE $db SET TABLESPACE safety_ts");
	is($ret, 0, 'ALTER DATABASE SET TABLESPACE by its owner with the processes running succeeds') or diag($err);
	($ret, $out, $err) = psql_role('dbowner', 'postgres', "ALTER DATABASE $db RENAME TO tracker_moved");
	is($ret, 0, 'ALTER DATABASE RENAME by its owner with the processes running succeeds') or diag($err);
	poll_ok('tracker_copy', q{SELECT state = 'waiting for database' AND pid IS NULL FROM intracker.worker_status},
		'renamed: the publisher waits for a database named tracker');
	($ret, $out, $err) = psql_role('dbowner', 'postgres', "ALTER DATABASE tracker_moved RENAME TO $db");
	is($ret, 0, 'renamed back') or diag($err);
	wait_running('renamed back: the publisher and the deliverer serve it again');
	add_todos($node, $db, $team, 'moved', 1);
	is(wait_requests('/ok/moved/', 1), 1, 'moved and renamed back: delivered');
	$node->safe_psql('postgres', 'DROP DATABASE IF EXISTS tracker_copy');

	# Connections turned off: a publisher that stops cannot come back, and
	# the supervisor waits instead of starting one that fails to connect.
	my $off = log_offset();
	($ret, $out, $err) = psql_role('dbowner', 'postgres', "ALTER DATABASE $db ALLOW_CONNECTIONS false");
	is($ret, 0, 'the owner turns connections off') or diag($err);
	$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'intracker publisher'});
	ok(wait_log(qr/WARNING:  intracker: database "$db" does not accept connections/, $off),
		'connections off: the supervisor says that the database does not accept connections');
	unlike(slurp_file($node->logfile, $off), qr/FATAL:  database "$db" is not currently accepting connections/,
		'connections off: it started no publisher that failed to connect');
	($ret, $out, $err) = psql_role('dbowner', 'postgres', "ALTER DATABASE $db ALLOW_CONNECTIONS true");
	is($ret, 0, 'the owner turns connections on') or diag($err);
	wait_running('connections on: the publisher and the deliverer serve the database again');
	add_todos($node, $db, $team, 'reopened', 1);
	is(wait_requests('/ok/moved/', 2), 2, 'connections on: delivered');
}

##############################################################################
# F. DROP DATABASE by its owner: nothing of the old database survives

{
	my $team = new_team('olddb', '/ok/olddb/');
	add_todos($node, $db, $team, 'olddb-first', 1);
	is(wait_requests('/ok/olddb/', 1), 1, 'old database: delivered');

	# The deliverer fails to record a delivery...
	su(q{ALTER TABLE intracker_data.deliveries ADD CONSTRAINT safety_no_record CHECK (state <> 'delivered') NOT VALID});
	add_todos($node, $db, $team, 'olddb', 1);
	poll_ok($db, q{SELECT last_error LIKE '%safety_no_record%' FROM intracker.deliverer_status},
		'old database: the deliverer shows its error');
	# ... the publisher fails to publish ...
	my $max = su('SELECT max(seq) FROM intracker_data.events');
	su("ALTER TABLE intracker_data.events ADD CONSTRAINT safety_no_publish CHECK (seq <= $max) NOT VALID");
	add_todos($node, $db, $team, 'olddb-late', 1);
	poll_ok($db, q{SELECT last_error LIKE '%safety_no_publish%' FROM intracker.worker_status},
		'old database: the publisher shows its error');
	# ... and a stale write is rejected meanwhile, for the publisher to record.
	my $todo = su(q{SELECT id FROM intracker_data.todos WHERE title = 'olddb-late-1'});
	my ($ret, $out, $err) = psql_as($node, $db, $team->{user},
		"SELECT intracker.update_todo('$todo', '{\"title\": \"stale\"}', 99)", via => 'superuser');
	is_sqlstate($err, 'PT409', 'old database: a stale write is rejected', $out);

	($ret, $out, $err) = psql_role('dbowner', 'postgres', "DROP DATABASE $db");
	is($ret, 0, 'DROP DATABASE by its owner (no superuser) with the processes running succeeds') or diag($err);
	poll_ok('postgres', q{SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type IN ('intracker publisher', 'intracker deliverer')},
		'DROP DATABASE: no publisher or deliverer runs');

	$node->safe_psql('postgres', "CREATE DATABASE $db OWNER dbowner");
	su('CREATE EXTENSION intracker');
	wait_running('new database: the publisher and the deliverer serve it');
	my $new = new_team('newdb', '/ok/newdb/');
	add_todos($node, $db, $new, 'newdb', 1);
	wait_published('new database: published');
	is(wait_requests('/ok/newdb/', 1), 1, 'new database: delivered');
	is(su(q{SELECT concat_ws(' | ', last_error, last_error_at) FROM intracker.worker_status}), '',
		"new database: worker_status shows no last_error (not the old database's)");
	is(su(q{SELECT concat_ws(' | ', last_error, last_error_at) FROM intracker.deliverer_status}), '',
		"new database: deliverer_status shows no last_error (not the old database's)");
	is(su(q{SELECT count(*) FROM intracker_data.events WHERE type = 'conflict.rejected'}), '0',
		"new database: the old database's rejected write is not recorded in it");
}

$sink->{stop}->();
$node->stop;
done_testing();
