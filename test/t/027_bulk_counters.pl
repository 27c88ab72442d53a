# 027_bulk_counters.pl — the counters under bulk statements and concurrency
# (issue 13): 8 sessions run random transactions of one to four statements
# each, mixing bulk INSERT … SELECT, bulk UPDATEs that move todos across
# features and members and change their states and estimates, single
# writes through the API, and deletes.  Afterwards every counter
# (member_load, project_stats, project_daily_done, feature_stats, the
# claim-order counters) equals a recomputation from the rows, and the
# deadlocks (40P01) are counted and printed (those on counter rows are a
# known limit still: a TODO test).  Then two sessions that share a writer
# slot race on its rows.
#
# The sessions share the counter rows (every member's load, the projects'
# and features' progress) but each bulk statement touches only the todos
# its session created, and each session its own feature's row: the rows
# they change never cross, so a deadlock can only come from the counters.
#
# The seed is printed; INTRACKER_SEED=n reproduces the scripts.

use strict;
use warnings;
use List::Util qw(sum);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IntrackerTest;

my $seed = $ENV{INTRACKER_SEED} // int(rand(1_000_000_000));
srand($seed);
diag("random seed $seed (rerun with INTRACKER_SEED=$seed to get the same scripts)");

my $db = 'postgres';
my $node = new_node('bulk');
# Deadlocks are expected (and counted): detect them fast.
$node->append_conf('postgresql.conf', "deadlock_timeout = 50ms\n");
$node->reload;
install_extension($node, $db);
create_test_roles($node);

# Eight editors (w1..w8) in two projects of an owner, ten features each.
my $owner = $node->safe_psql($db, "SELECT id FROM intracker.create_user('owner\@example.com', 'Owner', 'human')");
my @writers = map { $node->safe_psql($db, "SELECT id FROM intracker.create_user('w$_\@example.com', 'W$_', 'agent')") } 1 .. 8;
my (@projects, %features);
for my $p (1 .. 2)
{
	my $project = safe_psql_as($node, $db, $owner, "SELECT id FROM intracker.create_project('Bulk $p')");
	push @projects, $project;
	safe_psql_as($node, $db, $owner, "SELECT intracker.add_member('$project', '$_', 'editor')") for @writers;
	$features{$project} = [ split /\n/, safe_psql_as($node, $db, $owner,
			"SELECT (intracker.create_feature('$project', 'Feature ' || i)).id FROM generate_series(1, 10) AS i") ];
}
my @members = ($owner, @writers);

# A team's first large import into todos never analyzed gets statistics
# before it ends (import_statistics.c), on PostgREST's path: a small
# statement leaves the table without them, one of 1,500 todos analyzes it,
# and a second one does not again.  (Autovacuum is kept off the table
# meanwhile, so that only the import can analyze it.)
{
	my $reltuples = sub { $node->safe_psql($db, "SELECT reltuples FROM pg_class WHERE oid = 'intracker_data.todos'::regclass") };
	my $import = sub {
		my ($rows) = @_;
		safe_psql_as($node, $db, $owner,
			"INSERT INTO intracker.todos (project_id, title) SELECT '$projects[0]', 'Imported ' || i FROM generate_series(1, $rows) AS i",
			via => 'jwt');
	};
	$node->safe_psql($db, 'ALTER TABLE intracker_data.todos SET (autovacuum_enabled = off)');
	is($reltuples->(), '-1', 'first import: the todos were never analyzed');
	$import->(10);
	is($reltuples->(), '-1', '... a statement of 10 todos leaves them so');
	$import->(1500);
	is($reltuples->(), '1510', '... one of 1,500 (by web_user, not the owner) analyzes them before it ends');
	$import->(1500);
	is($reltuples->(), '1510', '... and the next import does not again: autovacuum keeps statistics from there');
	$node->safe_psql($db, 'ALTER TABLE intracker_data.todos RESET (autovacuum_enabled)');
	safe_psql_as($node, $db, $owner, "DELETE FROM intracker.todos WHERE title LIKE 'Imported %'");
}

sub list_sql { return 'ARRAY[' . join(', ', map { "'$_'" } @_) . ']::uuid[]' }

# The session whose script is being written: its todos, its feature.
our $writer;
my $mine = 'created_by = intracker.current_user_id()';

