# 014_assignee_rules.pl — issue 12, item 10: the rules of who may hold work
# under concurrency and across pg_dump / pg_restore.
#
#   a. Two-session races, each forced by holding one transaction open
#      (IntrackerTest::Session->race), on the paths that 0.5 left unchecked
#      (update_todo, PATCH of the view, create_todo): an assignment against
#      the assignee's deactivation (both orders), against their loss of
#      availability, against an owner setting their capacity to 0, and
#      against a second assignment to the same member that only one of the
#      two fits.  The second writer waits for the first and then judges
#      what it committed: no inactive or unavailable assignee, no member over
#      capacity.  And two writers assigning to the same two unlimited
#      members in opposite orders do not deadlock through the check's locks;
#      two writers of one member's versioned load row both count.
#   b. A dump of a database whose members changed after they were given
#      work (deactivated with a done todo, demoted to viewer, capacity
#      lowered below their load, capacity 0, unavailable) restores whole with
#      pg_restore, pg_restore -1 and psql -f of a plain dump: the rows come
#      back as they were dumped, the counters are rebuilt exactly, and new
#      writes in the restored database follow the rules again.
#
# Every session is a non-superuser: PostgREST's path (authenticator, role
# web_user, JWT claims) or act_as on tracker_admin.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IntrackerTest;

my $db   = 'rules';
my $node = new_node('rules');
install_extension($node, $db);
create_test_roles($node);

my $u = create_users($node, $db,
	olga => 'human', ed => 'agent', leaver => 'human', quitter => 'human', away => 'agent',
	capped => 'agent', zeroed => 'human');

my $p = safe_psql_as($node, $db, $u->{olga}, "SELECT id FROM intracker.create_project('Races')");
safe_psql_as($node, $db, $u->{olga},
	join('', map { "SELECT FROM intracker.add_member('$p', '$u->{$_}', 'editor');\n" }
		  qw(ed leaver quitter away capped zeroed)));
safe_psql_as($node, $db, $u->{olga}, "SELECT FROM intracker.set_capacity('$p', '$u->{capped}', 3)");

