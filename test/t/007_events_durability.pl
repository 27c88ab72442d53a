# 007_events_durability.pl — the delivery guarantees of the change events
# (0.4): concurrent writers, listeners that come and go, and crashes.
#
# One server preloads intracker with intracker.database = 'tracker' and
# restart_after_crash = on.  Every writer is a non-superuser (tracker_admin,
# act_as) acting as a project member, so RLS and the triggers apply as in
# production; every replay goes through intracker.events_since() in pages.
#
#   1. 8 concurrent writers (separate psql processes started together at an
#      advisory-lock barrier) run ~1,400 small autocommit transactions on one
#      project: title updates of their own todos and of 4 shared "hot" todos
#      (read-then-write, so some lose the race with PT409), status changes,
#      assignments, new todos, and deliberately stale writes (an old
#      expected_version: PT409; a PostgREST If-Match header: PT412).  Each
#      committed statement printed its todo's id and new version; each
#      rejection is parsed from stderr.  Then:
#        - events_since(0) paged (97 at a time) as a member of intracker_admin
#          returns seq 1..N, gap-free, no duplicate; N = setup changes +
#          committed statements + PT409/PT412 rejections;
#        - every committed change (entity_id, version) is exactly one event of
#          the right type, with the writer as actor; every rejection is
#          exactly one conflict.rejected event (entity, attempted and current
#          version, SQLSTATE, actor); nothing else;
#        - a libpq listener (test/helpers/listen.c) on "intracker" and on the
#          project's channel, running during the load, receives every seq
#          exactly once per channel, in increasing order, with payloads of
#          exactly {seq, type, project_id, entity_id, actor, version} equal to
#          the replayed events;
#        - a listener stopped midway, then a new one that LISTENs, replays
#          events_since(last seq seen, project) in pages as a project member
#          while the writers go on, and drops notifications it already has,
#          ends with exactly the full sequence.
#   2. kill -9 of the publisher in the middle of a 100,000-event stream (4
#      writers, 200 transactions of 500 rows each: multi-row title UPDATEs
#      and INSERTs, every row one event): the postmaster crash-restarts; each
#      writer's psql loses its connection; the writers resume after the
#      transaction that was in flight (its outcome unknown).  After the
#      backlog drains, events_since(0) returns seq 1..N gap-free; every
#      acknowledged transaction has all its 500 events, the in-flight ones
#      all or none (and the stored rows agree: row versions and inserted rows
#      count exactly the transactions whose events exist); what was published
#      before the crash is still there, and what was committed but not yet
#      published is published after it.  A listener cut off by the crash is
#      replaced by one that LISTENs, replays from its last seq and
#      deduplicates: it ends with exactly the full sequence.
#   3. The same stream with an immediate shutdown ($node->stop('immediate'))
#      and a start in the middle.
#   4. After each restart the publisher logs "intracker publisher started:
#      last published seq N, M events waiting" with N at least what was
#      published before the crash and N + M exactly what was committed
#      before it; worker_status comes back to 'idle' with backlog 0 under a
#      new pid.
#
# No assertion depends on timing: every wait is a poll with a generous
# timeout.  Scripts and writer outputs are kept in tmp_check (007_*).

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run ();
use JSON::PP ();
use Time::HiRes qw(gettimeofday tv_interval usleep);
use List::Util qw(max min);
use IntrackerTest;

my $t_all = [gettimeofday];
my $db    = 'tracker';
my $json  = JSON::PP->new->canonical;

my $node = new_node('events');
$node->append_conf('postgresql.conf', <<'EOC');
# added by 007_events_durability.pl
intracker.database = 'tracker'
restart_after_crash = on
EOC
install_extension($node, $db);
create_test_roles($node);
# intracker.database is read at server start; restarting now lets the
# supervisor find the new database at once instead of at its next recheck.
$node->restart;

# Superuser query in the test database.
sub sql
{
	my ($query) = @_;
	return $node->safe_psql($db, $query);
}

sub publisher_state
{
	return sql(q{SELECT coalesce(pid, 0), state, coalesce(last_published_seq, 0), backlog,
                        rejected_writes_dropped FROM intracker.worker_status});
}

# Wait until the publisher has published everything that was committed.
sub wait_drained
{
	my ($label) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $ok = $node->poll_query_until($db,
		q{SELECT state = 'idle' AND backlog = 0 FROM intracker.worker_status});
	ok($ok, "$label: worker_status reaches state 'idle' with backlog 0")
	  or diag('worker_status: ' . publisher_state());
	return $ok;
}

$node->poll_query_until($db,
	q{SELECT state = 'idle' FROM intracker.worker_status})
  or die 'the publisher did not start: ' . publisher_state();
my ($first_pid) = split /\|/, publisher_state();
is(sql(qq{SELECT backend_type FROM pg_stat_activity WHERE pid = $first_pid}),
	'intracker publisher',
	'worker_status.pid is the "intracker publisher" background worker');

##############################################################################
# Helpers: replay, sequence checks, psql script processes, barrier
##############################################################################

# The column every replay selects after the fixed ones: for a conflict its
# entity/attempted/current/sqlstate, otherwise the new title (the writers'
# tag), or ''.
my $DETAIL = q{CASE WHEN e.type = 'conflict.rejected'
                    THEN concat_ws('/', e.changes ->> 'entity', coalesce(e.changes ->> 'attempted_version', '-'),
                                   e.changes ->> 'current_version', e.changes ->> 'sqlstate')
                    ELSE coalesce(e.changes -> 'title' ->> 'new', '') END};
my @FIELDS = qw(seq type project_id entity_id actor version detail);