# One random statement of a transaction.
my @operations = (
	[ 3, sub {    # bulk insert, some assigned, some done
			my $p = rand_of(@projects);
			my $n = 10 + int(rand(60));
			return "INSERT INTO intracker.todos (project_id, feature_id, title, estimate, status, assigned_to)
SELECT '$p', (" . list_sql(@{ $features{$p} }) . ")[1 + (i * 7 + $n) % 10], 'Bulk ' || i, 1 + i % 5,
       (ARRAY['todo', 'todo', 'in_progress', 'review', 'done', 'cancelled'])[1 + (i + $n) % 6],
       CASE WHEN i % 3 = 0 THEN NULL ELSE (" . list_sql(@members) . ")[1 + (i + $n) % 9] END
  FROM generate_series(1, $n) AS i;";
		} ],
	[ 3, sub {    # bulk move across features
			my $p = rand_of(@projects);
			return "UPDATE intracker.todos SET feature_id = '" . rand_of(@{ $features{$p} }) . "'
 WHERE project_id = '$p' AND feature_id = '" . rand_of(@{ $features{$p} }) . "' AND $mine AND random() < 0.5;";
		} ],
	[ 3, sub {    # bulk reassignment (to a member, or to nobody)
			my $p = rand_of(@projects);
			my $to = rand() < 0.2 ? 'NULL' : "'" . rand_of(@members) . "'";
			return "UPDATE intracker.todos SET assigned_to = $to
 WHERE project_id = '$p' AND assigned_to IS NOT DISTINCT FROM " . (rand() < 0.3 ? 'NULL' : "'" . rand_of(@members) . "'")
			  . " AND $mine AND random() < 0.4;";
		} ],
	[ 3, sub {    # bulk state and estimate changes
			my $p = rand_of(@projects);
			return "UPDATE intracker.todos SET status = " . q_lit(rand_of(qw(todo in_progress review done cancelled)))
			  . ", estimate = 1 + (estimate + " . int(rand(5)) . ") % 8
 WHERE project_id = '$p' AND status <> 'blocked' AND $mine AND random() < 0.3;";
		} ],
	[ 2, sub {    # bulk delete
			my $p = rand_of(@projects);
			return "DELETE FROM intracker.todos WHERE project_id = '$p' AND $mine AND random() < 0.1;";
		} ],
	[ 3, sub {    # a single write through the API
			my $p = rand_of(@projects);
			return "SELECT FROM intracker.create_todo('$p', 'One', feature_id => '" . rand_of(@{ $features{$p} })
			  . "', assigned_to => '" . rand_of(@members) . "', estimate => " . (1 + int(rand(5))) . ");";
		} ],
	[ 1, sub {    # its own feature's status and assignee (features count in member_load too)
			my $p = rand_of(@projects);
			return "UPDATE intracker.features SET status = " . q_lit(rand_of(qw(todo in_progress done)))
			  . ", assigned_to = '" . rand_of(@members) . "' WHERE id = '" . $features{$p}[$writer] . "';";
		} ],
);
my $total_weight = sum(map { $_->[0] } @operations);
sub random_statement
{
	my $r = rand($total_weight);
	for my $op (@operations)
	{
		return $op->[1]->() if ($r -= $op->[0]) < 0;
	}
	die 'unreachable';
}

