# 005_context.pl — issue 4 (team context): the progress counters behind
# team_dashboard and team_context under real concurrency, one snapshot per
# document, context_version, pg_dump/pg_restore and the 0.2 -> 0.3 upgrade.
#
# Every session that reads or writes through the API is a non-superuser
# acting as an intracker user (act_as on tracker_admin, or the PostgREST path
# on authenticator), so RLS, grants and the triggers apply as in production.
# The superuser only builds fixtures that no API call can (completion dates
# in the past) and counts from scratch.
#
#   1. Counters under concurrency.  8 members (4 owners, 4 editors) in one
#      project run 2,640 random operations (about 3,500 statements) at once
#      (seed printed; INTRACKER_SEED=n reproduces the data and scripts when
#      prove runs this file directly -- test/bin/run-all does not pass the
#      variable on; the scripts are saved under tmp_check):
#      create todos (some already done), complete / reopen / cancel them,
#      change estimates (also of todos done on earlier days), move todos
#      between features, delete todos, bulk updates, multi-statement
#      transactions that commit or roll back, savepoints rolled back, feature
#      and dependency changes.  Meanwhile a viewer samples, in one statement
#      (one snapshot) each time, team_context, team_dashboard and a count of
#      the todos: every sample must agree exactly.  Afterwards
#      verify_counters() returns no row and team_dashboard, intracker.features
#      and team_context equal a from-scratch count.
#      1b: a todo moved into a feature while the feature is started, both
#      orders, forced with an open transaction (what the workload tripped
#      over): its feature_active must end true.
#   2. One snapshot.  A writer changes several todos (and a member setting)
#      in an open transaction: team_context read meanwhile shows none of it
#      (and does not wait for the writer); after the commit it shows all of
#      it.  A commit that lands in the middle of a statement calling
#      team_context three times is seen by none of the three documents
#      (while a VOLATILE function in the same statement does see it).  In a
#      REPEATABLE READ transaction two team_context calls around a concurrent
#      commit return the same document.
#   3. context_version.  The same for two calls without a change (and for
#      two members with the same view of the project); unchanged by a change
#      the document does not show; different after a todo title change, a
#      member's availability change, a session started and ended; back to the
#      earlier value when the availability is set back.
#   4. pg_dump / pg_restore of a database with todos done today, 1, 3 and 10
#      days ago, features in progress, dependencies and sessions: the derived
#      counter tables are not dumped, yet after the restore verify_counters()
#      is empty and team_dashboard / team_context (todos_completed_today,
#      points_done_last_7_days, feature progress, the whole document and its
#      context_version) equal the source's.
#   5. CREATE EXTENSION intracker VERSION '0.2' with data (done todos on
#      several days, features, assignments, dependencies), ALTER EXTENSION
#      UPDATE to 0.3: verify_counters() empty, the progress numbers equal a
#      count, team_context works for a member, and later changes keep the
#      counters right.
#   6. Forty documents built in one statement are forty copies of one valid
#      document, also when large (team_context and resume_context).  Last,
#      because a failure there can take the server down.
#
# Calls that may crash the server (team_context read in sections 3 to 5)
# fail an assertion and start the server again, so that the rest still runs.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(gettimeofday tv_interval usleep);
use List::Util qw(max min sum);
use JSON::PP ();
use IntrackerTest;

my $seed = $ENV{INTRACKER_SEED} || 20261124;
diag("random seed $seed (INTRACKER_SEED=$seed prove ... reproduces the data and scripts)");
srand($seed);

my $t_all = [gettimeofday];

# psql prints UTF-8 bytes.  A document that does not parse is a failed
# assertion (not the end of the test); the caller gets an empty one.
my $json = JSON::PP->new->utf8->canonical;

