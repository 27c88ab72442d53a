# 002_concurrent_stale_write.pl — races between two real sessions.
#
# Session A acts through act_as() (login tracker_admin), session B through the
# PostgREST path (login authenticator, SET ROLE web_user, JWT claims); neither
# is a superuser, so RLS and grants apply as in production.
#
#   1. Stale write race: A and B both read a todo at version N.  A updates it
#      with expected version N in an open transaction; B's update based on N
#      blocks on A's row lock.
#        A commits   -> B fails with PT409, the row keeps A's values, version N+1
#        A rolls back -> B succeeds, the row has B's values, version N+1
#      once through intracker.update_todo() and once through a plain
#      UPDATE intracker.todos SET ..., version = N.
#   2. Dependency cycle race: A adds "X blocked by Y", B adds "Y blocked by X",
#      both in open transactions.  B waits for A (advisory lock per project);
#      exactly one succeeds, the other fails with 23514.
#   3. Owners removing each other: the only two owners of a project remove
#      each other at the same time; at most one succeeds and the project keeps
#      an owner.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IntrackerTest;

my $node = new_node('races');
install_extension($node, 'tracker');
create_test_roles($node);
my $t = sample_team($node, 'tracker');

# Project 'apollo': alice owner, bob and robot editors.
my $a = IntrackerTest::Session->new($node, 'tracker',
	name => 'A', user => $t->{bob}, via => 'act_as');
my $b = IntrackerTest::Session->new($node, 'tracker',
	name => 'B', user => $t->{robot}, via => 'jwt');

# Superuser view of a row, for checking what was really stored.
sub stored
{
	my ($sql) = @_;
	return $node->safe_psql('tracker', $sql);
}

sub new_todo
{
	my ($title) = @_;
	return safe_psql_as($node, 'tracker', $t->{alice},
		"SELECT id FROM intracker.create_todo('$t->{apollo}', " . q_lit($title) . ")");
}

# Let A run $first in an open transaction, then B run $second (also in a
# transaction), which must block on A.  A then ends with $a_end (COMMIT or
# ROLLBACK).  B's transaction is committed if its statement succeeded and
# rolled back otherwise.  Returns a hash with A's output, B's wait state,
# output and stderr.
sub race
{
	my (%r) = @_;
	my %res = %{ $a->race($b, $r{first}, $r{second}, end => $r{a_end}, b_begin => 1) };
	my (undef, $end_err) = $b->query($res{b_err} eq '' ? 'COMMIT' : 'ROLLBACK');
	die "B could not end its transaction: $end_err" if $end_err ne '';
	my $story = "A ran {$r{first}} then $r{a_end}; B ran {$r{second}}: "
	  . "B's state while A was open: $res{b_state}; B's output '$res{b_out}', error '$res{b_err}'";
	# Every race expects B to wait for A; if it did not, the serialisation
	# the assertions rely on is missing: say what happened instead.
	if ($res{b_state} =~ /^blocked/) { note "race: $story" }
	else { diag "race: B did not wait for A. $story" }
	return \%res;
}

#
# 1. Stale write races on a todo.
#
my @paths = (
	{
		name  => 'update_todo()',
		write => sub {
			my ($id, $title, $version) = @_;
			return "SELECT version FROM intracker.update_todo('$id', "
			  . q_lit(qq({"title": "$title"}))
			  . ", $version)";
		},
	},
	{
		name  => 'UPDATE on the view',
		write => sub {
			my ($id, $title, $version) = @_;
			return "UPDATE intracker.todos SET title = "
			  . q_lit($title)
			  . ", version = $version WHERE id = '$id' RETURNING version";
		},
	});

for my $path (@paths)
{
	my $p = $path->{name};

	# A commits: B's write was based on a version that no longer exists.
	my $id = new_todo("race via $p");
	my $n_a = $a->query_safe("SELECT version FROM intracker.todos WHERE id = '$id'");
	my $n_b = $b->query_safe("SELECT version FROM intracker.todos WHERE id = '$id'");
	is($n_b, $n_a, "$p, A commits: both sessions read the same version ($n_a)");
	my $n = $n_a;

	my $r = race(
		first  => $path->{write}->($id, 'title from A', $n),
		second => $path->{write}->($id, 'title from B', $n),
		a_end  => 'COMMIT');
	is($r->{a_out}, $n + 1, "$p, A commits: A's update returns version " . ($n + 1));
	like($r->{b_state}, qr/^blocked/, "$p, A commits: B's update waits for A's transaction");
	is_sqlstate($r->{b_err}, 'PT409',
		"$p, A commits: B's stale update fails with PT409 instead of overwriting", $r->{b_out});
	like($r->{b_err}, qr/DETAIL:\s+The write was based on version $n; the current version is @{[$n + 1]}\./,
		"$p, A commits: the DETAIL names the stale and the current version");
	is($r->{b_out}, '', "$p, A commits: B's update returned no row");
	is(stored("SELECT title || ' v' || version FROM intracker_data.todos WHERE id = '$id'"),
		'title from A v' . ($n + 1), "$p, A commits: the row has A's title and version N+1");

	# A rolls back: B's write was based on the current version after all.
	$id = new_todo("rollback race via $p");
	$n = $a->query_safe("SELECT version FROM intracker.todos WHERE id = '$id'");
	is($b->query_safe("SELECT version FROM intracker.todos WHERE id = '$id'"), $n,
		"$p, A rolls back: both sessions read the same version ($n)");
	$r = race(
		first  => $path->{write}->($id, 'title from A', $n),
		second => $path->{write}->($id, 'title from B', $n),
		a_end  => 'ROLLBACK');
	like($r->{b_state}, qr/^blocked/, "$p, A rolls back: B's update waits for A's transaction");
	is($r->{b_err}, '', "$p, A rolls back: B's update succeeds");
	is($r->{b_out}, $n + 1, "$p, A rolls back: B's update returns version " . ($n + 1));
	is(stored("SELECT title || ' v' || version FROM intracker_data.todos WHERE id = '$id'"),
		'title from B v' . ($n + 1), "$p, A rolls back: the row has B's title and version N+1");
}