# Each transaction: BEGIN, 1 to 4 statements, COMMIT (psql goes on after an
# error: the transaction is then aborted and its COMMIT rolls it back).
my $transactions = 100;
my @scripts;
for my $w (0 .. $#writers)
{
	local $writer = $w;
	my $script = "-- seed $seed, writer w" . ($w + 1) . "\n";
	for (1 .. $transactions)
	{
		$script .= "BEGIN;\n" . join("\n", map { random_statement() } 1 .. 1 + int(rand(4))) . "\nCOMMIT;\n";
	}
	push @scripts, $script;
}
my @sessions = map {
	IntrackerTest::Session->new($node, $db, name => "w" . ($_ + 1), user => $writers[$_], via => 'act_as')
} 0 .. $#writers;
$_->query_safe('SET client_min_messages = warning') for @sessions;
my ($results, $seconds) = run_together($node, map { [ $sessions[$_], $scripts[$_] ] } 0 .. $#writers);
$_->quit for @sessions;
diag(sprintf('%d transactions of 1 to 4 statements in 8 sessions: %.1f s', $transactions * 8, $seconds));

my %errors;
for my $r (@$results)
{
	my $c = error_counts($r->{err});
	$errors{$_} += $c->{$_} for keys %$c;
}
diag('errors by SQLSTATE: ' . (join(', ', map { "$_ $errors{$_}" } sort keys %errors) || 'none'));
# Expected: a claim that finds nothing claimable raises nothing; stale
# rows and races of membership give PT404/PT409; bulk status changes meet
# blockers (23514); an aborted transaction's later statements 25P02.
my %expected = map { $_ => 1 } qw(PT404 PT409 23514 22023 25P02 40P01);
my @unexpected = grep { !$expected{$_} } sort keys %errors;
is(join(', ', @unexpected), '', 'no statement failed with an unexpected SQLSTATE')
  or diag(join("\n", grep { /ERROR/ } map { split /\n/, $_->{err} } @$results));
my $todos = $node->safe_psql($db, 'SELECT count(*) FROM intracker_data.todos');
cmp_ok($todos, '>', 1000, "the workload left $todos todos");
counters_consistent($node, $db, 'after the bulk workload', \@projects);
# A deadlock's CONTEXT names the relation of the row it waited for.
my @deadlocks = grep { /ERROR:\s+40P01/ } map { split /(?=^psql:)/m, $_->{err} } @$results;
my @on_counters = grep { /relation "(?:member_load|project_stats|project_daily_done|feature_stats)"/ } @deadlocks;
diag(sprintf('deadlocks (40P01): %d in %d transactions, %d of them on counter rows',
		scalar(@deadlocks), $transactions * 8, scalar(@on_counters)));
TODO:
{
	# A counter write locks its row until the transaction ends (the
	# versioned rows are deleted and inserted): two transactions that each
	# touch two members' loads in separate statements, in opposite orders,
	# can deadlock (each statement alone writes in key order).  Appended
	# deltas would lock nothing, but their reads cost more (README, known
	# limits).
	local $TODO = 'counter rows are locked by their writers until commit (README: known limits)';
	is(scalar(@on_counters), 0, 'no deadlock on the counter rows');
}

##############################################################################
# Two sessions that share a writer slot (the backend id modulo 8, found by
# which slot each one's first write raises; of nine sessions two must share
# one): the second writer of a slot waits for the first, then replaces the
# row the first left; two first rows of a slot do not both survive; under
# REPEATABLE READ a replacement committed after the snapshot is 40001.
##############################################################################
{
	my $project = $projects[0];
	my $slot_generations = sub {
		my ($p) = @_;
		return { split /[|\n]/, $node->safe_psql($db,
				"SELECT slot, max(generation) FROM intracker_data.project_stats WHERE project_id = '$p' GROUP BY slot") };
	};
	my $new_todo = sub {
		my ($s, $p, $title) = @_;
		return $s->query_safe("SELECT id FROM intracker.create_todo('$p', '$title')");
	};
	my (%session_of_slot, @extra, $a, $b, $shared);
	for my $i (1 .. 9)
	{
		my $s = IntrackerTest::Session->new($node, $db, name => "slot probe $i", user => $owner);
		my $before = $slot_generations->($project);
		$new_todo->($s, $project, "slot probe $i");
		my $after = $slot_generations->($project);
		my @raised = grep { ($before->{$_} // -1) != $after->{$_} } keys %$after;
		die "session $i raised slots @raised" unless @raised == 1;
		if (exists $session_of_slot{ $raised[0] })
		{
			($a, $b, $shared) = ($session_of_slot{ $raised[0] }, $s, $raised[0]);
			last;
		}
		$session_of_slot{ $raised[0] } = $s;
	}
	ok(defined $b, 'two of nine sessions write the same slot' . (defined $shared ? " ($shared)" : ''));
	$_->quit for grep { $_ != $a } values %session_of_slot;

	my $live_rows_ok = sub {
		my ($p, $what) = @_;
		is($node->safe_psql($db, "SELECT count(*) FROM intracker.verify_counters('$p')"), '0',
			"$what: verify_counters finds nothing (one live row per slot, right sums)");
	};

	my ($t1, $t2) = map { $new_todo->($a, $project, "shared slot $_") } 1 .. 2;
	my $generation = $slot_generations->($project)->{$shared};
	my $r = $a->race($b, "UPDATE intracker.todos SET status = 'done' WHERE id = '$t1'",
		"UPDATE intracker.todos SET status = 'done' WHERE id = '$t2'");
	like($r->{b_state}, qr/^blocked:transactionid/, "a second writer of the slot waits for the first one's replacement");
	is($r->{b_err}, '', '... then replaces the row the first one left');
	is($slot_generations->($project)->{$shared}, $generation + 2, '... one generation each');
	$live_rows_ok->($project, 'after the two replacements');

	my $fresh = safe_psql_as($node, $db, $owner, "SELECT id FROM intracker.create_project('Fresh slots')");
	$r = $a->race($b, "SELECT id FROM intracker.create_todo('$fresh', 'first a')",
		"SELECT id FROM intracker.create_todo('$fresh', 'first b')");
	like($r->{b_state}, qr/^blocked:transactionid/, "two first rows of a slot: the second waits for the first");
	is($r->{b_err}, '', '... then replaces it instead of adding a second one');
	is($node->safe_psql($db,
			"SELECT format('%s rows, generation %s, %s open', count(*), max(generation), sum(todos_open))"
			  . " FROM intracker_data.project_stats WHERE project_id = '$fresh'"),
		'1 rows, generation 1, 2 open', '... so the slot has one row, generation 1, counting both todos');
	$live_rows_ok->($fresh, 'after two first writes');

	my ($t3, $t4) = map { $new_todo->($a, $project, "repeatable read $_") } 1 .. 2;
	$b->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
	$b->query_safe('SELECT count(*) FROM intracker.todos');
	$a->query_safe("UPDATE intracker.todos SET status = 'done' WHERE id = '$t3'");
	my (undef, $err) = $b->query("UPDATE intracker.todos SET status = 'done' WHERE id = '$t4'");
	like($err, qr/ERROR:\s+40001:/, 'under REPEATABLE READ, a slot row replaced since the snapshot: 40001 (retry)');
	$b->query_safe('ROLLBACK');
	$live_rows_ok->($project, 'after the serialization failure');
	$_->quit for ($a, $b);
}

$node->stop;
done_testing();