# Replay with intracker.events_since(): $o{page} events per call, each call
# its own psql session, from $o{after} until a page comes back short.
# $o{as}: a user id to act as (a member, RLS applies), or undef for
# tracker_admin without identity (a member of intracker_admin: sees all).
# $o{project}: the project filter (undef: all).  $o{each} is called with a
# hash of @FIELDS for every event.  Returns (number of events, pages, seqs).
sub replay
{
	my (%o) = @_;
	my $after = $o{after} // 0;
	my ($n, $pages, @seqs) = (0, 0);
	my $project = defined $o{project} ? q_lit($o{project}) . '::uuid' : 'NULL';
	while (1)
	{
		my $out = safe_psql_as(
			$node, $db, $o{as},
			"SELECT e.seq, e.type, e.project_id, e.entity_id, coalesce(e.actor::text, ''),
                    coalesce(e.version::text, ''), $DETAIL
               FROM intracker.events_since($after, $project, $o{page}) e",
			via => defined $o{as} ? 'act_as' : 'none');
		$pages++;
		my @lines = split /\n/, $out;
		for my $line (@lines)
		{
			my %e;
			@e{@FIELDS} = split /\|/, $line, scalar @FIELDS;
			push @seqs, $e{seq};
			$o{each}->(\%e) if $o{each};
			$n++;
		}
		# A short page: caught up (a client now relies on its notifications).
		last if @lines < $o{page};
		$after = $seqs[-1];
	}
	return ($n, $pages, \@seqs);
}