sub new_todo
{
	my ($title, $estimate) = @_;
	return safe_psql_as($node, $db, $u->{olga},
		"SELECT id FROM intracker.create_todo('$p', " . q_lit($title) . ", estimate => " . ($estimate // 1) . ")");
}

sub assignee_of
{
	my ($todo) = @_;
	my $id = $node->safe_psql($db, "SELECT coalesce(assigned_to::text, 'nobody') FROM intracker_data.todos WHERE id = '$todo'");
	my %name_of = reverse %$u;
	return $name_of{$id} // $id;
}

##############################################################################
# a. Races
##############################################################################

# Writers: ed twice on PostgREST's path; the admin (deactivation) and the
# members themselves (availability) and olga (capacity) act_as.
my $ed1    = IntrackerTest::Session->new($node, $db, name => 'ed-1',  user => $u->{ed},   via => 'jwt');
my $ed2    = IntrackerTest::Session->new($node, $db, name => 'ed-2',  user => $u->{ed},   via => 'jwt');
my $admin  = IntrackerTest::Session->new($node, $db, name => 'admin', via => 'none');
my $owner  = IntrackerTest::Session->new($node, $db, name => 'olga',  user => $u->{olga});
my $member = IntrackerTest::Session->new($node, $db, name => 'away',  user => $u->{away});

sub story
{
	my ($label, $r) = @_;
	note("a, $label: B was '$r->{b_state}' until A committed, then returned '$r->{b_out}'"
		  . ($r->{b_err} ne '' ? ", error: $r->{b_err}" : ''));
	return;
}

# 1. update_todo gives leaver work while an admin deactivates them.
{
	my $t = new_todo('Handed to the leaver');
	my $r = $ed1->race($admin,
		"SELECT assigned_to FROM intracker.update_todo('$t', '{\"assigned_to\": \"$u->{leaver}\"}', 1)",
		"SELECT is_active FROM intracker.set_user_active('$u->{leaver}', false)");
	story('assignment first, deactivation second', $r);
	like($r->{b_state}, qr/^blocked/, 'a: a deactivation waits for an uncommitted update_todo that gives the user work');
	is($r->{b_err}, '', '... and then succeeds');
	is(assignee_of($t), 'nobody', '... and unassigns that work too: no open todo is left with the inactive user');
}

# 2. The other order: the deactivation is in flight when the PATCH comes.
{
	$node->safe_psql($db, "SELECT FROM intracker.set_user_active('$u->{quitter}', true)");
	my $t = new_todo('Handed to the quitter');
	my $r = $admin->race($ed1,
		"SELECT is_active FROM intracker.set_user_active('$u->{quitter}', false)",
		"UPDATE intracker.todos SET assigned_to = '$u->{quitter}' WHERE id = '$t'");
	story('deactivation first, PATCH second', $r);
	like($r->{b_state}, qr/^blocked/, 'a: a PATCH that names a user being deactivated waits for the deactivation');
	like($r->{b_err}, qr/22023: user $u->{quitter} is inactive/, '... and is then refused: user ... is inactive');
	is(assignee_of($t), 'nobody', '... the todo stays unassigned');
}
is(open_work_of_inactive_users($node, $db), '', 'a: no open work is assigned to an inactive user');

# 3. A member making themselves unavailable while work is being given.
{
	my $t = new_todo('Handed to the one leaving for lunch');
	my $r = $member->race($ed1,
		"SELECT available FROM intracker.set_availability('$p', false)",
		"SELECT assigned_to FROM intracker.create_todo('$p', 'Created for away', assigned_to => '$u->{away}')");
	story('unavailable first, create_todo second', $r);
	like($r->{b_state}, qr/^blocked/, 'a: create_todo naming a member who is becoming unavailable waits');
	like($r->{b_err}, qr/22023: user $u->{away} is not available in project $p/, '... and is then refused: not available');
	is($node->safe_psql($db, "SELECT count(*) FROM intracker_data.todos WHERE title = 'Created for away'"), '0',
		'... and created nothing');
}

# 4. The owner sets a capacity of 0 while work is being given.
{
	my $t = new_todo('Handed to the zeroed');
	my $r = $owner->race($ed1,
		"SELECT capacity FROM intracker.set_capacity('$p', '$u->{zeroed}', 0)",
		"SELECT assigned_to FROM intracker.update_todo('$t', '{\"assigned_to\": \"$u->{zeroed}\"}', 1)");
	story('capacity 0 first, update_todo second', $r);
	like($r->{b_state}, qr/^blocked/, 'a: update_todo naming a member whose capacity is being set waits');
	like($r->{b_err}, qr/22023: user $u->{zeroed} has no capacity for this todo/, '... and is then refused: no capacity');
	is(assignee_of($t), 'nobody', '... the todo stays unassigned');
}

# 5. Two assignments to capped (capacity 3) of 2 points each: only one fits.
{
	my $t1 = new_todo('First two points',  2);
	my $t2 = new_todo('Second two points', 2);
	my $r = $ed1->race($ed2,
		"UPDATE intracker.todos SET assigned_to = '$u->{capped}' WHERE id = '$t1'",
		"SELECT assigned_to FROM intracker.update_todo('$t2', '{\"assigned_to\": \"$u->{capped}\"}', 1)");
	story('two assignments to one member', $r);
	like($r->{b_state}, qr/^blocked/, 'a: a second assignment to the same member waits for the first');
	like($r->{b_err}, qr/22023: user $u->{capped} has no capacity for this todo.*Open points 2 plus this todo's 2 would exceed capacity 3/s,
		'... and then sees its points: refused, with the committed load in DETAIL');
	is(assignee_of($t1) . ' ' . assignee_of($t2), 'capped nobody', '... one of the two got it');
	is($node->safe_psql($db, "SELECT open_points FROM intracker.member_load WHERE project_id = '$p' AND user_id = '$u->{capped}'"),
		'2', '... capped holds 2 points, within the capacity of 3');
}
# 6. No deadlock from the assignee check's locks (issue 13).  A holds the
# load row of the lower member X (its statement's counter update); B's one
# statement gives Y (higher) a todo, then X one, and waits for X; A then
# gives Y a todo.  The check used to lock each assignee's load row row by
# row, so B held Y while waiting for X and A's second statement closed the
# circle (40P01).  Now only a limited capacity takes that lock, and B's
# counter update takes X and Y in key order: it waits holding nothing.
{
	my ($x, $y) = sort { $a cmp $b } ($u->{ed}, $u->{olga});
	my ($t1, $t2, $t3, $t4) = map { new_todo("Key order $_") } 1 .. 4;
	$ed1->query_safe("BEGIN; UPDATE intracker.todos SET assigned_to = '$x' WHERE id = '$t1';");
	# (a sequential scan: the rows in the order they were created, Y's first)
	$ed2->query_safe('SET enable_indexscan = off; SET enable_bitmapscan = off;');
	$ed2->send("UPDATE intracker.todos SET assigned_to = CASE id WHEN '$t2' THEN '$y'::uuid ELSE '$x'::uuid END"
		  . " WHERE id IN ('$t2', '$t3')");
	like($ed2->wait_until_blocked, qr/^blocked/, 'a: a statement assigning to Y then X waits for the X load row A holds');
	my (undef, $a_err) = $ed1->query("UPDATE intracker.todos SET assigned_to = '$y' WHERE id = '$t4';");
	is($a_err, '', '... A then assigns to Y: no deadlock, it does not wait for B');
	$ed1->query_safe('COMMIT;');
	my (undef, $b_err) = $ed2->wait_result;
	is($b_err, '', '... and B completes once A commits');
	$ed2->query_safe('RESET enable_indexscan; RESET enable_bitmapscan;');
	is(join(' ', map { assignee_of($_) } ($t1, $t2, $t3, $t4)),
		join(' ', map { { reverse %$u }->{$_} } ($x, $y, $x, $y)), '... every todo has its assignee');
}
# 7. Two writers of one member's load at once (issue 13: member_load rows
# are versioned).  A's statement replaced ed's row by the next generation;
# B's, from a snapshot without A's, waits to delete the row A deleted, finds
# it gone once A commits, and must try again on A's row: dropping its own
# change instead would leave ed one todo short.
{
	my $load = "SELECT open_todos FROM intracker.member_load WHERE project_id = '$p' AND user_id = '$u->{ed}'";
	my $before = $node->safe_psql($db, $load);
	my ($t1, $t2) = map { new_todo("Versioned load $_") } 1 .. 2;
	my $r = $ed1->race($ed2,
		"UPDATE intracker.todos SET assigned_to = '$u->{ed}' WHERE id = '$t1'",
		"UPDATE intracker.todos SET assigned_to = '$u->{ed}' WHERE id = '$t2'");
	story('two writers of one load row', $r);
	like($r->{b_state}, qr/^blocked/, 'a: a second write of a member\'s load waits for the first');
	is($r->{b_err}, '', '... and then succeeds');
	is($node->safe_psql($db, $load), $before + 2, '... and both count: the second applied its change to the first\'s row');
	is($node->safe_psql($db,
			"SELECT count(*) FROM intracker_data.member_load WHERE project_id = '$p' AND user_id = '$u->{ed}'"),
		'1', '... which it replaced in turn: one live row');
}
counters_consistent($node, $db, 'a, after the races', $p);
$_->quit for $ed1, $ed2, $admin, $owner, $member;

##############################################################################
# b. Restore: the dump's assignments as they were made
##############################################################################

# Work given first, the members changed afterwards: each row below would be
# refused as a new write today.
my $src = safe_psql_as($node, $db, $u->{olga}, "SELECT id FROM intracker.create_project('Dumped')");
$node->safe_psql($db, "SELECT FROM intracker.set_user_active('$u->{quitter}', true)");
for my $who (qw(ed away capped zeroed quitter))
{
	safe_psql_as($node, $db, $u->{olga}, "SELECT FROM intracker.add_member('$src', '$u->{$who}', 'editor')");
}
safe_psql_as($node, $db, $u->{olga}, <<"SQL");
SELECT FROM intracker.create_todo('$src', 'Done by the quitter', assigned_to => '$u->{quitter}', status => 'done', estimate => 3);
SELECT FROM intracker.create_todo('$src', 'Held by the viewer-to-be', assigned_to => '$u->{ed}', estimate => 2);
SELECT FROM intracker.create_feature('$src', 'Led by the viewer-to-be', assigned_to => '$u->{ed}');
SELECT FROM generate_series(1, 3) i,
       intracker.create_todo('$src', 'Held by the capped ' || i, assigned_to => '$u->{capped}', estimate => 2);
SELECT FROM intracker.create_todo('$src', 'Held by the zeroed', assigned_to => '$u->{zeroed}', estimate => 1);
SELECT FROM intracker.create_todo('$src', 'Held by the absent', assigned_to => '$u->{away}', estimate => 1);
SELECT FROM intracker.create_feature('$src', 'Led by the absent', assigned_to => '$u->{away}');
SELECT FROM intracker.add_member('$src', '$u->{ed}', 'viewer');
SELECT FROM intracker.set_capacity('$src', '$u->{capped}', 2);
SELECT FROM intracker.set_capacity('$src', '$u->{zeroed}', 0);
SQL
# (away is unavailable everywhere since a.3: availability is per project, so
# set it here too.)
safe_psql_as($node, $db, $u->{away}, "SELECT FROM intracker.set_availability('$src', false)");
$node->safe_psql($db, "SELECT FROM intracker.set_user_active('$u->{quitter}', false)");

my %refused_now = (
	'a done todo of a deactivated user' => "SELECT intracker.create_todo('$src', 'x', assigned_to => '$u->{quitter}', status => 'done')",
	'a todo of a viewer'                => "SELECT intracker.create_todo('$src', 'x', assigned_to => '$u->{ed}')",
	'a todo of a member over capacity'  => "SELECT intracker.create_todo('$src', 'x', assigned_to => '$u->{capped}')",
	'a todo of a member at capacity 0'  => "SELECT intracker.create_todo('$src', 'x', assigned_to => '$u->{zeroed}')",
	'a feature of an unavailable member' => "SELECT intracker.create_feature('$src', 'x', assigned_to => '$u->{away}')",);
for my $what (sort keys %refused_now)
{
	my ($ret, $out, $err) = psql_as($node, $db, $u->{olga}, $refused_now{$what});
	like($err, qr/ERROR:  (22023|42501)/, "b: (the dumped database holds $what, which a new write could not create)");
}

# What must come back the same.
my $rows = q{
SELECT string_agg(format('%s %s %s %s v%s', kind, title, status, coalesce(assigned_to::text, '-'), version), E'\n'
                  ORDER BY kind, title, id)
  FROM (SELECT 'todo' AS kind, id, title, status, assigned_to, version FROM intracker_data.todos
        UNION ALL
        SELECT 'feature', id, title, status, assigned_to, version FROM intracker_data.features) r};
my $members = q{
SELECT string_agg(format('%s %s %s %s %s', project_id, user_id, role, available, coalesce(capacity::text, '-')), E'\n'
                  ORDER BY project_id, user_id) FROM intracker_data.project_members};
my $source_rows    = $node->safe_psql($db, $rows);
my $source_members = $node->safe_psql($db, $members);

my $dir = PostgreSQL::Test::Utils::tempdir();
$node->command_checks_all([ 'pg_dump', '-Fc', '-f', "$dir/rules.dump", '-d', $node->connstr($db) ],
	0, [qr/\A\z/], [qr/\A\z/], 'b: pg_dump -Fc');
$node->command_checks_all([ 'pg_dump', '-Fp', '-f', "$dir/rules.sql", '-d', $node->connstr($db) ],
	0, [qr/\A\z/], [qr/\A\z/], 'b: pg_dump -Fp');

my %restores = (
	'pg_restore'    => [ 'pg_restore', '-d', $node->connstr('restored'), "$dir/rules.dump" ],
	'pg_restore -1' => [ 'pg_restore', '-1', '-d', $node->connstr('restored_one'), "$dir/rules.dump" ],
	'psql -f'       => [ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-o', "$dir/plain.out",
						 '-d', $node->connstr('restored_plain'), '-f', "$dir/rules.sql" ],);
my %database_of = ('pg_restore' => 'restored', 'pg_restore -1' => 'restored_one', 'psql -f' => 'restored_plain');
for my $how (sort keys %restores)
{
	my $target = $database_of{$how};
	$node->safe_psql('postgres', "CREATE DATABASE $target");
	$node->command_checks_all($restores{$how}, 0, [qr/\A\z/], [qr/\A\z/], "b: $how restores the dump without an error");
	is($node->safe_psql($target, $rows), $source_rows,
		"b, $how: every todo and feature is back with its assignee, status and version");
	is($node->safe_psql($target, $members), $source_members, "b, $how: memberships are back with role, availability and capacity");
	counters_consistent($node, $target, "b, $how");
	my ($ret, $out, $err) = psql_as($node, $target, $u->{olga},
		"SELECT intracker.create_feature('$src', 'After the restore', assigned_to => '$u->{away}')");
	like($err, qr/22023: user $u->{away} is not available in project $src/,
		"b, $how: a new write in the restored database follows the rules again");
}

$node->stop;
done_testing();