sub decode_doc
{
	my ($text) = @_;
	my $doc = eval { $json->decode($text // '') };
	return $doc if ref $doc eq 'HASH';
	fail('a context document is a valid JSON object');
	diag('could not parse it (' . ($@ || 'not an object') . '); it begins with: ' . substr($text // '', 0, 300));
	return {};
}

# A document without generated_at (which changes with every transaction).
sub content_of
{
	my ($doc) = @_;
	my %copy = %$doc;
	delete $copy{generated_at};
	return \%copy;
}

my $db   = 'ctx';
my $node = new_node('context');
install_extension($node, $db);
create_test_roles($node);

##############################################################################
# 1. The progress counters under 8 concurrent writers
##############################################################################

my @wkeys = map { "w$_" } 1 .. 8;
my $u = create_users($node, $db, lead => 'human', watcher => 'human',
	map { $_ => ($_ =~ /[5-8]/ ? 'agent' : 'human') } @wkeys);

my $busy = safe_psql_as($node, $db, $u->{lead}, "SELECT id FROM intracker.create_project('Busy')");
# w1..w4 owners (they may delete), w5..w8 editors (their deletes remove
# nothing, as RLS lets only owners delete), the watcher a viewer.
safe_psql_as($node, $db, $u->{lead}, join('',
		(map { "SELECT FROM intracker.add_member('$busy', '$u->{$_}', '" . ($_ =~ /[1-4]/ ? 'owner' : 'editor') . "');\n" } @wkeys),
		"SELECT FROM intracker.add_member('$busy', '$u->{watcher}', 'viewer');\n"));
my @assignees = map { $u->{$_} } 'lead', @wkeys;

my @prio = qw(low medium high critical);
my (@feature_pool, @todo_pool);
{
	my $sql = '';
	my $n   = 0;
	for my $status (qw(in_progress in_progress in_progress todo todo done))
	{
		my $f = rand_uuid();
		push @feature_pool, $f;
		$sql .= "INSERT INTO intracker.features (id, project_id, title, status, priority) VALUES ('$f', '$busy', 'Feature "
		  . ++$n . "', '$status', " . q_lit(rand_of(@prio)) . ");\n";
	}
	safe_psql_as($node, $db, $u->{lead}, $sql);
}

my @statuses = qw(todo todo todo in_progress review blocked done done done cancelled);
my $todo_insert = 'INSERT INTO intracker.todos (id, project_id, feature_id, title, estimate, priority, status, assigned_to) VALUES ';

sub todo_values
{
	my ($id) = @_;
	return sprintf("('%s', '%s', %s, 'todo %s', %d, %s, %s, %s)", $id, $busy,
		(rand() < 0.3 ? 'NULL' : "'" . rand_of(@feature_pool) . "'"), substr($id, 0, 8),
		1 + int(rand(8)), q_lit(rand_of(@prio)), q_lit(rand_of(@statuses)),
		(rand() < 0.3 ? 'NULL' : "'" . rand_of(@assignees) . "'"));
}

# 320 todos to start with; two thirds of the done ones completed on earlier
# days (1 to 20 days ago; only the superuser can write completed_at); 25
# dependencies, always a later todo blocked by an earlier one.
{
	my @rows;
	for (1 .. 320)
	{
		my $t = rand_uuid();
		push @todo_pool, $t;
		push @rows, todo_values($t);
	}
	safe_psql_as($node, $db, $u->{lead}, $todo_insert . join(",\n", @rows));
	$node->safe_psql($db, qq{
UPDATE intracker_data.todos
   SET completed_at = now() - make_interval(days => (ARRAY[1, 2, 3, 5, 6, 8, 10, 20])[1 + abs(hashtext(id::text)) % 8])
 WHERE project_id = '$busy' AND status = 'done' AND abs(hashtext(id::text || 'past')) % 3 <> 0});
	safe_psql_as($node, $db, $u->{lead}, join('', map {
				my ($x, $y) = (int(rand(@todo_pool)), int(rand(@todo_pool)));
				$x == $y ? '' : "SELECT FROM intracker.add_dependency('$todo_pool[max($x, $y)]', '$todo_pool[min($x, $y)]');\n"
			} 1 .. 25));
}
is($node->safe_psql($db, qq{
SELECT count(DISTINCT (completed_at AT TIME ZONE 'UTC')::date) >= 6
   AND count(*) FILTER (WHERE (completed_at AT TIME ZONE 'UTC')::date <= (now() AT TIME ZONE 'UTC')::date - 7) > 0
   AND count(*) FILTER (WHERE (completed_at AT TIME ZONE 'UTC')::date = (now() AT TIME ZONE 'UTC')::date) > 0
  FROM intracker_data.todos WHERE project_id = '$busy' AND status = 'done'}),
	't', '1: (setup) todos done today, within the last 7 days and before');
counters_consistent($node, $db, '1, before the workload', $busy);
progress_consistent($node, $db, '1, before the workload', $busy, $u->{watcher});

# The operations.  Each returns SQL for one statement (or a transaction).
sub version_of { return "(SELECT version FROM intracker.todos WHERE id = '$_[0]')" }
sub any_todo   { return rand_of(@todo_pool) }
sub feature_or_null { return rand() < 0.2 ? 'null' : '"' . rand_of(@feature_pool) . '"' }

# A random todo matching $where (decided when the statement runs), then
# $call with t.id and t.version.
sub on_picked
{
	my ($where, $call) = @_;
	return "SELECT FROM (SELECT t.id, t.version FROM intracker.todos t WHERE t.project_id = '$busy' AND $where"
	  . " ORDER BY md5(t.id::text || '" . int(rand(1e9)) . "') LIMIT 1) t, LATERAL $call;";
}
my $unblocked = "NOT EXISTS (SELECT FROM intracker.todo_dependencies d JOIN intracker.todos b ON b.id = d.blocked_by"
  . " WHERE d.todo_id = t.id AND b.status NOT IN ('done', 'cancelled'))";

# Operations that are one statement, usable inside transactions too.
my @simple = (
	[ 12, 'create todo' => sub {
			my $t = rand_uuid();
			push @todo_pool, $t;
			return $todo_insert . todo_values($t) . ';';
		} ],
	[ 8, 'complete a todo' => sub { my $t = any_todo(); "SELECT FROM intracker.set_todo_status('$t', 'done', " . version_of($t) . ");" } ],
	[ 8, 'complete an open unblocked todo' => sub {
			on_picked("t.status NOT IN ('done', 'cancelled') AND $unblocked", "intracker.set_todo_status(t.id, 'done', t.version)");
		} ],
	[ 4, 'reopen a todo' => sub { my $t = any_todo(); "SELECT FROM intracker.set_todo_status('$t', 'todo', " . version_of($t) . ");" } ],
	[ 4, 'reopen a done todo' => sub {
			on_picked("t.status = 'done'", "intracker.set_todo_status(t.id, " . q_lit(rand_of(qw(todo todo review in_progress))) . ", t.version)");
		} ],
	[ 4, 'cancel a todo' => sub { my $t = any_todo(); "SELECT FROM intracker.set_todo_status('$t', 'cancelled', " . version_of($t) . ");" } ],
	[ 1, 'cancel a done todo' => sub { on_picked("t.status = 'done'", "intracker.set_todo_status(t.id, 'cancelled', t.version)") } ],
	[ 2, 'revive a cancelled todo' => sub { on_picked("t.status = 'cancelled'", "intracker.set_todo_status(t.id, 'todo', t.version)") } ],
	[ 4, 'other status change' => sub {
			my $t = any_todo();
			"SELECT FROM intracker.set_todo_status('$t', " . q_lit(rand_of(qw(in_progress review blocked))) . ", " . version_of($t) . ");";
		} ],
	[ 7, 'change estimate' => sub {
			my $t = any_todo();
			"SELECT FROM intracker.update_todo('$t', '{\"estimate\": " . (1 + int(rand(8))) . "}', " . version_of($t) . ");";
		} ],
	[ 5, 'change estimate of a done todo' => sub {
			on_picked("t.status = 'done'", "intracker.update_todo(t.id, '{\"estimate\": " . (1 + int(rand(8))) . "}', t.version)");
		} ],
	[ 4, 'change estimate of a todo done on an earlier day' => sub {
			on_picked("t.status = 'done' AND t.completed_at < date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
				"intracker.update_todo(t.id, '{\"estimate\": " . (1 + int(rand(8))) . "}', t.version)");
		} ],
	[ 2, 'move a todo done on an earlier day to another feature' => sub {
			on_picked("t.status = 'done' AND t.completed_at < date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
				"intracker.update_todo(t.id, '{\"feature_id\": " . feature_or_null() . "}', t.version)");
		} ],
	[ 6, 'move todo to another feature' => sub {
			my $t = any_todo();
			"SELECT FROM intracker.update_todo('$t', '{\"feature_id\": " . feature_or_null() . "}', " . version_of($t) . ");";
		} ],
	[ 3, 'move a done todo to another feature' => sub {
			on_picked("t.status = 'done'", "intracker.update_todo(t.id, '{\"feature_id\": " . feature_or_null() . "}', t.version)");
		} ],
	[ 3, 'status, estimate and feature at once' => sub {
			my $t = any_todo();
			"SELECT FROM intracker.update_todo('$t', '{\"status\": \"" . rand_of(@statuses) . "\", \"estimate\": "
			  . (1 + int(rand(8))) . ", \"feature_id\": " . feature_or_null() . "}', " . version_of($t) . ");";
		} ],
	[ 2, 'update through the view' => sub {
			"UPDATE intracker.todos SET status = " . q_lit(rand_of(@statuses)) . ", estimate = " . (1 + int(rand(8)))
			  . " WHERE id = '" . any_todo() . "';";
		} ],
	[ 3, 'delete a todo' => sub {
			my $i = int(rand(@todo_pool));
			my ($t) = splice(@todo_pool, $i, 1);
			"DELETE FROM intracker.todos WHERE id = '$t';";
		} ],
	[ 2, 'delete a done todo' => sub {
			"DELETE FROM intracker.todos WHERE id = (SELECT t.id FROM intracker.todos t WHERE t.project_id = '$busy'"
			  . " AND t.status = 'done' ORDER BY md5(t.id::text || '" . int(rand(1e9)) . "') LIMIT 1);";
		} ],
	[ 2, 'assign' => sub {
			"SELECT FROM intracker.assign_todo('" . any_todo() . "'" . (rand() < 0.5 ? '' : ", '" . rand_of(@assignees) . "'") . ");";
		} ],
	[ 2, 'add dependency' => sub { "SELECT FROM intracker.add_dependency('" . any_todo() . "', '" . any_todo() . "');" } ],
	[ 1, 'remove dependency' => sub {
			"SELECT intracker.remove_dependency(d.todo_id, d.blocked_by) FROM intracker.todo_dependencies d"
			  . " WHERE d.project_id = '$busy' ORDER BY md5(d.todo_id::text || '" . int(rand(1e9)) . "') LIMIT 1;";
		} ],);

sub pick
{
	my @ops   = @_;
	my $total = sum(map { $_->[0] } @ops);
	my $r     = rand($total);
	for my $op (@ops)
	{
		return ($op->[1], $op->[2]->()) if ($r -= $op->[0]) < 0;
	}
	return ($ops[-1][1], $ops[-1][2]->());
}

my @operations = (
	@simple,
	[ 0.5, 'bulk estimate change' => sub {
			"UPDATE intracker.todos SET estimate = estimate % 8 + 1 WHERE project_id = '$busy' AND md5(id::text || '"
			  . int(rand(1e9)) . "') < '1';";
		} ],
	[ 0.5, 'bulk cancel' => sub {
			"UPDATE intracker.todos SET status = 'cancelled' WHERE project_id = '$busy' AND status IN ('todo', 'review')"
			  . " AND md5(id::text || '" . int(rand(1e9)) . "') < '08';";
		} ],
	[ 0.5, 'bulk revive' => sub {
			"UPDATE intracker.todos SET status = 'todo' WHERE project_id = '$busy' AND status = 'cancelled'"
			  . " AND md5(id::text || '" . int(rand(1e9)) . "') < '4';";
		} ],
	[ 5, 'transaction (commit or roll back)' => sub {
			my @body = map { (pick(@simple))[1] } 1 .. 2 + int(rand(3));
			return join("\n", 'BEGIN;', @body, rand() < 0.75 ? 'COMMIT;' : 'ROLLBACK;');
		} ],
	[ 2, 'transaction with a savepoint rolled back' => sub {
			return join("\n", 'BEGIN;', (pick(@simple))[1], 'SAVEPOINT s;', (pick(@simple))[1], (pick(@simple))[1],
				'ROLLBACK TO SAVEPOINT s;', (pick(@simple))[1], 'COMMIT;');
		} ],
	[ 2, 'change feature status' => sub {
			my $f = rand_of(@feature_pool);
			"SELECT FROM intracker.update_feature('$f', '{\"status\": \"" . rand_of(qw(todo in_progress in_progress done))
			  . "\"}', (SELECT version FROM intracker.features WHERE id = '$f'));";
		} ],
	[ 0.3, 'create feature' => sub {
			my $f = rand_uuid();
			push @feature_pool, $f;
			"INSERT INTO intracker.features (id, project_id, title, status) VALUES ('$f', '$busy', 'Later feature', "
			  . q_lit(rand_of(qw(todo in_progress))) . ");";
		} ],
	[ 0.2, 'delete feature' => sub {
			return '' if @feature_pool < 4;
			my ($f) = splice(@feature_pool, int(rand(@feature_pool)), 1);
			"DELETE FROM intracker.features WHERE id = '$f';";
		} ],);

# Generated round robin, so that a session mostly refers to todos that the
# others created at about the same time.  Enough of them that the viewer
# takes its 20 samples while they run: once imports stopped paying for two
# membership queries per row, 330 per session took 8 to 10 s, and the
# viewer, sharing 2 CPUs with 8 writers, got 19 samples in one run.
my $ops_per_session = 500;
my (@lines, %op_count);
my $n_statements = 0;
for (1 .. $ops_per_session)
{
	for my $k (0 .. $#wkeys)
	{
		my ($name, $sql) = pick(@operations);
		$op_count{$name}++;
		$n_statements += () = $sql =~ /;$/mg;
		push @{ $lines[$k] }, $sql;
	}
}
my $n_ops = $ops_per_session * @wkeys;
note('1: operations: ' . join(', ', map { "$_ $op_count{$_}" } sort keys %op_count));

$node->safe_psql($db, q{
CREATE TABLE public.writers_done (name text PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp());
GRANT SELECT, INSERT ON public.writers_done TO PUBLIC;});

my @writers = map {
	IntrackerTest::Session->new($node, $db, name => "writer-$wkeys[$_]", user => $u->{ $wkeys[$_] },
		via => ($_ % 2 ? 'jwt' : 'act_as'))
} 0 .. $#wkeys;
$_->query_safe('SET client_min_messages = warning') for @writers;
my @writer_scripts = map {
	"-- seed $seed, session $wkeys[$_] ($u->{$wkeys[$_]})\n"
	  . "SELECT extract(epoch FROM clock_timestamp());\n"
	  . join("\n", @{ $lines[$_] })
	  . "\nINSERT INTO public.writers_done (name) VALUES ('$wkeys[$_]');\n"
	  . "SELECT extract(epoch FROM clock_timestamp());\n"
} 0 .. $#wkeys;

# The watcher samples until every writer is done.  Each sample is one
# statement, hence one snapshot: the dashboard, the context document and a
# count of the todos made in it must agree exactly, whatever the writers
# have committed so far.
my $watcher = IntrackerTest::Session->new($node, $db, name => 'watcher', user => $u->{watcher}, via => 'jwt');
my $busy_lit = q_lit($busy);
my $watch_script = <<"SQL";
SET intracker.context_max_bytes = '1MB';
CREATE TEMP TABLE samples (writers bigint, dash jsonb, ctx jsonb, scratch jsonb, features text, members text);
DO \$watch\$
DECLARE
    finished bigint;
    deadline timestamptz := clock_timestamp() + interval '150 seconds';
BEGIN
    LOOP
        INSERT INTO samples
        SELECT (SELECT count(*) FROM public.writers_done),
               @{[ dashboard_json_sql($busy_lit) ]},
               @{[ context_progress_json_sql('c.doc') ]},
               @{[ progress_from_scratch_sql($busy_lit, 'intracker') ]},
               @{[ context_feature_mismatches_sql('c.doc', 'intracker') ]},
               (SELECT string_agg(format('member %s: context %s todos (%s listed) / %s points, actual %s / %s',
                                         m ->> 'user_id', m ->> 'open_todos', jsonb_array_length(m -> 'active_todos'),
                                         m ->> 'open_points', a.n, a.points), E'\\n')
                  FROM jsonb_array_elements(c.doc -> 'team_members') AS m
                 CROSS JOIN LATERAL (SELECT count(*) AS n, coalesce(sum(t.estimate), 0) AS points
                                       FROM intracker.todos t
                                      WHERE t.project_id = $busy_lit AND t.assigned_to = (m ->> 'user_id')::uuid
                                        AND t.status NOT IN ('done', 'cancelled')) a
                 WHERE ((m ->> 'open_todos')::bigint, (m ->> 'open_points')::bigint,
                        jsonb_array_length(m -> 'active_todos')::bigint)
                       IS DISTINCT FROM (a.n, a.points, least(a.n, 10)))
          FROM (SELECT intracker.team_context($busy_lit) AS doc) c
        RETURNING writers INTO finished;
        EXIT WHEN finished >= 8 OR clock_timestamp() > deadline;
        PERFORM pg_sleep(0.005);
    END LOOP;
END
\$watch\$;
SELECT count(*) || '|' || count(*) FILTER (WHERE writers < 8) || '|' || count(DISTINCT scratch) FILTER (WHERE writers < 8)
       || '|' || count(*) FILTER (WHERE dash IS DISTINCT FROM scratch)
       || '|' || count(*) FILTER (WHERE ctx IS DISTINCT FROM scratch)
       || '|' || count(*) FILTER (WHERE features IS NOT NULL)
       || '|' || count(*) FILTER (WHERE members IS NOT NULL)
  FROM samples;
SELECT format('sample: dashboard %s, context %s, count %s, %s, %s', dash, ctx, scratch, features, members)
  FROM samples
 WHERE dash IS DISTINCT FROM scratch OR ctx IS DISTINCT FROM scratch OR features IS NOT NULL OR members IS NOT NULL
 LIMIT 3;
SQL

my $workload_start = $node->safe_psql($db, 'SELECT now()');
my ($results, $secs) = run_together($node, (map { [ $writers[$_], $writer_scripts[$_] ] } 0 .. 7), [ $watcher, $watch_script ]);
diag(sprintf('%-58s %6.1f s', "1: $n_ops operations ($n_statements statements) in 8 sessions", $secs));
$_->quit for @writers, $watcher;
my $watched = pop @$results;

# The writers ran at the same time.
{
	my (@starts, @ends);
	for my $r (@$results)
	{
		my @out = grep { /^\d+(\.\d+)?$/ } split /\n/, $r->{out};
		push @starts, $out[0];
		push @ends,   $out[-1];
	}
	cmp_ok(max(@starts), '<', min(@ends), '1: all 8 writers ran at the same time (last start before first end)');
}

my %errors;
for my $r (@$results)
{
	my $c = error_counts($r->{err});
	$errors{$_} += $c->{$_} for keys %$c;
}
my $n_errors = sum(0, values %errors);
my @odd = grep { /^psql:/ && !/^psql:\S+:\d+: ERROR:  [0-9A-Z]{5}: / } map { split /\n/, $_->{err} } @$results;
is(scalar(@odd), 0, '1: psql reported nothing but ordinary errors with a SQLSTATE')
  or diag(join("\n", @odd[ 0 .. min(9, $#odd) ]));
diag("1: $n_errors of $n_statements statements failed, by SQLSTATE: "
	  . join(', ', map { "$_ $errors{$_}" } sort keys %errors));
cmp_ok($n_errors, '<', $n_statements / 2, '1: most statements of the workload succeeded');

# Expected failures: stale versions (concurrent writers), rows deleted by
# another session, blocked status changes and dependency cycles, values
# that no longer fit (a deleted feature), deadlocks between concurrent
# writers, and the rest of a transaction after one of those (25P02, and
# 3B001 for a ROLLBACK TO a savepoint that was never made).
my %expected_error = map { $_ => 1 } qw(PT409 PT404 23514 23503 22023 40P01 25P02 3B001);
my @unexpected = grep { !$expected_error{$_} } sort keys %errors;
if (!is(join(', ', @unexpected), '', '1: no statement failed with an unexpected SQLSTATE'))
{
	my $codes = join('|', @unexpected);
	diag(join("\n", grep { /(?:ERROR|FATAL):\s+(?:$codes):/ } map { split /\n/, $_->{err} } @$results));
}

# What the watcher saw.
is($watched->{err}, '', '1: the viewer could sample team_context and team_dashboard meanwhile');
my ($sample_lines, @examples) = split /\n/, $watched->{out};
my ($samples, $midway, $states, $dash_bad, $ctx_bad, $feat_bad, $member_bad) = split /\|/, $sample_lines // '';
note("1: $samples samples, $midway while writing, $states distinct states");
cmp_ok($midway // 0, '>=', 20, '1: the viewer took at least 20 samples while the writers ran');
cmp_ok($states // 0, '>=', 10, '1: ... and saw the numbers change (at least 10 different states)');
is($dash_bad, 0, '1: in every sample, team_dashboard equals a count of the todos in the same snapshot');
is($ctx_bad, 0, '1: in every sample, team_context team_progress equals that count');
is($feat_bad, 0, '1: in every sample, the feature progress in team_context equals a count of the feature\'s todos');
is($member_bad, 0, '1: in every sample, each member\'s open todos and points in team_context equal a count');
diag("1: $_") for @examples;

# The end state.
counters_consistent($node, $db, '1, after the workload', $busy);
progress_consistent($node, $db, '1, after the workload', $busy, $u->{watcher});
is($node->safe_psql($db,
		"SELECT string_agg(DISTINCT status, ',' ORDER BY status) FROM intracker_data.todos"
		  . " WHERE project_id = '$busy' AND status IN ('todo', 'done', 'cancelled')"),
	'cancelled,done,todo', '1: the workload left todos open, done and cancelled');
my $today = "(now() AT TIME ZONE 'UTC')::date";
my $day   = "(completed_at AT TIME ZONE 'UTC')::date";
is($node->safe_psql($db, qq{
SELECT format('%s today, %s earlier in the last 7 days, %s before',
              count(*) FILTER (WHERE $day = $today) > 0,
              count(*) FILTER (WHERE $day < $today AND $day > $today - 7 AND updated_at > '$workload_start') > 0,
              count(*) FILTER (WHERE $day <= $today - 7 AND updated_at > '$workload_start') > 0)
  FROM intracker_data.todos WHERE project_id = '$busy' AND status = 'done'}),
	't today, t earlier in the last 7 days, t before',
	'1: ... done ones from today, and from earlier days in and before the 7-day window that the workload changed');
cmp_ok($node->safe_psql($db,
		"SELECT n_tup_del FROM pg_stat_user_tables WHERE relid = 'intracker_data.todos'::regclass"),
	'>', 0, '1: ... and todos were deleted');
cmp_ok($node->safe_psql($db, "SELECT count(DISTINCT slot) FROM intracker_data.project_stats WHERE project_id = '$busy'"),
	'>=', 2, '1: the writers used several counter slots');
note('1: counter slots: ' . $node->safe_psql($db,
		"SELECT string_agg(format('%s: %s/%s/%s', slot, todos_open, todos_done, todos_cancelled), ', ' ORDER BY slot)"
		  . " FROM intracker_data.project_stats WHERE project_id = '$busy'"));

# 1b. What the workload above first tripped over, forced deterministically:
# a todo moved into a feature while that feature is started, in both
# orders (the first statement's transaction held open while the second
# runs).  Whatever the interleaving, the todo ends in a feature that is in
# progress, so its feature_active (which drives the claim order) must be
# true and verify_counters() must find nothing.
{
	my $race = safe_psql_as($node, $db, $u->{lead}, "SELECT id FROM intracker.create_project('Race')");
	safe_psql_as($node, $db, $u->{lead}, <<"SQL");
SELECT FROM intracker.add_member('$race', '$u->{w1}', 'editor');
SELECT FROM intracker.add_member('$race', '$u->{w2}', 'editor');
SQL
	my $sa = IntrackerTest::Session->new($node, $db, name => 'race-A', user => $u->{w1}, via => 'act_as');
	my $sb = IntrackerTest::Session->new($node, $db, name => 'race-B', user => $u->{w2}, via => 'jwt');
	for my $order ('move first', 'start first')
	{
		my $f = safe_psql_as($node, $db, $u->{lead}, "SELECT id FROM intracker.create_feature('$race', 'Feature, $order')");
		my $t = safe_psql_as($node, $db, $u->{lead}, "SELECT id FROM intracker.create_todo('$race', 'Todo, $order')");
		my $move  = "SELECT feature_id FROM intracker.update_todo('$t', '{\"feature_id\": \"$f\"}', 1)";
		my $start = "SELECT status FROM intracker.update_feature('$f', '{\"status\": \"in_progress\"}', 1)";
		my ($first, $second) = $order eq 'move first' ? ($move, $start) : ($start, $move);
		my ($state, $out, $err) = @{ $sa->race($sb, $first, $second, timeout => 10) }{qw(b_state b_out b_err)};
		note("1b, $order: A ran {$first} in an open transaction, B ran {$second}: B was '$state' until A committed");
		is($err, '', "1b, $order: both statements succeed");
		is($node->safe_psql($db, "SELECT f.status || ', feature_active ' || t.feature_active FROM intracker_data.todos t"
				  . " JOIN intracker_data.features f ON f.id = t.feature_id WHERE t.id = '$t'"),
			'in_progress, feature_active true',
			"1b, $order: the todo counts its feature, now in progress, as active");
		my $drift = counter_drift($node, $db, $race);
		is($drift, '', "1b, $order: verify_counters() returns no row") or diag($drift);
	}
	$_->quit for $sa, $sb;
}

##############################################################################
# 2. One snapshot
##############################################################################

my $s = create_users($node, $db, sam => 'human', ed => 'human', bot => 'agent', vi => 'human');
my $sp = safe_psql_as($node, $db, $s->{sam}, "SELECT id FROM intracker.create_project('Snapshot')");
my ($f_run, $f_later) = split /\n/, safe_psql_as($node, $db, $s->{sam}, <<"SQL");
SELECT FROM intracker.add_member('$sp', '$s->{ed}', 'editor');
SELECT FROM intracker.add_member('$sp', '$s->{bot}', 'editor');
SELECT FROM intracker.add_member('$sp', '$s->{vi}', 'viewer');
SELECT id FROM intracker.create_feature('$sp', 'Running', status => 'in_progress');
SELECT id FROM intracker.create_feature('$sp', 'Later');
SQL
my %st;
for my $todo (
	[ a     => 'Finish A',    "feature_id => '$f_run', estimate => 2, assigned_to => '$s->{ed}'" ],
	[ b     => 'Old title',   "feature_id => '$f_run', assigned_to => '$s->{bot}'" ],
	[ c     => 'Resize C',    "estimate => 3, assigned_to => '$s->{ed}'" ],
	[ d     => 'Loose D',     undef ],
	[ z     => 'Quiet Z',     undef ],
	[ stuck => 'Stuck',       "status => 'blocked', assigned_to => '$s->{bot}'" ],
	[ old   => 'Done before', "feature_id => '$f_run', status => 'done', estimate => 5" ])
{
	my ($key, $title, $extra) = @$todo;
	$st{$key} = safe_psql_as($node, $db, $s->{sam},
		"SELECT id FROM intracker.create_todo('$sp', " . q_lit($title) . ($extra ? ", $extra" : '') . ")");
}

my $ctl    = IntrackerTest::Session->new($node, $db, name => 'controller', via => 'superuser');
my $writer = IntrackerTest::Session->new($node, $db, name => 'snap-writer', user => $s->{ed}, via => 'act_as');
my $reader = IntrackerTest::Session->new($node, $db, name => 'snap-reader', user => $s->{vi}, via => 'jwt');
my $ctx_sql = "SELECT intracker.team_context('$sp')";

# The facts a change below touches, from a document.
sub member_of
{
	my ($doc, $user) = @_;
	my ($m) = grep { $_->{user_id} eq $user } @{ $doc->{team_members} // [] };
	return $m // {};
}

sub facts
{
	my ($doc) = @_;
	my $ed  = member_of($doc, $s->{ed});
	my $bot = member_of($doc, $s->{bot});
	my ($run) = grep { $_->{id} eq $f_run } @{ $doc->{team_progress}{features_in_progress} // [] };
	my $p = $doc->{team_progress} // {};
	$run //= {};
	no warnings 'uninitialized';
	return {
		ed_available => ($ed->{available} ? 'yes' : 'no'),
		ed_todos     => join(', ', sort map { "$_->{title} ($_->{estimate})" } @{ $ed->{active_todos} // [] }),
		ed_load      => "$ed->{open_todos} todos, $ed->{open_points} points",
		bot_todos    => join(', ', sort map { $_->{title} } @{ $bot->{active_todos} // [] }),
		progress     => "total $p->{todos_total}, open $p->{todos_open}, done $p->{todos_done}, "
		  . "today $p->{todos_completed_today}, 7 days $p->{points_done_last_7_days} points",
		running => "$run->{todos_done}/$run->{todos_total} $run->{progress}%",
	};
}

my $before_text = $reader->query_safe($ctx_sql);
my $before      = decode_doc($before_text);
is_deeply(facts($before), {
		ed_available => 'yes',
		ed_todos     => 'Finish A (2), Resize C (3)',
		ed_load      => '2 todos, 5 points',
		bot_todos    => 'Old title, Stuck',
		progress     => 'total 7, open 6, done 1, today 1, 7 days 5 points',
		running      => '1/3 33%',
	},
	'2: (setup) the document before the writer\'s transaction');

$writer->query_safe('BEGIN');
$writer->query_safe(<<"SQL");
SELECT FROM intracker.set_todo_status('$st{a}', 'done', (SELECT version FROM intracker.todos WHERE id = '$st{a}'));
SELECT FROM intracker.update_todo('$st{b}', '{"title": "New title"}', (SELECT version FROM intracker.todos WHERE id = '$st{b}'));
SELECT FROM intracker.update_todo('$st{c}', '{"estimate": 5}', (SELECT version FROM intracker.todos WHERE id = '$st{c}'));
SELECT FROM intracker.update_todo('$st{d}', '{"feature_id": "$f_run"}', (SELECT version FROM intracker.todos WHERE id = '$st{d}'));
SELECT FROM intracker.create_todo('$sp', 'Brand new', estimate => 4, assigned_to => '$s->{ed}');
SELECT FROM intracker.set_availability('$sp', false);
SQL

# The writer holds row locks on the todos it changed: the reader must not
# wait for them.
$reader->send($ctx_sql);
my $state = $reader->wait_until_blocked(20);
is($state, 'done', '2: team_context does not wait for the writer\'s open transaction');
my ($during_text, $during_err) = $reader->wait_result;
is($during_err, '', '2: team_context during the writer\'s transaction succeeds');
my $during = decode_doc($during_text);
is_deeply(content_of($during), content_of($before),
	'2: while the writer has not committed, team_context shows none of its changes');
is($during->{context_version}, $before->{context_version}, '2: ... and has the same context_version');
is($reader->query_safe('SELECT ' . dashboard_json_sql(q_lit($sp)) . '::text'),
	$node->safe_psql($db, 'SELECT ' . progress_from_scratch_sql(q_lit($sp)) . '::text'),
	'2: ... and team_dashboard shows the committed state');

$writer->query_safe('COMMIT');
my $after = decode_doc($reader->query_safe($ctx_sql));
is_deeply(facts($after), {
		ed_available => 'no',
		ed_todos     => 'Brand new (4), Resize C (5)',
		ed_load      => '2 todos, 9 points',
		bot_todos    => 'New title, Stuck',
		progress     => 'total 8, open 6, done 2, today 2, 7 days 7 points',
		running      => '2/4 50%',
	},
	'2: after the commit, team_context shows all of the writer\'s changes');
isnt($after->{context_version}, $before->{context_version}, '2: ... with a new context_version');

# A commit in the middle of one statement that builds the document three
# times: a STABLE function sees the statement's snapshot, so all three
# documents are the same; a VOLATILE function in the same statement sees
# the commit (which shows that the commit did land in between).
$node->safe_psql($db, q{
CREATE FUNCTION public.fresh_todo_count(p uuid) RETURNS bigint LANGUAGE sql VOLATILE
AS $$ SELECT count(*) FROM intracker.todos t WHERE t.project_id = p $$;});
$ctl->query_safe('SELECT pg_advisory_lock(5005)');
$reader->send(<<"SQL");
SELECT i, public.fresh_todo_count('$sp') AS fresh,
       CASE WHEN i = 2 THEN pg_advisory_xact_lock_shared(5005)::text END AS waited,
       intracker.team_context(CASE WHEN i > 0 THEN '$sp'::uuid END) ->> 'context_version' AS version
  FROM generate_series(1, 3) AS i
SQL
is($reader->wait_until_blocked(20), 'blocked:advisory', '2: (setup) the reader\'s statement waits half-way');
$writer->query_safe(<<"SQL");
BEGIN;
SELECT FROM intracker.create_todo('$sp', 'Mid-statement one', assigned_to => '$s->{bot}');
SELECT FROM intracker.create_todo('$sp', 'Mid-statement two', status => 'done');
SELECT FROM intracker.set_todo_status('$st{c}', 'in_progress', (SELECT version FROM intracker.todos WHERE id = '$st{c}'));
COMMIT;
SQL
$ctl->query_safe('SELECT pg_advisory_unlock(5005)');
my ($rows, $rows_err) = $reader->wait_result;
is($rows_err, '', '2: the statement calling team_context three times succeeds');
my @rows = map { [ split /\|/ ] } split /\n/, $rows;
is(scalar(@rows), 3, '2: ... and returns three rows');
is($rows[2][1] - $rows[0][1], 2, '2: (check) the writer committed two new todos in the middle of the statement');
is(join(',', map { $_->[3] } @rows), join(',', ($after->{context_version}) x 3),
	'2: all three documents of the statement are the one from before that commit');
my $after_mid = decode_doc($reader->query_safe($ctx_sql));
isnt($after_mid->{context_version}, $after->{context_version}, '2: the next statement sees the commit');
is($after_mid->{team_progress}{todos_total}, $after->{team_progress}{todos_total} + 2, '2: ... with both new todos counted');

# REPEATABLE READ: the transaction's snapshot, whatever commits meanwhile.
$reader->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
my $rr1 = $reader->query_safe($ctx_sql);
$writer->query_safe("SELECT FROM intracker.update_todo('$st{b}', '{\"title\": \"Renamed meanwhile\"}', "
	  . "(SELECT version FROM intracker.todos WHERE id = '$st{b}'))");
my $rr2 = $reader->query_safe($ctx_sql);
$reader->query_safe('COMMIT');
is($rr2, $rr1, '2: in REPEATABLE READ, team_context before and after a concurrent commit is the same document');
is(decode_doc($rr2)->{context_version}, decode_doc($rr1)->{context_version}, '2: ... with the same context_version');
my $rr3 = decode_doc($reader->query_safe($ctx_sql));
isnt($rr3->{context_version}, decode_doc($rr1)->{context_version}, '2: after that transaction the change is seen');
is(facts($rr3)->{bot_todos}, 'Mid-statement one, Renamed meanwhile, Stuck', '2: ... the new title included');
$_->quit for $ctl, $writer, $reader;

##############################################################################
# 3. context_version
##############################################################################

sub context_as
{
	my ($user, $project) = @_;
	return context_as_in($db, $user, $project // $sp);
}

my $v0 = context_as($s->{sam});
# A fixed 20 ms on purpose: the two reads must be at different times (their
# generated_at differs, their context_version must not); nothing to poll for.
usleep(20_000);
my $v1 = context_as($s->{sam});
like($v0->{context_version}, qr/^[0-9a-f]{16}$/, '3: context_version is 16 hex digits');
is($v1->{context_version}, $v0->{context_version}, '3: two calls without a change in between return the same context_version');
isnt($v1->{generated_at}, $v0->{generated_at}, '3: ... though generated_at differs (it is not part of the version)');
is(context_as($s->{bot})->{context_version}, context_as($s->{ed})->{context_version},
	'3: two editors, who see the same document, get the same context_version');

# Something the document does not show: the description of an unassigned,
# unblocked todo; and anything in another project.
safe_psql_as($node, $db, $s->{sam},
	"SELECT FROM intracker.update_todo('$st{z}', '{\"description\": \"nobody reads this here\"}', "
	  . "(SELECT version FROM intracker.todos WHERE id = '$st{z}'))");
is($node->safe_psql($db, "SELECT version FROM intracker_data.todos WHERE id = '$st{z}'"), 2,
	'3: (setup) the unshown todo was changed');
safe_psql_as($node, $db, $u->{lead}, "SELECT FROM intracker.create_todo('$busy', 'elsewhere')");
is(context_as($s->{sam})->{context_version}, $v0->{context_version},
	'3: a change that the document does not show (or in another project) leaves context_version alone');

# A todo title.
safe_psql_as($node, $db, $s->{sam},
	"SELECT FROM intracker.update_todo('$st{c}', '{\"title\": \"Resize C, renamed\"}', "
	  . "(SELECT version FROM intracker.todos WHERE id = '$st{c}'))");
my $v2 = context_as($s->{sam});
isnt($v2->{context_version}, $v0->{context_version}, '3: a todo title change gives a new context_version');
is(member_of($v2, $s->{ed})->{current_focus}{title}, 'Resize C, renamed', '3: ... and the document has the new title');

# A member's availability, and back.
safe_psql_as($node, $db, $s->{bot}, "SELECT FROM intracker.set_availability('$sp', false)");
my $v3 = context_as($s->{sam});
isnt($v3->{context_version}, $v2->{context_version}, '3: a member\'s availability change gives a new context_version');
ok(!member_of($v3, $s->{bot})->{available}, '3: ... and the document shows the member unavailable');
safe_psql_as($node, $db, $s->{bot}, "SELECT FROM intracker.set_availability('$sp', true)");
is(context_as($s->{sam})->{context_version}, $v2->{context_version},
	'3: setting it back gives the earlier context_version again (same content, same version)');

# A session started, then ended.
my $session = safe_psql_as($node, $db, $s->{bot}, "SELECT id FROM intracker.start_session('$sp', goal => 'Rename things')");
my $v4 = context_as($s->{sam});
isnt($v4->{context_version}, $v2->{context_version}, '3: a session started gives a new context_version');
safe_psql_as($node, $db, $s->{bot},
	"SELECT FROM intracker.end_session('$session', 'Renamed B', next_steps => ARRAY['rename more'])");
my $v5 = context_as($s->{sam});
isnt($v5->{context_version}, $v4->{context_version}, '3: the session ended gives a new context_version');
my $last = member_of($v5, $s->{bot})->{last_session};
ok(defined $last->{ended_at} && ($last->{summary} // '') eq 'Renamed B',
	'3: ... and the document shows the ended session with its summary');
is(context_as($s->{sam})->{context_version}, $v5->{context_version}, '3: and stays the same while nothing changes');

##############################################################################
# 4. pg_dump / pg_restore
##############################################################################

$node->safe_psql('postgres', 'CREATE DATABASE dumpsrc');
$node->safe_psql('dumpsrc', 'CREATE EXTENSION intracker');
my $h = create_users($node, 'dumpsrc', own => 'human', e1 => 'human', a1 => 'agent', v1 => 'human');
my $hp = safe_psql_as($node, 'dumpsrc', $h->{own}, "SELECT id FROM intracker.create_project('History')");
my ($h_run, $h_run2, $h_wait, $h_done) = split /\n/, safe_psql_as($node, 'dumpsrc', $h->{own}, <<"SQL");
SELECT FROM intracker.add_member('$hp', '$h->{e1}', 'editor');
SELECT FROM intracker.add_member('$hp', '$h->{a1}', 'editor');
SELECT FROM intracker.add_member('$hp', '$h->{v1}', 'viewer');
SELECT id FROM intracker.create_feature('$hp', 'Running', status => 'in_progress');
SELECT id FROM intracker.create_feature('$hp', 'Running too', status => 'in_progress', priority => 'high');
SELECT id FROM intracker.create_feature('$hp', 'Waiting');
SELECT id FROM intracker.create_feature('$hp', 'Shipped');
SQL
my %ht;
for my $todo (
	[ today1  => "feature_id => '$h_run', estimate => 1, status => 'done'" ],
	[ today2  => "feature_id => '$h_run2', estimate => 2, status => 'done'" ],
	[ d1      => "feature_id => '$h_run', estimate => 3, status => 'done'" ],
	[ d3      => "feature_id => '$h_run2', estimate => 5, status => 'done'" ],
	[ d10     => "feature_id => '$h_done', estimate => 8, status => 'done'" ],
	[ d10b    => "estimate => 13, status => 'done'" ],
	[ open1   => "feature_id => '$h_run', estimate => 2, assigned_to => '$h->{e1}'" ],
	[ open2   => "feature_id => '$h_run2', estimate => 3, assigned_to => '$h->{a1}', status => 'in_progress'" ],
	[ blocked => "estimate => 1, assigned_to => '$h->{e1}'" ],
	[ gone    => "feature_id => '$h_run', estimate => 4, status => 'cancelled'" ])
{
	my ($key, $extra) = @$todo;
	$ht{$key} = safe_psql_as($node, 'dumpsrc', $h->{own},
		"SELECT id FROM intracker.create_todo('$hp', " . q_lit("History $key") . ", $extra)");
}
# Completed on earlier days (the superuser writes completed_at; the
# counters follow), then estimates changed through the API: done 3 days ago
# 5 -> 4, done 10 days ago 13 -> 7.
$node->safe_psql('dumpsrc', qq{
UPDATE intracker_data.todos SET completed_at = now() - interval '1 day' WHERE id = '$ht{d1}';
UPDATE intracker_data.todos SET completed_at = now() - interval '3 days' WHERE id = '$ht{d3}';
UPDATE intracker_data.todos SET completed_at = now() - interval '10 days' WHERE id IN ('$ht{d10}', '$ht{d10b}');
});
my $hs = safe_psql_as($node, 'dumpsrc', $h->{own}, <<"SQL");
SELECT FROM intracker.update_todo('$ht{d3}', '{"estimate": 4}', (SELECT version FROM intracker.todos WHERE id = '$ht{d3}'));
SELECT FROM intracker.update_todo('$ht{d10b}', '{"estimate": 7}', (SELECT version FROM intracker.todos WHERE id = '$ht{d10b}'));
SELECT FROM intracker.add_dependency('$ht{blocked}', '$ht{open1}');
SELECT FROM intracker.update_feature('$h_done', '{"status": "done"}', 1);
SELECT id FROM intracker.start_session('$hp', goal => 'History lesson');
SQL
safe_psql_as($node, 'dumpsrc', $h->{own}, "SELECT FROM intracker.end_session('$hs', 'Wrote history', next_steps => ARRAY['dump it'])");
safe_psql_as($node, 'dumpsrc', $h->{a1}, "SELECT FROM intracker.start_session('$hp', goal => 'Still at it')");

my $dash_sql = "SELECT d::text FROM intracker.team_dashboard d WHERE d.project_id = '$hp'";
my $numbers_sql = "SELECT format('done today %s, points in 7 days %s, total %s, open %s, done %s, rate %s, features in progress %s, blocked %s',"
  . " todos_completed_today, points_done_last_7_days, todos_total, todos_open, todos_done, completion_rate, features_in_progress, todos_blocked)"
  . " FROM intracker.team_dashboard WHERE project_id = '$hp'";
my $expected_numbers = 'done today 2, points in 7 days 10, total 9, open 3, done 6, rate 0.667, features in progress 2, blocked 1';
my $features_sql = "SELECT string_agg(format('%s %s/%s %s%%', title, todos_done, todos_total, progress), ', ' ORDER BY title)"
  . " FROM intracker.features WHERE project_id = '$hp'";
my $expected_features = 'Running 2/3 66%, Running too 2/3 66%, Shipped 1/1 100%, Waiting 0/0 0%';

is($node->safe_psql('dumpsrc', $numbers_sql), $expected_numbers,
	'4: (source) team_dashboard counts 2 done today and 1 + 2 + 3 + 4 points in the last 7 days, not those of 10 days ago');
is($node->safe_psql('dumpsrc', $features_sql), $expected_features, '4: (source) feature progress');
counters_consistent($node, 'dumpsrc', '4, source', $hp);
progress_consistent($node, 'dumpsrc', '4, source', $hp, $h->{v1});

my $dump = PostgreSQL::Test::Utils::tempdir() . '/history.dump';
$node->command_checks_all([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('dumpsrc') ],
	0, [qr/\A\z/], [qr/\A\z/], '4: pg_dump -Fc');
my $toc = `pg_restore -l '$dump'`;
like($toc, qr/TABLE DATA intracker_data todos /m, '4: the dump holds the todos');
unlike($toc, qr/TABLE DATA intracker_data (project_stats|project_daily_done|feature_stats) /m,
	'4: the derived counter tables are not dumped (the restore rebuilds them)');

$node->safe_psql('postgres', 'CREATE DATABASE dumpdst');
$node->command_checks_all([ 'pg_restore', '-d', $node->connstr('dumpdst'), $dump ],
	0, [qr/\A\z/], [qr/\A\z/], '4: pg_restore into a fresh database');

counters_consistent($node, 'dumpdst', '4, restored', $hp);
is($node->safe_psql('dumpdst', $numbers_sql), $expected_numbers,
	'4: restored: todos_completed_today and points_done_last_7_days as in the source');
is($node->safe_psql('dumpdst', $dash_sql), $node->safe_psql('dumpsrc', $dash_sql),
	'4: restored: the whole team_dashboard row equals the source\'s');
is($node->safe_psql('dumpdst', $features_sql), $expected_features, '4: restored: feature progress as in the source');
progress_consistent($node, 'dumpdst', '4, restored', $hp, $h->{v1});
for my $who (qw(own v1))
{
	my $src = context_as_in('dumpsrc', $h->{$who}, $hp);
	my $dst = context_as_in('dumpdst', $h->{$who}, $hp);
	is_deeply($dst->{team_progress}, $src->{team_progress},
		"4: restored: team_context team_progress for the " . ($who eq 'own' ? 'owner' : 'viewer') . ' equals the source\'s');
	is_deeply(content_of($dst), content_of($src),
		"4: restored: the whole team_context document for the " . ($who eq 'own' ? 'owner' : 'viewer')
		  . " equals the source's, context_version included");
}

# team_context read by $user in a fresh connection.  A failing call is a
# failed assertion, and if it took the server down, the server is started
# again so that the remaining checks still run (and report).
sub context_as_in
{
	my ($dbname, $user, $project) = @_;
	my ($ret, $out, $err) = psql_as($node, $dbname, $user, "SELECT intracker.team_context('$project')");
	return decode_doc($out) if $ret == 0;
	fail("team_context('$project') in $dbname succeeds");
	diag("psql exit $ret:\n$err");
	revive_server();
	return {};
}

sub revive_server
{
	return if $node->psql('postgres', 'SELECT 1') == 0;
	diag('the server is down (see the server log); starting it again to go on');
	$node->stop('immediate', fail_ok => 1);
	$node->start;
	return;
}

# The restored counters keep counting.
safe_psql_as($node, 'dumpdst', $h->{own}, <<"SQL");
SELECT FROM intracker.set_todo_status('$ht{open1}', 'done', (SELECT version FROM intracker.todos WHERE id = '$ht{open1}'));
SELECT FROM intracker.set_todo_status('$ht{d1}', 'todo', (SELECT version FROM intracker.todos WHERE id = '$ht{d1}'));
SELECT FROM intracker.update_todo('$ht{d10}', '{"feature_id": "$h_run"}', (SELECT version FROM intracker.todos WHERE id = '$ht{d10}'));
SQL
is($node->safe_psql('dumpdst', $numbers_sql),
	'done today 3, points in 7 days 9, total 9, open 3, done 6, rate 0.667, features in progress 2, blocked 0',
	'4: restored: later changes are counted (one more done today, one reopened from yesterday)');
counters_consistent($node, 'dumpdst', '4, restored, after changes', $hp);
progress_consistent($node, 'dumpdst', '4, restored, after changes', $hp, $h->{e1});

##############################################################################
# 5. CREATE EXTENSION VERSION '0.2' with data, ALTER EXTENSION UPDATE
##############################################################################

$node->safe_psql('postgres', 'CREATE DATABASE legacy');
$node->safe_psql('legacy', "CREATE EXTENSION intracker VERSION '0.2'");
is($node->safe_psql('legacy', "SELECT extversion FROM pg_extension WHERE extname = 'intracker'"),
	'0.2', '5: installed version 0.2');

my $l = create_users($node, 'legacy', lo => 'human', le => 'human', la => 'agent', lv => 'human');
my @lp;
for my $pname ('Legacy', 'Legacy two')
{
	my $p = safe_psql_as($node, 'legacy', $l->{lo}, "SELECT id FROM intracker.create_project(" . q_lit($pname) . ")");
	push @lp, $p;
	my @f = split /\n/, safe_psql_as($node, 'legacy', $l->{lo}, <<"SQL");
SELECT FROM intracker.add_member('$p', '$l->{le}', 'editor');
SELECT FROM intracker.add_member('$p', '$l->{la}', 'editor');
SELECT FROM intracker.add_member('$p', '$l->{lv}', 'viewer');
SELECT id FROM intracker.create_feature('$p', 'Going', status => 'in_progress', assigned_to => '$l->{le}');
SELECT id FROM intracker.create_feature('$p', 'Also going', status => 'in_progress');
SELECT id FROM intracker.create_feature('$p', 'Waiting');
SQL
	my @rows = map {
		sprintf("(%s, %d, %s, %s)", q_lit("legacy $_"), 1 + int(rand(8)),
			q_lit(rand_of(qw(todo todo in_progress review blocked done done done cancelled))),
			q_lit(rand_of(@f, undef)))
	} 1 .. 120;
	safe_psql_as($node, 'legacy', $l->{lo}, <<"SQL");
INSERT INTO intracker.todos (project_id, title, estimate, status, feature_id)
SELECT '$p', v.title, v.estimate, v.status, v.feature::uuid
  FROM (VALUES @{[ join(",\n       ", @rows) ]}) AS v (title, estimate, status, feature);
SQL
	# Assignments: half manual, the rest of the open ones automatic.
	my @ids = split /\n/, $node->safe_psql('legacy',
		"SELECT id FROM intracker_data.todos WHERE project_id = '$p' AND status NOT IN ('done', 'cancelled') ORDER BY title");
	safe_psql_as($node, 'legacy', $l->{lo}, join('', map {
				"SELECT FROM intracker.assign_todo('$ids[$_]'" . ($_ % 2 ? '' : ", '" . rand_of(@{$l}{qw(lo le la)}) . "'") . ");\n"
			} 0 .. $#ids));
	safe_psql_as($node, 'legacy', $l->{le}, join('', map {
				my ($x, $y) = (int(rand(@ids)), int(rand(@ids)));
				$x == $y ? '' : "SELECT FROM intracker.add_dependency('$ids[max($x, $y)]', '$ids[min($x, $y)]');\n"
			} 1 .. 15));
}
# Done on several days, some before the last 7.
$node->safe_psql('legacy', q{
UPDATE intracker_data.todos
   SET completed_at = now() - make_interval(days => (ARRAY[0, 1, 2, 4, 6, 9, 15])[1 + abs(hashtext(id::text)) % 7])
 WHERE status = 'done'});
is($node->safe_psql('legacy', q{
SELECT count(DISTINCT (completed_at AT TIME ZONE 'UTC')::date) >= 5
   AND count(*) FILTER (WHERE (completed_at AT TIME ZONE 'UTC')::date <= (now() AT TIME ZONE 'UTC')::date - 7) > 0
   AND (SELECT count(*) FROM intracker_data.todos WHERE assigned_to IS NOT NULL) > 0
  FROM intracker_data.todos WHERE status = 'done'}),
	't', '5: (setup) the 0.2 data has todos done on several days, some before the last 7, and assignments');

my $default_version = $node->safe_psql('legacy',
	"SELECT default_version FROM pg_available_extensions WHERE name = 'intracker'");
timed("5: ALTER EXTENSION intracker UPDATE (0.2 -> $default_version)", sub {
	$node->safe_psql('legacy', 'ALTER EXTENSION intracker UPDATE');
});
is($node->safe_psql('legacy', "SELECT extversion FROM pg_extension WHERE extname = 'intracker'"),
	$default_version, "5: updated to version $default_version");
counters_consistent($node, 'legacy', '5, after the update');
for my $i (0, 1)
{
	progress_consistent($node, 'legacy', "5, after the update, project $i", $lp[$i], $l->{lv});
}
my $ldoc = context_as_in('legacy', $l->{la}, $lp[0]);
is(scalar(@{ $ldoc->{team_members} // [] }) . ' members, ' . scalar(@{ $ldoc->{team_progress}{features_in_progress} // [] })
	  . ' features in progress, version ' . (($ldoc->{context_version} // '') =~ /^[0-9a-f]{16}$/ ? 'ok' : $ldoc->{context_version} // 'none'),
	'4 members, 2 features in progress, version ok', '5: team_context works for a member after the update');
is(join(', ', map { "$_->{open_todos}/$_->{open_points}" } sort { $a->{user_id} cmp $b->{user_id} } @{ $ldoc->{team_members} // [] }),
	$node->safe_psql('legacy', qq{
SELECT string_agg(coalesce(l.open_todos, 0) || '/' || coalesce(l.open_points, 0), ', ' ORDER BY m.user_id::text)
  FROM intracker_data.project_members m
  LEFT JOIN intracker_data.member_load l USING (project_id, user_id)
 WHERE m.project_id = '$lp[0]'}),
	'5: ... its members\' open todos and points are the migrated loads');

# Changes after the update, on migrated rows.
safe_psql_as($node, 'legacy', $l->{lo}, <<"SQL");
SELECT FROM (SELECT t.id, t.version FROM intracker.todos t WHERE t.project_id = '$lp[0]' AND t.status = 'done'
              ORDER BY t.completed_at LIMIT 3) t, LATERAL intracker.update_todo(t.id, '{"estimate": 8}', t.version);
SELECT FROM (SELECT t.id, t.version FROM intracker.todos t WHERE t.project_id = '$lp[0]' AND t.status = 'done'
              ORDER BY t.completed_at DESC LIMIT 2) t, LATERAL intracker.set_todo_status(t.id, 'todo', t.version);
SELECT FROM (SELECT t.id, t.version FROM intracker.todos t WHERE t.project_id = '$lp[0]' AND t.status = 'done'
              ORDER BY t.id LIMIT 2) t, LATERAL intracker.update_todo(t.id, '{"feature_id": null}', t.version);
DELETE FROM intracker.todos WHERE id = (SELECT id FROM intracker.todos WHERE project_id = '$lp[0]' AND status = 'done' ORDER BY id DESC LIMIT 1);
SELECT FROM intracker.create_todo('$lp[0]', 'After the update', estimate => 6, status => 'done');
SELECT FROM intracker.claim_next_todo('$lp[0]');
SQL
counters_consistent($node, 'legacy', '5, after changes in 0.3');
progress_consistent($node, 'legacy', '5, after changes in 0.3', $lp[0], $l->{la});

##############################################################################
# 6. The document outlives the call that built it
#
# Forty documents built in one statement (one snapshot, one now()) must be
# forty copies of one valid document, also when it is large (team_context
# of the busy project, resume_context of a member with many todos).  Last
# in this file because a failure here can take the server down.
##############################################################################

for my $case ([ team_context => $u->{watcher} ], [ resume_context => $u->{w1} ])
{
	my ($fn, $user) = @$case;
	my ($ret, $out, $err) = psql_as($node, $db, $user, <<"SQL");
SET intracker.context_todo_limit = 200;
SET intracker.context_max_bytes = '4MB';
SELECT count(*) || ' calls, ' || count(DISTINCT md5(d::text)) || ' distinct documents', min(length(d::text))
  FROM (SELECT intracker.$fn(CASE WHEN i > 0 THEN '$busy'::uuid END) AS d FROM generate_series(1, 40) AS i) x;
SQL
	my ($what, $bytes) = split /\|/, $out // '';
	is($what, '40 calls, 1 distinct documents',
		"6: $fn called 40 times in one statement returns 40 copies of one document")
	  or diag("psql exit $ret; stderr:\n$err");
	note("6: $fn document of " . ($bytes // '?') . ' bytes');
	is(scalar($node->psql('postgres', 'SELECT 1')), 0, "6: the server is still up after the $fn calls");
	revive_server();
}

diag(sprintf('%-58s %6.1f s', 'total', tv_interval($t_all)));
$node->stop;
done_testing();