# '' when @$seqs is exactly $from, $from + 1, ..., $to; otherwise what is
# wrong (missing, duplicated, out of order, out of range), with examples.
sub sequence_problems
{
	my ($seqs, $from, $to) = @_;
	my (%seen, @dup, @order, @outside, $prev);
	for my $s (@$seqs)
	{
		push @dup, $s if $seen{$s}++;
		push @order, "$prev then $s" if defined $prev && $s <= $prev;
		push @outside, $s if $s < $from || $s > $to;
		$prev = $s;
	}
	my @missing = grep { !$seen{$_} } $from .. $to;
	my $few = sub { my @l = @_; join(', ', @l[ 0 .. min(9, $#l) ]) . (@l > 10 ? ', ...' : '') };
	my @p;
	push @p, scalar(@missing) . ' missing (' . $few->(@missing) . ')' if @missing;
	push @p, scalar(@dup) . ' duplicated (' . $few->(@dup) . ')'      if @dup;
	push @p, scalar(@order) . ' out of order (' . $few->(@order) . ')' if @order;
	push @p, scalar(@outside) . " outside $from..$to (" . $few->(@outside) . ')' if @outside;
	return join('; ', @p);
}

# A real libpq listener (IntrackerTest::build_listener, test/helpers/listen.c)
# whose output goes to a file rather than a pipe: a listener that receives
# 100,000 notifications never waits for the test to read them, and reading
# them costs one file read.  (IntrackerTest::start_listener pipes its output
# and must be pumped; fine for a few thousand lines.)
my $listener_count = 0;

sub start_file_listener
{
	my (@channels) = @_;
	my $file = "$PostgreSQL::Test::Utils::tmp_check/007_listener" . ++$listener_count;
	my $in   = '';
	my $h    = IPC::Run::start([ build_listener(), $node->connstr($db), @channels ],
		'<', \$in, '>', "$file.out", '2>', "$file.err");
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	until (-s "$file.out" && slurp_file("$file.out") =~ /^READY\n/)
	{
		die "listener did not start: " . slurp_file("$file.err")
		  if time > $deadline || !$h->pumpable;
		usleep(10_000);
	}
	return { h => $h, file => $file, in => \$in };
}

sub stop_listener
{
	my ($l) = @_;
	$l->{h}->finish;
	return;
}

# Notifications of a listener so far: [ [channel, payload], ... ] in arrival
# order, and its "LOST ..." line if the server connection ended.
sub notifications
{
	my ($l) = @_;
	my $content = slurp_file("$l->{file}.out");
	my (@n, $lost);
	for my $line ($content =~ /^(.*)\n/mg)
	{
		my @f = split /\t/, $line, 3;
		push @n, [ $f[1], $f[2] ] if @f == 3;
	}
	$lost = $1 if $content =~ /^(LOST.*)$/m;
	return (\@n, $lost);
}

sub payload_seq
{
	my ($payload) = @_;
	return $payload =~ /"seq"\s*:\s*(\d+)/ ? $1 : die "no seq in payload: $payload";
}

# The client protocol for exactly-once delivery: what it had before ($have,
# seqs in order), then the replayed seqs, then the new listener's
# notifications whose seq is above the last one it has.  Returns the
# resulting list and how many notifications were dropped as already seen.
sub dedup_client
{
	my ($have, $replayed, $notified) = @_;
	my @all = (@$have, @$replayed);
	my $last = @all ? $all[-1] : 0;
	my $dropped = 0;
	for my $s (@$notified)
	{
		if ($s <= $last) { $dropped++; next }
		push @all, $s;
		$last = $s;
	}
	return (\@all, $dropped);
}

# A psql process running a script file as tracker_admin, output to files
# (nothing to pump, so it never stalls on a full pipe).
sub start_psql_script
{
	my ($name, $script) = @_;
	my $base = "$PostgreSQL::Test::Utils::tmp_check/007_$name";
	open my $fh, '>', "$base.sql" or die "cannot write $base.sql: $!";
	print $fh $script;
	close $fh;
	my $h = IPC::Run::start(
		[
			'psql', '-X', '-A', '-t', '-q',
			'-d', $node->connstr($db) . ' user=tracker_admin',
			'-f', "$base.sql"
		],
		'<', '/dev/null', '>', "$base.out", '2>', "$base.err");
	return { name => $name, h => $h, base => $base };
}

sub psql_running
{
	my ($p) = @_;
	return !exists $p->{exit} && $p->{h}->pumpable;
}

# Wait until the processes have ended (killing them after $timeout seconds);
# each gets {exit}, {out} and {err}.
sub wait_psql_scripts
{
	my ($timeout, @procs) = @_;
	my $deadline = time + $timeout;
	while (grep { psql_running($_) } @procs)
	{
		if (time > $deadline)
		{
			diag("psql scripts still running after ${timeout}s: "
				  . join(', ', map { $_->{name} } grep { psql_running($_) } @procs));
			$_->{h}->kill_kill for grep { psql_running($_) } @procs;
			last;
		}
		usleep(20_000);
	}
	for my $p (@procs)
	{
		next if exists $p->{exit};
		$p->{h}->finish;
		my $status = $p->{h}->full_result // 0;
		$p->{exit} = ($status & 127) ? 'signal ' . ($status & 127) : $status >> 8;
		$p->{out}  = slurp_file("$p->{base}.out");
		$p->{err}  = slurp_file("$p->{base}.err");
	}
	return;
}

# Barrier: scripts start with barrier_line($key) and wait there until
# release_barrier($key, $n) sees $n of them waiting and lets them all go.
my %barrier;

sub hold_barrier
{
	my ($key) = @_;
	my $controller = $node->background_psql($db);
	$controller->query_safe("SELECT pg_advisory_lock(4242, $key)");
	$barrier{$key} = $controller;
	return "SELECT pg_advisory_xact_lock_shared(4242, $key) \\gset\n";
}

sub release_barrier
{
	my ($key, $n) = @_;
	$node->poll_query_until($db,
		"SELECT count(*) = $n FROM pg_locks WHERE locktype = 'advisory' AND classid = 4242 AND objid = $key AND NOT granted"
	) or die "not all $n scripts reached barrier $key";
	$barrier{$key}->query_safe("SELECT pg_advisory_unlock(4242, $key)");
	$barrier{$key}->quit;
	delete $barrier{$key};
	return;
}

# Errors psql printed, other than those listed, as "SQLSTATE: message" lines.
sub unexpected_errors
{
	my ($stderr, @allowed) = @_;
	my %ok = map { $_ => 1 } @allowed;
	my @bad;
	while ($stderr =~ /(?:ERROR|FATAL):\s+([0-9A-Z]{5}):\s*([^\n]*)/g)
	{
		push @bad, "$1: $2" unless $ok{$1};
	}
	return join("\n", @bad);
}

##############################################################################
# 1. Eight concurrent writers, listeners, replay
##############################################################################

my $users = create_users($node, $db,
	owner => 'human',
	map { ("m$_" => ($_ % 2 ? 'human' : 'agent')) } 1 .. 8);
my @member = map { $users->{"m$_"} } 0 .. 8;    # $member[1..8]
my %actor_name = map { $users->{$_} => $_ } keys %$users;

my $P = safe_psql_as($node, $db, $users->{owner},
	q{SELECT id FROM intracker.create_project('Events under load')});
safe_psql_as($node, $db, $users->{owner},
	join('', map { "SELECT FROM intracker.add_member('$P', '$member[$_]', 'editor');\n" } 1 .. 8));
my $new_todo = sub {
	my ($as, $title) = @_;
	return safe_psql_as($node, $db, $as,
		"SELECT id FROM intracker.create_todo('$P', " . q_lit($title) . ')');
};
my @hot = map { $new_todo->($users->{owner}, "hot $_") } 0 .. 3;
# Version 2: a write based on version 1 is certainly stale.
safe_psql_as($node, $db, $users->{owner},
	join('', map { "SELECT FROM intracker.update_todo('$hot[$_]', '{\"title\": \"hot $_ v2\"}', 1);\n" } 0 .. 3));
my %own;    # writer => [5 todo ids]
for my $i (1 .. 8)
{
	$own{$i} = [ map { $new_todo->($users->{owner}, "own $i.$_") } 0 .. 4 ];
}
# project.created + the owner's member.added + 8 member.added + 4 + 40
# todo.created + 4 todo.updated
my $setup_changes = 1 + 1 + 8 + 4 + 40 + 4;

wait_drained('setup of part 1');
my $S0 = sql('SELECT max(seq) FROM intracker_data.events');
is($S0, $setup_changes, "part 1 setup: one event per change ($setup_changes)");

# The writers' scripts: every writing statement is its own transaction
# (autocommit; the If-Match ones in BEGIN ... COMMIT with request.headers set
# locally) and prints "op|todo id|new version|title" when it succeeds (op: C
# created, U title updated, S status changed, A assignee changed).
my %type_of = (C => 'todo.created', U => 'todo.updated', S => 'todo.status_changed', A => 'todo.assigned');
my $ROUNDS  = 60;
my @statuses = ('in_progress', 'review', 'done', 'todo');
my (%script, $statements, $certain_stale);
my $barrier1 = hold_barrier(1);
for my $i (1 .. 8)
{
	my @own = @{ $own{$i} };
	my %version  = map { $_ => 1 } @own;
	my %status   = map { $_ => 0 } @own;
	my %assigned = map { $_ => 0 } @own;
	my @s;
	my $write = sub {
		my ($op, $todo, $changes, $expected) = @_;
		push @s, "SELECT '$op', t.id, t.version, t.title FROM intracker.update_todo('$todo', "
		  . q_lit($json->encode($changes)) . "::jsonb, $expected) t;";
	};
	for my $r (1 .. $ROUNDS)
	{
		my $o = $own[ $r % 5 ];
		$write->('U', $o, { title => "w$i r$r own" }, $version{$o}++);
		# read-then-write on a shared todo: a concurrent writer may win (PT409)
		my $h = $hot[ ($i + $r) % 4 ];
		$write->('U', $h, { title => "w$i r$r hot" },
			"(SELECT v.version FROM intracker.todos v WHERE v.id = '$h')");
		if ($r % 3 == 0)
		{
			my $t = $own[ ($r + 1) % 5 ];
			push @s, "SELECT 'S', t.id, t.version, t.title FROM intracker.set_todo_status('$t', '"
			  . $statuses[ $status{$t}++ % 4 ] . "', $version{$t}) t;";
			$version{$t}++;
		}
		if ($r % 4 == 0)
		{
			push @s, "SELECT 'C', t.id, t.version, t.title FROM intracker.create_todo('$P', 'w$i r$r new') t;";
		}
		if ($r % 5 == 0)
		{
			my $t = $own[ ($r + 2) % 5 ];
			$write->('A', $t, { assigned_to => ($assigned{$t} ? undef : $member[$i]) }, $version{$t}++);
			$assigned{$t} = !$assigned{$t};
		}
		if ($r % 8 == 0)
		{
			# certainly stale: the hot todos are past version 1
			$write->('U', $hot[ $r % 4 ], { title => "w$i r$r stale" }, 1);
			$certain_stale++;
		}
		if ($r % 10 == 5)
		{
			# PostgREST's If-Match, certainly stale too (PT412; or PT409 if
			# another writer changed the todo since the version was read)
			my $h2 = $hot[ ($i + $r + 1) % 4 ];
			push @s, 'BEGIN;',
			  q{SELECT set_config('request.headers', '{"if-match": "\\"1\\""}', true) AS headers \gset};
			$write->('U', $h2, { title => "w$i r$r if-match" },
				"(SELECT v.version FROM intracker.todos v WHERE v.id = '$h2')");
			push @s, 'COMMIT;';
			$certain_stale++;
		}
		# A short pause per round keeps the load going while the replacement
		# client below replays (pacing only; nothing depends on it).
		push @s, 'SELECT pg_sleep(0.03) AS pause \\gset';
	}
	$statements += grep { /^SELECT '[CUSA]'/ } @s;
	$script{$i} = "\\set VERBOSITY verbose\n"
	  . "SELECT intracker.act_as('$member[$i]') \\gset\n"
	  . $barrier1
	  . join("\n", @s) . "\n";
}
note("part 1: $statements statements in 8 writers, $certain_stale certainly stale");

my $project_channel = sql("SELECT intracker.project_channel('$P')");
is($project_channel, "intracker.project.$P", 'project_channel() is intracker.project.<id>');
my $L_all = start_file_listener('intracker', $project_channel);
my $L_mid = start_file_listener('intracker');

my @writers = map { start_psql_script("p1_writer$_", $script{$_}) } 1 .. 8;
release_barrier(1, 8);

# Stop L_mid once it has seen about a third of the load (or the writers are
# done, which would make the test weaker but not wrong: reported).
my ($mid_n, $mid_lost);
{
	my $deadline = time + 180;
	while (1)
	{
		($mid_n, $mid_lost) = notifications($L_mid);
		last if @$mid_n >= $statements / 3 || time > $deadline;
		last unless grep { psql_running($_) } @writers;
		usleep(5_000);
	}
	stop_listener($L_mid);
}
my $writers_running_at_stop = grep { psql_running($_) } @writers;
note("listener stopped after " . scalar(@$mid_n) . " notifications, $writers_running_at_stop writers still running");
my @mid_seqs = map { payload_seq($_->[1]) } @$mid_n;
my $mid_last = @mid_seqs ? $mid_seqs[-1] : $S0;
is(sequence_problems(\@mid_seqs, $S0 + 1, $mid_last), '',
	'part 1: the listener stopped midway had seen a gap-free prefix of the stream');

# The replacement client: LISTEN first, then replay from the last seq seen,
# as a project member, while the writers go on.
my $L_new = start_file_listener('intracker');
my ($client_replayed, $client_pages, $client_seqs) = replay(
	after   => $mid_last,
	page    => 100,
	project => $P,
	as      => $member[1]);
my $writers_running_after_replay = grep { psql_running($_) } @writers;
note("replacement client replayed $client_replayed events in $client_pages pages; "
	  . "$writers_running_after_replay writers were still running");

timed('part 1 writers', sub { wait_psql_scripts(300, @writers) });
wait_drained('part 1 load');

# What the writers committed and what was rejected.
my (@acks, @conflicts, @unexpected);
for my $i (1 .. 8)
{
	my $w = $writers[ $i - 1 ];
	is($w->{exit}, 0, "part 1: writer ${i}'s psql ran its whole script");
	for my $line (split /\n/, $w->{out})
	{
		my ($op, $id, $version, $title) = split /\|/, $line, 4;
		die "writer $i: unexpected output line '$line'" unless $op =~ /^[CUSA]$/;
		push @acks, { op => $op, id => $id, version => $version, title => $title, writer => $i };
	}
	while ($w->{err} =~ /ERROR:\s+PT409: todo (\S+) was changed by someone else\nDETAIL:\s+The write was based on version (\d+); the current version is (\d+)\./g)
	{
		push @conflicts, "todo/$1/$2/$3/PT409 by m$i";
	}
	while ($w->{err} =~ /ERROR:\s+PT412: todo (\S+) does not match If-Match\nDETAIL:\s+If-Match is "1"; the current version is (\d+)\./g)
	{
		push @conflicts, "todo/$1/-/$2/PT412 by m$i";
	}
	my $bad = unexpected_errors($w->{err}, 'PT409', 'PT412');
	push @unexpected, "writer $i:\n$bad" if $bad ne '';
}
is(join("\n", @unexpected), '', 'part 1: no statement failed other than with PT409 or PT412');
my %rejections = map { my $code = $_; ($code => scalar grep { /$code/ } @conflicts) } qw(PT409 PT412);
cmp_ok(scalar @conflicts, '>=', $certain_stale,
	"part 1: every certainly stale write was rejected ($rejections{PT409} PT409 and $rejections{PT412} PT412, "
	  . 'with the lost races)');
cmp_ok($rejections{PT412}, '>', 0, 'part 1: If-Match writes were rejected with PT412');
is(scalar(@acks) + scalar(@conflicts), $statements,
	'part 1: every statement either committed or was rejected with PT409 or PT412');
my $load = @acks + @conflicts;
my $N1 = $S0 + $load;

# Full replay as a member of intracker_admin, in pages of 97.
my %event_at;
my ($n_replayed, $pages, $seqs) = replay(
	after => 0,
	page  => 97,
	each  => sub { $event_at{ $_[0]{seq} } = $_[0] });
note("part 1: replayed $n_replayed events in $pages pages");
is(sequence_problems($seqs, 1, $N1), '',
	"part 1: events_since(0) in pages returns seq 1..$N1 ($S0 setup events + "
	  . scalar(@acks) . ' commits + ' . scalar(@conflicts) . ' rejections), no gap, no duplicate');
is(sql('SELECT last_published_seq FROM intracker.worker_status'), $N1,
	'part 1: worker_status.last_published_seq is the last seq');

# Every committed change is exactly one event, of the right type, by the
# writer; every rejection exactly one conflict.rejected event; nothing else.
{
	my (%by_change, @load_conflicts, @problems);
	for my $s ($S0 + 1 .. $N1)
	{
		my $e = $event_at{$s} or next;
		if ($e->{type} eq 'conflict.rejected')
		{
			push @load_conflicts,
			  "$e->{detail}" =~ s{^todo/}{todo/$e->{entity_id}/}r
			  . ' by ' . ($actor_name{ $e->{actor} } // "'$e->{actor}'");
			push @problems, "conflict event $s: version $e->{version} is not the current version in $e->{detail}"
			  unless $e->{detail} =~ m{^todo/(?:\d+|-)/$e->{version}/(?:PT409|PT412)$};
			push @problems, "conflict event $s is not in project $P"
			  unless $e->{project_id} eq $P;
		}
		else
		{
			push @{ $by_change{"$e->{entity_id}/$e->{version}"} }, $e;
		}
	}
	for my $ack (@acks)
	{
		my $key    = "$ack->{id}/$ack->{version}";
		my $events = delete $by_change{$key} // [];
		my $what   = "writer $ack->{writer}'s $ack->{op} of $key";
		if (@$events != 1)
		{
			push @problems, "$what: " . scalar(@$events) . ' events';
			next;
		}
		my $e = $events->[0];
		push @problems, "$what: type $e->{type}, expected $type_of{$ack->{op}}"
		  unless $e->{type} eq $type_of{ $ack->{op} };
		push @problems, "$what: actor $e->{actor}"
		  unless $e->{actor} eq $member[ $ack->{writer} ];
		push @problems, "$what: project $e->{project_id}" unless $e->{project_id} eq $P;
		push @problems, "$what: title '$e->{detail}', committed '$ack->{title}'"
		  if $ack->{op} =~ /[CU]/ && $e->{detail} ne $ack->{title};
	}
	push @problems, map { "event(s) of no committed change: $_" } sort keys %by_change;
	is(join("\n", @problems[ 0 .. min(29, $#problems) ]), '',
		'part 1: every committed change is exactly one event (entity, version, type, actor), every conflict event matches its rejection, no other event');
	is_deeply([ sort @load_conflicts ], [ sort @conflicts ],
		'part 1: the conflict.rejected events are exactly the PT409/PT412 rejections (todo, attempted and current version, SQLSTATE, actor)');
}
{
	# In order: every entity's changes appear in the order of their versions.
	my (%last_version, @disorder);
	for my $s (1 .. $N1)
	{
		my $e = $event_at{$s} or next;
		next if $e->{type} eq 'conflict.rejected' || $e->{version} eq '';
		my $last = $last_version{ $e->{entity_id} };
		push @disorder, "seq $s: $e->{type} of $e->{entity_id} version $e->{version} after version $last"
		  if defined $last && $e->{version} <= $last;
		$last_version{ $e->{entity_id} } = $e->{version};
	}
	is(join("\n", @disorder[ 0 .. min(19, $#disorder) ]), '',
		"part 1: every entity's events are in the order of its versions (the hot todos were written by 8 sessions)");
}
is((split /\|/, publisher_state())[4], 0, 'part 1: no rejected write was dropped from the queue');

# The listener that ran through the load: every seq once per channel, in
# order, with the payload of the event.
{
	my $expected = 2 * $load;
	my $deadline = time + 120;
	my $all_n;
	while (1)
	{
		($all_n) = notifications($L_all);
		last if @$all_n >= $expected || time > $deadline;
		usleep(20_000);
	}
	my $got = @$all_n;
	my (%per_channel, @payload_problems);
	for my $n (@$all_n)
	{
		my ($channel, $payload) = @$n;
		my $p = eval { $json->decode($payload) };
		if (!$p) { push @payload_problems, "not JSON on $channel: $payload"; next }
		push @{ $per_channel{$channel} }, $p->{seq};
		my $e = $event_at{ $p->{seq} // '' };
		my @keys = sort keys %$p;
		push @payload_problems, "keys of $payload"
		  unless "@keys" eq 'actor entity_id project_id seq type version';
		if (!$e) { push @payload_problems, "no replayed event for $payload"; next }
		for my $k (qw(type project_id entity_id actor version))
		{
			my $v = $p->{$k} // '';
			push @payload_problems, "$k of seq $p->{seq}: payload '$v', event '$e->{$k}'"
			  unless $v eq $e->{$k};
		}
	}
	is($got, $expected, "part 1: the listener got $expected notifications (each event on 2 channels)");
	is(sequence_problems($per_channel{intracker} // [], $S0 + 1, $N1), '',
		'part 1: channel "intracker" delivered every seq of the load exactly once, in increasing order');
	is(sequence_problems($per_channel{$project_channel} // [], $S0 + 1, $N1), '',
		"part 1: the project's channel delivered every seq of the load exactly once, in increasing order");
	is(join("\n", @payload_problems[ 0 .. min(19, $#payload_problems) ]), '',
		'part 1: every payload is exactly {seq, type, project_id, entity_id, actor, version} of its event');
	stop_listener($L_all);
}

# The replacement client: L_mid's seqs + replay + new notifications above
# what it has = the whole load, exactly once.
{
	my $deadline = time + 120;
	my $new_n;
	while (1)
	{
		($new_n) = notifications($L_new);
		my $have = max(@$client_seqs ? $client_seqs->[-1] : $mid_last,
			@$new_n ? payload_seq($new_n->[-1][1]) : 0);
		last if $have >= $N1 || time > $deadline;
		usleep(20_000);
	}
	my @notified = map { payload_seq($_->[1]) } @$new_n;
	my ($final, $dropped) = dedup_client(\@mid_seqs, $client_seqs, \@notified);
	note("replacement client: "
		  . scalar(@mid_seqs) . " seen before the disconnect, $client_replayed replayed, "
		  . scalar(@notified) . " notified of which $dropped were already replayed");
	is(sequence_problems($final, $S0 + 1, $N1), '',
		'part 1: listener stopped midway + new LISTEN + events_since(last seq) pages + dedup by seq = exactly the whole sequence');
	is(sequence_problems($client_seqs, $mid_last + 1, $mid_last + @$client_seqs), '',
		"part 1: the member's project replay continued right after the last seq seen");
	stop_listener($L_new);
}

##############################################################################
# 2 and 3. 100,000-event streams interrupted by a crash
##############################################################################

my $Q = safe_psql_as($node, $db, $users->{owner},
	q{SELECT id FROM intracker.create_project('Bulk stream')});
safe_psql_as($node, $db, $users->{owner},
	join('', map { "SELECT FROM intracker.add_member('$Q', '$member[$_]', 'editor');\n" } 1 .. 4));

my $ROWS     = 500;    # events per transaction
my $TXNS     = 50;     # transactions per writer
my $NWRITERS = 4;

# The statement of writer $w's transaction $j in the stream $prefix: every
# fifth inserts $ROWS todos (title and description = the tag), the others
# set the title of one of the writer's two groups of $ROWS todos to the tag.
# It prints "ack|tag|rows" when it has committed.
sub txn_plan
{
	my ($prefix, $w, $j) = @_;
	my $tag = "${prefix}w${w}t$j";
	if ($j % 5 == 0)
	{
		return {
			tag  => $tag,
			kind => 'insert',
			sql  => "WITH i AS (INSERT INTO intracker.todos (project_id, title, description) "
			  . "SELECT '$Q', '$tag', '$tag' FROM generate_series(1, $ROWS) RETURNING 1) "
			  . "SELECT 'ack', '$tag', count(*) FROM i;"
		};
	}
	my $group = "${prefix}w${w}g" . ($j % 2);
	return {
		tag   => $tag,
		kind  => 'update',
		group => $group,
		sql   => "WITH u AS (UPDATE intracker.todos SET title = '$tag' "
		  . "WHERE project_id = '$Q' AND description = '$group' RETURNING 1) "
		  . "SELECT 'ack', '$tag', count(*) FROM u;"
	};
}

sub writer_script
{
	my ($prefix, $w, $from, $barrier_line) = @_;
	return "\\set VERBOSITY verbose\n"
	  . "SELECT intracker.act_as('$member[$w]') \\gset\n"
	  . ($barrier_line // '')
	  . join('', map { txn_plan($prefix, $w, $_)->{sql} . "\n" } $from .. $TXNS);
}

# Acknowledged tags of a writer's output, in order.
sub acked_tags
{
	my ($p, $label, $problems) = @_;
	my @tags;
	for my $line (split /\n/, $p->{out})
	{
		if ($line =~ /^ack\|(\S+)\|(\d+)$/)
		{
			push @tags, $1;
			push @$problems, "$label: $1 acknowledged $2 rows, not $ROWS" if $2 != $ROWS;
		}
		else { push @$problems, "$label: unexpected output '$line'" }
	}
	return @tags;
}

my $barrier_key = 10;

# Run a stream, call $o{crash} once about a quarter of it has committed,
# resume the writers, and check everything.  $o{crash}->() returns the
# server log offset from before the crash and a description of the moment;
# it must leave the server up (or coming back up).
sub crash_stream
{
	my (%o) = @_;
	my ($label, $prefix) = @o{qw(label prefix)};
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	# Setup: each writer inserts its two groups of $ROWS todos.
	for my $w (1 .. $NWRITERS)
	{
		safe_psql_as($node, $db, $member[$w],
			"INSERT INTO intracker.todos (project_id, title, description) "
			  . "SELECT '$Q', 'seed', '${prefix}w${w}g' || (n % 2) FROM generate_series(1, " . (2 * $ROWS) . ") n");
	}
	wait_drained("$label: setup");
	my $base = sql('SELECT max(seq) FROM intracker_data.events');
	my ($old_pid) = split /\|/, publisher_state();

	my $listener = $o{listener} ? start_file_listener('intracker') : undef;
	my $key      = ++$barrier_key;
	my $line     = hold_barrier($key);
	my %run      = map { $_ => start_psql_script("${prefix}_writer$_", writer_script($prefix, $_, 1, $line)) }
	  1 .. $NWRITERS;
	release_barrier($key, $NWRITERS);

	# Crash once a quarter of the stream has committed.
	my $planned   = $NWRITERS * $TXNS * $ROWS;
	my $threshold = $base + int($planned / 4);
	my ($committed, $published_before);
	my $deadline = time + 300;
	while (1)
	{
		($committed) = split /\|/, sql(q{SELECT last_seq + backlog FROM intracker_data.event_log_state()});
		last if $committed >= $threshold;
		last if !grep { psql_running($_) } values %run;
		die "$label: the stream did not reach $threshold events (at $committed)" if time > $deadline;
		usleep(20_000);
	}
	$published_before = sql('SELECT coalesce(max(seq), 0) FROM intracker_data.events');
	my ($log_offset, $how) = $o{crash}->();
	note("$label: crashed with at least $committed events committed, $published_before published; $how");

	# The writers lose their connections.
	wait_psql_scripts(120, values %run);
	my (@problems, %acked, %uncertain, %resume_from);
	my $interrupted = 0;
	for my $w (1 .. $NWRITERS)
	{
		my $p    = $run{$w};
		my @tags = acked_tags($p, "writer $w before the crash", \@problems);
		my @plan = map { txn_plan($prefix, $w, $_)->{tag} } 1 .. $TXNS;
		push @problems, "writer $w before the crash: acknowledged @tags, not a prefix of the plan"
		  unless "@tags" eq "@plan[0 .. $#tags]";
		$acked{$_} = 1 for @tags;
		if (@tags < $TXNS)
		{
			$interrupted++;
			push @problems, "writer $w: psql exit $p->{exit} although the crash cut it off (expected 2)"
			  unless $p->{exit} == 2;
			push @problems, "writer $w: did not report a lost connection: $p->{err}"
			  unless $p->{err} =~ /connection to server was lost|server closed the connection/;
			# The transaction in flight may or may not have committed.
			$uncertain{ $plan[ scalar @tags ] } = 1;
			$resume_from{$w} = @tags + 2 if @tags + 2 <= $TXNS;
		}
		else
		{
			push @problems, "writer $w: psql exit $p->{exit}" unless $p->{exit} == 0;
		}
	}
	cmp_ok($interrupted, '>', 0, "$label: the crash cut off writers in the middle of the stream");

	# The publisher comes back and says where it stands.
	$node->wait_for_log(
		qr/intracker publisher started: last published seq \d+, \d+ events waiting/, $log_offset);
	my $log = slurp_file($node->logfile, $log_offset);
	my ($n_start, $m_start) =
	  $log =~ /intracker publisher started: last published seq (\d+), (\d+) events waiting/;
	ok(defined $m_start, "$label: the publisher logged \"intracker publisher started: last published seq $n_start, $m_start events waiting\"");
	cmp_ok($n_start, '>=', $published_before,
		"$label: every event published before the crash is still published ($n_start >= $published_before)");
	like($log, $o{log_pattern}, "$label: the server log shows the crash and the recovery");

	# Lost listener: what did it get before the crash?
	my ($before_seqs, $lost);
	if ($listener)
	{
		my $deadline2 = time + 60;
		my $n;
		do { ($n, $lost) = notifications($listener); usleep(20_000) unless $lost }
		  until $lost || time > $deadline2;
		ok($lost, "$label: the listener's connection was lost in the crash");
		$before_seqs = [ map { payload_seq($_->[1]) } @$n ];
		stop_listener($listener);
	}
	my $after_listener = $listener ? start_file_listener('intracker') : undef;

	# Writers reconnect and go on after the transaction that was in flight.
	my %resumed = map {
		$_ => start_psql_script("${prefix}_writer${_}_resumed", writer_script($prefix, $_, $resume_from{$_}))
	} sort keys %resume_from;

	# The new client replays while the writers go on.
	my ($client_seqs, $last_before) = ([], 0);
	if ($after_listener)
	{
		$last_before = @$before_seqs ? $before_seqs->[-1] : $base;
		(undef, undef, $client_seqs) = replay(after => $last_before, page => 10000);
	}

	wait_psql_scripts(300, values %resumed);
	my $resumed_acks = 0;
	for my $w (sort keys %resumed)
	{
		my $p    = $resumed{$w};
		my @tags = acked_tags($p, "writer $w after the restart", \@problems);
		my @plan = map { txn_plan($prefix, $w, $_)->{tag} } $resume_from{$w} .. $TXNS;
		push @problems, "writer $w after the restart: acknowledged @tags, planned @plan"
		  unless "@tags" eq "@plan";
		push @problems, "writer $w after the restart: psql exit $p->{exit}, stderr: $p->{err}"
		  unless $p->{exit} == 0 && $p->{err} eq '';
		$acked{$_} = 1 for @tags;
		$resumed_acks += @tags;
	}
	is(join("\n", @problems), '',
		"$label: every writer's transactions were acknowledged in order up to the crash, and all the rest after it");
	note("$label: " . scalar(keys %acked) . ' transactions acknowledged, '
		  . scalar(keys %uncertain) . ' in flight at the crash: ' . join(' ', sort keys %uncertain));

	wait_drained("$label: after the restart");
	my ($new_pid, $state, $last_seq, $backlog) = split /\|/, publisher_state();
	isnt($new_pid, $old_pid, "$label: a new publisher process runs after the restart");
	is(sql("SELECT backend_type FROM pg_stat_activity WHERE pid = $new_pid"), 'intracker publisher',
		"$label: worker_status.pid is the new publisher");

	# Replay everything, keeping only what the checks need.
	my (%tag_count, %tag_entities, %tag_versions, %tag_types, %tag_actors, %seen_change);
	my (%tag_first, %tag_last);
	my (@stray, @dup_changes);
	my ($n, $pages, $seqs) = timed(
		"$label: replay",
		sub {
			replay(
				after => 0,
				page  => 10000,
				each  => sub {
					my ($e) = @_;
					return if $e->{seq} <= $base;
					my $tag = $e->{detail};
					if ($tag !~ /^${prefix}w\d+t\d+$/)
					{
						push @stray, "$e->{seq} $e->{type} '$tag'";
						return;
					}
					$tag_count{$tag}++;
					$tag_entities{$tag}{ $e->{entity_id} } = 1;
					$tag_versions{$tag}{ $e->{version} } = 1;
					$tag_types{$tag}{ $e->{type} }       = 1;
					$tag_actors{$tag}{ $e->{actor} }     = 1;
					$tag_first{$tag} //= $e->{seq};
					$tag_last{$tag} = $e->{seq};
					push @dup_changes, "$e->{entity_id}/$e->{version}"
					  if $seen_change{"$e->{entity_id}/$e->{version}"}++;
				});
		});
	my $N = $seqs->[-1] // 0;
	is(sequence_problems($seqs, 1, $N), '',
		"$label: events_since(0) in pages of 10000 returns seq 1..$N, no gap, no duplicate");
	is($last_seq, $N, "$label: worker_status.last_published_seq is the last seq");
	is(scalar(@stray), 0, "$label: every event after the setup belongs to a transaction of the stream")
	  or diag('stray events: ' . join(', ', @stray[ 0 .. min(9, $#stray) ]));
	is(scalar(@dup_changes), 0, "$label: no (entity, version) appears twice")
	  or diag('duplicated: ' . join(', ', @dup_changes[ 0 .. min(9, $#dup_changes) ]));

	# Per transaction: all or nothing; acknowledged ones complete.
	my (@incomplete, @partial, @wrong, @present_uncertain);
	my %groups;    # group => [present update tags in plan order]
	for my $w (1 .. $NWRITERS)
	{
		for my $j (1 .. $TXNS)
		{
			my $t     = txn_plan($prefix, $w, $j);
			my $tag   = $t->{tag};
			my $count = $tag_count{$tag} // 0;
			my $ents  = scalar keys %{ $tag_entities{$tag} // {} };
			if ($acked{$tag})
			{
				push @incomplete, "$tag: $count events for $ents rows" unless $count == $ROWS && $ents == $ROWS;
			}
			elsif ($uncertain{$tag})
			{
				push @partial, "$tag: $count events for $ents rows"
				  unless ($count == 0 || $count == $ROWS) && $ents == $count;
				push @present_uncertain, $tag if $count;
			}
			else
			{
				push @partial, "$tag was never run but has $count events" if $count;
			}
			next unless $count;
			my $type = $t->{kind} eq 'insert' ? 'todo.created' : 'todo.updated';
			my @types  = sort keys %{ $tag_types{$tag} };
			my @actors = sort keys %{ $tag_actors{$tag} };
			push @wrong, "$tag: types @types" unless "@types" eq $type;
			push @wrong, "$tag: actors @actors" unless "@actors" eq $member[$w];
			push @{ $groups{ $t->{group} } }, $tag if $t->{kind} eq 'update';
		}
	}
	is(join("\n", @incomplete), '', "$label: every acknowledged transaction has all its $ROWS events");
	is(join("\n", @partial), '',
		"$label: every transaction's events are all present or all absent (in flight at the crash: "
		  . scalar(@present_uncertain) . ' of ' . scalar(keys %uncertain) . ' committed)');
	is(join("\n", @wrong), '', "$label: every event has its transaction's type and the writer as actor");

	# In order: each writer's transactions (one after the other) occupy
	# consecutive, non-overlapping seq ranges in the order they committed.
	my @disorder;
	for my $w (1 .. $NWRITERS)
	{
		my $prev;
		for my $tag (grep { $tag_count{$_} } map { txn_plan($prefix, $w, $_)->{tag} } 1 .. $TXNS)
		{
			push @disorder, "$tag: seq $tag_first{$tag}..$tag_last{$tag} does not follow $prev ($tag_first{$prev}..$tag_last{$prev})"
			  if defined $prev && $tag_first{$tag} <= $tag_last{$prev};
			$prev = $tag;
		}
	}
	is(join("\n", @disorder[ 0 .. min(19, $#disorder) ]), '',
		"$label: each writer's transactions appear in commit order, each one's events after all of the previous one's");

	# The stored rows agree with the events: the k-th update of a group whose
	# events exist made version k + 1 of its rows; each inserting transaction
	# whose events exist left its rows, and no other did.
	my @mismatch;
	my %stored = map { my ($g, $lo, $hi, $c) = split /\|/; ($g => [ $lo, $hi, $c ]) } split /\n/, sql(
		"SELECT description, min(version), max(version), count(*) FROM intracker_data.todos
          WHERE project_id = '$Q' AND description LIKE '${prefix}w%' GROUP BY description");
	for my $w (1 .. $NWRITERS)
	{
		for my $g (0, 1)
		{
			my $group = "${prefix}w${w}g$g";
			my @tags  = @{ $groups{$group} // [] };
			for my $k (0 .. $#tags)
			{
				my @v = sort keys %{ $tag_versions{ $tags[$k] } };
				push @mismatch, "$tags[$k]: versions @v, expected " . ($k + 2)
				  unless "@v" eq $k + 2;
			}
			my $s = $stored{$group} // [ '', '', 0 ];
			push @mismatch, "$group: stored versions $s->[0]..$s->[1] in $s->[2] rows, "
			  . scalar(@tags) . ' updates have events'
			  unless $s->[0] == @tags + 1 && $s->[1] == @tags + 1 && $s->[2] == $ROWS;
		}
		for my $j (grep { $_ % 5 == 0 } 1 .. $TXNS)
		{
			my $tag = txn_plan($prefix, $w, $j)->{tag};
			my $rows = $stored{$tag} ? $stored{$tag}[2] : 0;
			push @mismatch, "$tag: $rows rows stored, " . ($tag_count{$tag} // 0) . ' events'
			  unless $rows == ($tag_count{$tag} // 0);
		}
	}
	is(join("\n", @mismatch[ 0 .. min(29, $#mismatch) ]), '',
		"$label: events exist exactly for the changes that are stored (row versions, inserted rows)");

	# Durability of the outbox: what was published or waiting at the restart
	# is exactly what was committed before the crash.
	is($n_start + $m_start + $ROWS * $resumed_acks, $N,
		"$label: published ($n_start) + waiting ($m_start) at the restart + $resumed_acks transactions after it = the last seq");

	if ($after_listener)
	{
		my $deadline3 = time + 180;
		my $notified;
		while (1)
		{
			my ($n2) = notifications($after_listener);
			$notified = [ map { payload_seq($_->[1]) } @$n2 ];
			my $have = max(@$client_seqs ? $client_seqs->[-1] : $last_before, @$notified ? $notified->[-1] : 0);
			last if $have >= $N || time > $deadline3;
			usleep(200_000);
		}
		is(sequence_problems($before_seqs, $base + 1, $last_before), '',
			"$label: the listener cut off by the crash had seen a gap-free prefix of the stream");
		my ($final, $dropped) = dedup_client($before_seqs, $client_seqs, $notified);
		note("$label: listener: " . scalar(@$before_seqs) . ' before the crash, '
			  . scalar(@$client_seqs) . ' replayed, ' . scalar(@$notified) . " notified, $dropped dropped as seen");
		is(sequence_problems($final, $base + 1, $N), '',
			"$label: seen before the crash + new LISTEN + events_since(last seq) pages + dedup by seq = exactly the whole stream");
		stop_listener($after_listener);
	}
	return;
}

timed(
	'part 2 (kill -9 of the publisher)',
	sub {
		crash_stream(
			label       => 'kill -9 of the publisher',
			prefix      => 'k',
			listener    => 1,
			log_pattern => qr/background worker "intracker publisher" \(PID \d+\) was terminated by signal 9.*all server processes terminated; reinitializing.*database system was not properly shut down; automatic recovery in progress/s,
			crash       => sub {
				# Preferably in the middle of a batch (best effort, not asserted).
				my ($pid, $state, $last, $backlog);
				for (1 .. 100)
				{
					($pid, $state, $last, $backlog) = split /\|/, publisher_state();
					last if $state eq 'publishing';
					usleep(10_000);
				}
				my $by_activity = sql(q{SELECT string_agg(pid::text, ',') FROM pg_stat_activity
                                         WHERE backend_type = 'intracker publisher'});
				is($by_activity, $pid,
					'kill -9: pg_stat_activity shows the publisher of worker_status');
				my $offset = -s $node->logfile;
				kill 'KILL', $pid or die "could not kill $pid: $!";
				return ($offset, "killed publisher $pid in state '$state' with backlog $backlog");
			});
	});

timed(
	'part 3 (immediate shutdown)',
	sub {
		crash_stream(
			label       => 'immediate shutdown',
			prefix      => 'i',
			log_pattern => qr/received immediate shutdown request.*database system was not properly shut down; automatic recovery in progress/s,
			crash       => sub {
				my $offset = -s $node->logfile;
				my $state  = publisher_state();
				$node->stop('immediate');
				$node->start;
				return ($offset, "publisher before the shutdown: $state");
			});
	});

# No publisher round failed in the whole run.
{
	my $log = slurp_file($node->logfile);
	my @warnings = $log =~ /^(.*WARNING:\s+intracker publisher: .*)$/mg;
	is(join("\n", @warnings), '', 'no publisher round failed (no "intracker publisher:" WARNING in the log)');
}

$node->stop;
diag(sprintf('007_events_durability: %.1f s in all', tv_interval($t_all)));
done_testing();