#
# 2. Two dependencies that together would form a cycle.
#
for my $a_end ('COMMIT', 'ROLLBACK')
{
	my $ends = $a_end eq 'COMMIT' ? 'commits' : 'rolls back';
	my $x = new_todo("cycle X ($a_end)");
	my $y = new_todo("cycle Y ($a_end)");
	my $r = race(
		first  => "SELECT todo_id FROM intracker.add_dependency('$x', '$y')",
		second => "SELECT todo_id FROM intracker.add_dependency('$y', '$x')",
		a_end  => $a_end);
	is($r->{a_out}, $x, "cycle, A $ends: A's add_dependency succeeds inside its transaction");
	is($r->{b_state}, 'blocked:advisory',
		"cycle, A $ends: B's add_dependency waits for A on the project's advisory lock");
	my $deps = stored(
		"SELECT coalesce(string_agg(CASE todo_id WHEN '$x' THEN 'X' ELSE 'Y' END
		                            || ' blocked by '
		                            || CASE blocked_by WHEN '$x' THEN 'X' ELSE 'Y' END, ', '), 'none')
		   FROM intracker_data.todo_dependencies WHERE todo_id IN ('$x', '$y')");
	if ($a_end eq 'COMMIT')
	{
		is_sqlstate($r->{b_err}, '23514',
			'cycle, A commits: B fails with 23514 once A has committed', $r->{b_out});
		like($r->{b_err}, qr/cycle/, 'cycle, A commits: the error says it would create a cycle');
		is($deps, 'X blocked by Y', 'cycle, A commits: only A\'s dependency exists');
	}
	else
	{
		is($r->{b_err}, '', 'cycle, A rolls back: B\'s add_dependency succeeds');
		is($r->{b_out}, $y, 'cycle, A rolls back: B\'s add_dependency returns its row');
		is($deps, 'Y blocked by X', 'cycle, A rolls back: only B\'s dependency exists');
	}
}

#
# 3. The only two owners of a project remove each other at the same time.
#
my $proj = safe_psql_as($node, 'tracker', $t->{alice},
	"SELECT id FROM intracker.create_project('Two owners')");
safe_psql_as($node, 'tracker', $t->{alice}, <<"SQL");
SELECT FROM intracker.add_member('$proj', '$t->{erin}', 'owner');
SELECT FROM intracker.add_member('$proj', '$t->{bob}', 'editor');
SQL
$a->become($t->{alice});
$b->become($t->{erin});
my $r = race(
	first  => "SELECT user_id FROM intracker.remove_member('$proj', '$t->{erin}')",
	second => "SELECT user_id FROM intracker.remove_member('$proj', '$t->{alice}')",
	a_end  => 'COMMIT');
is($r->{a_out}, $t->{erin}, 'owners: alice removes erin inside her transaction');
like($r->{b_state}, qr/^blocked/, 'owners: erin removing alice waits for alice\'s transaction');
is_sqlstate($r->{b_err}, '23514',
	'owners: erin\'s removal of alice fails with 23514 (last owner) after alice commits', $r->{b_out});
my $owners = stored("SELECT string_agg(u.name, ',' ORDER BY u.name)
                       FROM intracker_data.project_members m JOIN intracker_data.users u ON u.id = m.user_id
                      WHERE m.project_id = '$proj' AND m.role = 'owner'");
is($owners, q{Alice O'Hara}, 'owners: the project keeps exactly one owner, alice');
is(stored("SELECT count(*) FROM intracker_data.project_members WHERE project_id = '$proj'"),
	2, 'owners: only erin left the project (alice and bob remain)');

$a->quit;
$b->quit;
$node->stop;
done_testing();
