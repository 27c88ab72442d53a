# 004_concurrent_assignment.pl — issue 3 (assignment, claim_next_todo, load
# counters) under real concurrency, across pg_dump/pg_restore and across the
# 0.1 -> 0.2 upgrade.
#
# Every session is a non-superuser acting as an intracker user (act_as on
# tracker_admin, or the PostgREST path on authenticator), so RLS, grants and
# the row-version trigger apply as in production.  Concurrent scripts start
# together at an advisory-lock barrier (IntrackerTest::run_together).
#
#   a. 8 sessions auto-assign 2,000 unassigned todos (estimates 1..5), one
#      transaction per call, while a viewer samples member_load.  Every todo
#      ends assigned exactly once, only to eligible members; in every sampled
#      state and at the end, the spread of open points between the eligible
#      members with room (max - min) is at most the largest estimate (5); a
#      member with capacity 12 never gets more; the counters agree with a
#      from-scratch aggregate.
#   b. 8 agents race on claim_next_todo in one project (200 todos, some
#      pre-assigned, some blocked), each claiming and finishing in a loop:
#      no todo is claimed twice, every todo ends done by its claimer, no
#      claim had an open blocker.  Then 8 claims at one instant: 8 distinct
#      todos, exactly the first 8 in claim order; with only 5 claimable, 5
#      claims and 3 "nothing to claim" NOTICEs.
#   c. A randomized workload (seed printed; INTRACKER_SEED=n reproduces the
#      scripts, which are saved under tmp_check) of 4,000 operations in 4
#      concurrent sessions; individual errors are expected and counted by
#      SQLSTATE, unexpected SQLSTATEs fail; the counters must still agree
#      with a from-scratch recomputation.
#   d. pg_dump + pg_restore of that database into a server that does not
#      preload the library: member settings survive, member_load and the
#      todo counters are rebuilt exactly, versions are untouched, automatic
#      assignment works.
#   e. CREATE EXTENSION VERSION '0.1' with data (assignments, dependencies,
#      done and cancelled todos), ALTER EXTENSION UPDATE: counters derived
#      exactly, versions untouched, assignment and claiming work.
#   f. Two-session races, each forced by holding one transaction open: a
#      user deactivated while work is assigned to them (manually and
#      automatically), a dependency added while its blocker is finished
#      (both orders); and deleting a todo in a dependency chain.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(gettimeofday tv_interval);
use List::Util qw(max min sum);
use IntrackerTest;

my $seed = $ENV{INTRACKER_SEED} || 20261123;
diag("random seed $seed (rerun with INTRACKER_SEED=$seed to get the same data and scripts)");
srand($seed);

my $t_all = [gettimeofday];

my $db   = 'tracker';
my $node = new_node('assign');
install_extension($node, $db);
create_test_roles($node);

# Where the claim loops record what they got: one row per successful claim,
# written in the claim's own transaction.
$node->safe_psql($db, q{
CREATE TABLE public.claims (
    session       text NOT NULL,
    user_id       uuid NOT NULL,
    todo_id       uuid NOT NULL,
    reason        text,
    version       integer,
    open_blockers bigint,
    claimed_at    timestamptz NOT NULL DEFAULT clock_timestamp());
GRANT SELECT, INSERT ON public.claims TO PUBLIC;
});

# Sessions for users, alternating between the act_as and the JWT path.
sub sessions_for
{
	my ($prefix, $users, @keys) = @_;
	my $i = 0;
	return map {
		IntrackerTest::Session->new($node, $db,
			name => "$prefix-$_",
			user => $users->{$_},
			via  => ($i++ % 2 ? 'jwt' : 'act_as'))
	} @keys;
}

# run_together's scripts print clock_timestamp() first and last; check that
# every session started before any finished, i.e. they really overlapped.
sub wrap_timed { return "SELECT extract(epoch FROM clock_timestamp());\n$_[0]\nSELECT extract(epoch FROM clock_timestamp());\n" }

sub overlapped
{
	my ($label, $results, %opt) = @_;
	my (@starts, @ends);
	for my $r (@$results)
	{
		my @lines = split /\n/, $r->{out};
		push @starts, $lines[0];
		push @ends,   $lines[-1];
	}
	my $ok = max(@starts) < min(@ends);
	$ok = cmp_ok(max(@starts), '<', min(@ends),
		"$label: all sessions ran at the same time (last start before first end)")
	  if $opt{assert};
	diag(sprintf('%s: sessions ran %.2f-%.2f s, %s', $label,
			min(map { $ends[$_] - $starts[$_] } 0 .. $#ends),
			max(map { $ends[$_] - $starts[$_] } 0 .. $#ends),
			$ok ? 'all at the same time' : 'NOT all at the same time'));
	return $ok;
}

sub no_errors
{
	my ($label, $sessions, $results) = @_;
	my @bad = grep { $results->[$_]{err} ne '' } 0 .. $#$results;
	my $ok = is(scalar(@bad), 0, "$label: no session got an error or notice");
	diag("[$sessions->[$_]{name}] stderr:\n" . substr($results->[$_]{err}, 0, 2000)) for @bad;
	return $ok;
}

##############################################################################
# a. 8 sessions auto-assign 2,000 todos
##############################################################################

my $u = create_users($node, $db,
	olga => 'human', ed1 => 'human', ed2 => 'human', bot1 => 'agent', bot2 => 'agent',
	capped => 'agent', vic => 'human', away => 'human', zero => 'agent', gone => 'human');
my %name_of = reverse %$u;

my $fair = safe_psql_as($node, $db, $u->{olga},
	"SELECT id FROM intracker.create_project('Fair share')");

# Eligible with room: olga (owner, unlimited), bot2 (owner, unlimited), ed2
# (unlimited), ed1 and bot1 (capacities far above what they will get).
# Eligible until full: capped (capacity 12).  Never eligible: vic (viewer),
# away (unavailable), zero (capacity 0), gone (deactivated).
safe_psql_as($node, $db, $u->{olga}, <<"SQL");
SELECT FROM intracker.add_member('$fair', '$u->{ed1}', 'editor');
SELECT FROM intracker.add_member('$fair', '$u->{ed2}', 'editor');
SELECT FROM intracker.add_member('$fair', '$u->{bot1}', 'editor');
SELECT FROM intracker.add_member('$fair', '$u->{bot2}', 'owner');
SELECT FROM intracker.add_member('$fair', '$u->{capped}', 'editor');
SELECT FROM intracker.add_member('$fair', '$u->{vic}', 'viewer');
SELECT FROM intracker.add_member('$fair', '$u->{away}', 'editor');
SELECT FROM intracker.add_member('$fair', '$u->{zero}', 'editor');
SELECT FROM intracker.add_member('$fair', '$u->{gone}', 'editor');
SELECT FROM intracker.set_capacity('$fair', '$u->{ed1}', 100000);
SELECT FROM intracker.set_capacity('$fair', '$u->{bot1}', 5000);
SELECT FROM intracker.set_capacity('$fair', '$u->{capped}', 12);
SELECT FROM intracker.set_capacity('$fair', '$u->{zero}', 0);
SQL
safe_psql_as($node, $db, $u->{away}, "SELECT FROM intracker.set_availability('$fair', false)");
$node->safe_psql($db, "SELECT FROM intracker.set_user_active('$u->{gone}', false)");

my @estimates = map { 1 + int(rand(5)) } 1 .. 2000;
safe_psql_as($node, $db, $u->{olga}, <<"SQL");
INSERT INTO intracker.todos (project_id, title, estimate)
SELECT '$fair', format('auto %s', lpad(i::text, 4, '0')), e
  FROM unnest('{@{[ join(',', @estimates) ]}}'::integer[]) WITH ORDINALITY AS x (e, i);
SQL
my @fair_ids = split /\n/, $node->safe_psql($db,
	"SELECT id FROM intracker_data.todos WHERE project_id = '$fair' ORDER BY title");
is(scalar(@fair_ids), 2000, 'a: 2,000 unassigned todos created');

my @callers = qw(olga ed1 ed2 bot1 bot2 capped away zero);
my @assigners = sessions_for('assign', $u, @callers);
my @scripts = map {
	my $k = $_;
	wrap_timed(join '',
		map { "SELECT assigned_to AS a FROM intracker.assign_todo('$fair_ids[$_]') \\gset\n" }
		  grep { $_ % 8 == $k } 0 .. $#fair_ids);
} 0 .. 7;
# A ninth session, the viewer, watches the loads while the others assign:
# every committed state must keep the bound, not just the final one (greedy
# assignment evens out at the end even when concurrent choices collide).
my @with_room = qw(olga ed1 ed2 bot1 bot2);
my $with_room_ids = join(', ', map { "'$u->{$_}'" } @with_room);
my $monitor = IntrackerTest::Session->new($node, $db, name => 'assign-monitor', user => $u->{vic});
my $monitor_script = <<"SQL";
CREATE TEMP TABLE load_samples (spread integer, capped integer, unassigned bigint);
DO \$watch\$
DECLARE
    unassigned bigint;
BEGIN
    FOR i IN 1 .. 100000 LOOP
        -- One statement, one snapshot: a committed state of all loads.
        INSERT INTO load_samples
        SELECT max(open_points) FILTER (WHERE user_id IN ($with_room_ids))
                 - min(open_points) FILTER (WHERE user_id IN ($with_room_ids)),
               max(open_points) FILTER (WHERE user_id = '$u->{capped}'),
               (SELECT count(*) FROM intracker.todos WHERE project_id = '$fair' AND assigned_to IS NULL)
          FROM intracker.member_load WHERE project_id = '$fair'
        RETURNING load_samples.unassigned INTO unassigned;
        EXIT WHEN unassigned = 0;
        PERFORM pg_sleep(0.002);
    END LOOP;
END
\$watch\$;
SELECT count(*) || '|' || count(*) FILTER (WHERE unassigned NOT IN (0, 2000)) || '|' || max(spread) || '|' || max(capped)
  FROM load_samples;
SQL
my ($results, $secs) = run_together($node, (map { [ $assigners[$_], $scripts[$_] ] } 0 .. 7),
	[ $monitor, $monitor_script ]);
diag(sprintf('%-58s %6.1f s (%.0f assignments/s)', 'a: 8 sessions auto-assign 2,000 todos',
		$secs, 2000 / $secs));
$_->quit for @assigners, $monitor;
my $watched = pop @$results;
is($watched->{err}, '', 'a: the viewer could watch member_load meanwhile');
my ($samples, $midway, $max_spread, $max_capped) = split /\|/, $watched->{out};
note("a: $samples samples of the loads, $midway while assigning; largest spread $max_spread, capped member's largest load $max_capped");
cmp_ok($midway, '>=', 10, 'a: the loads were sampled at least 10 times while the assignments ran');
cmp_ok($max_spread, '<=', 5,
	'a: in every sampled committed state, the spread between the eligible members with room was at most 5');
cmp_ok($max_capped, '<=', 12, 'a: ... and the member with capacity 12 never had more than 12 points');

no_errors('a', \@assigners, $results);
overlapped('a', $results, assert => 1);

is($node->safe_psql($db,
		"SELECT count(*) FILTER (WHERE assigned_to IS NULL) || ' unassigned, '
		     || count(*) FILTER (WHERE version <> 2) || ' with version <> 2'
		   FROM intracker_data.todos WHERE project_id = '$fair'"),
	'0 unassigned, 0 with version <> 2',
	'a: every todo is assigned, by exactly one update (version 1 -> 2)');

my %load = map { my ($id, $todos, $points) = split /\|/; ($name_of{$id} => { todos => $todos, points => $points }) }
  split /\n/, $node->safe_psql($db,
	"SELECT user_id, open_todos, open_points FROM intracker.member_load WHERE project_id = '$fair'");
my $loads = join(', ', map { "$_=$load{$_}{points}" } sort keys %load);
note("a: open points per member: $loads");

my @points = map { $load{$_}{points} } @with_room;
cmp_ok(max(@points) - min(@points), '<=', 5,
	"a: spread of open points between the eligible members with room is at most the largest estimate, 5 ($loads)");
cmp_ok($load{capped}{points}, '<=', 12, 'a: the member with capacity 12 never gets more than 12 points');
cmp_ok($load{capped}{points}, '>=', 8, 'a: ... and was filled up to within one estimate of it');
for my $never (qw(vic away zero gone))
{
	is("$load{$never}{todos}/$load{$never}{points}", '0/0',
		"a: $never (" . { vic => 'viewer', away => 'unavailable', zero => 'capacity 0', gone => 'inactive' }->{$never}
		  . ') got no todo');
}
is(sum(map { $_->{points} } values %load), sum(@estimates),
	'a: the open points of all members add up to the estimates of all todos');
counters_consistent($node, $db, 'a', $fair);
is(safe_psql_as($node, $db, $u->{ed2},
		"SELECT count(*) || ' rows, ' || sum(open_points) || ' points' FROM intracker.member_load WHERE project_id = '$fair'"),
	'10 rows, ' . sum(@estimates) . ' points',
	'a: a member sees the same loads through intracker.member_load');

##############################################################################
# b. 8 agents race on claim_next_todo
##############################################################################

my @agents = map { "agent$_" } 1 .. 8;
my $ag = create_users($node, $db, map { $_ => 'agent' } @agents);
$name_of{ $ag->{$_} } = $_ for @agents;

# A project whose members are olga (owner) and the 8 agents (editors).
sub agent_project
{
	my ($name) = @_;
	my $p = safe_psql_as($node, $db, $u->{olga},
		"SELECT id FROM intracker.create_project(" . q_lit($name) . ")");
	safe_psql_as($node, $db, $u->{olga},
		join('', map { "SELECT FROM intracker.add_member('$p', '$ag->{$_}', 'editor');\n" } @agents));
	return $p;
}

my $swarm = agent_project('Swarm');
my ($active_feature, $later_feature) = split /\n/, safe_psql_as($node, $db, $u->{olga}, <<"SQL");
SELECT id FROM intracker.create_feature('$swarm', 'Active', status => 'in_progress');
SELECT id FROM intracker.create_feature('$swarm', 'Later');
SQL

# 200 todos: random priority, estimate, feature and due date; the first 16
# pre-assigned to an agent (only that agent may claim them); 40 blocked by an
# earlier todo (single blockers: no cycles).
my @prio = qw(low medium high critical);
my @swarm_rows;
for my $i (0 .. 199)
{
	push @swarm_rows, sprintf("(%s, %s, %d, %s, %s, %s)",
		q_lit(sprintf('swarm %03d', $i)), q_lit($prio[ int(rand(4)) ]), 1 + int(rand(5)),
		(rand() < 0.3 ? "'$active_feature'" : rand() < 0.5 ? "'$later_feature'" : 'NULL'),
		(rand() < 0.3 ? q_lit(sprintf('2030-01-%02d', 1 + int(rand(28)))) : 'NULL'),
		($i < 16 ? "'$ag->{$agents[$i % 8]}'" : 'NULL'));
}
safe_psql_as($node, $db, $u->{olga}, <<"SQL");
INSERT INTO intracker.todos (project_id, title, priority, estimate, feature_id, due_date, assigned_to)
SELECT '$swarm', v.title, v.priority, v.estimate, v.feature::uuid, v.due::date, v.assignee::uuid
  FROM (VALUES @{[ join(",\n       ", @swarm_rows) ]}) AS v (title, priority, estimate, feature, due, assignee);
SQL
my @swarm_ids = split /\n/, $node->safe_psql($db,
	"SELECT id FROM intracker_data.todos WHERE project_id = '$swarm' ORDER BY title");
safe_psql_as($node, $db, $u->{olga}, join('',
		map { "SELECT FROM intracker.add_dependency('$swarm_ids[$_]', '$swarm_ids[int(rand($_))]');\n" } 100 .. 139));
is($node->safe_psql($db,
		"SELECT count(*) || ' todos, ' || count(assigned_to) || ' pre-assigned, '
		     || (SELECT count(*) FROM intracker_data.todo_dependencies WHERE project_id = '$swarm') || ' dependencies'
		   FROM intracker_data.todos WHERE project_id = '$swarm'"),
	'200 todos, 16 pre-assigned, 40 dependencies', 'b: the claim race project is set up');

my @claimers = sessions_for('swarm', $ag, @agents);
my @claim_scripts = map {
	my $name = $claimers[$_]{name};
	wrap_timed(<<"SQL");
SET client_min_messages = warning;
DO \$claim\$
DECLARE
    c record;
    idle integer := 0;
BEGIN
    LOOP
        SELECT * INTO c FROM intracker.claim_next_todo('$swarm');
        IF NOT FOUND THEN
            COMMIT;
            -- Nothing claimable now; done once no todo is open, else others
            -- still hold blockers: wait a little and ask again.
            EXIT WHEN NOT EXISTS (SELECT FROM intracker.todos t
                                   WHERE t.project_id = '$swarm' AND t.status <> 'done');
            idle := idle + 1;
            IF idle > 1000 THEN
                RAISE EXCEPTION 'nothing claimable after % tries', idle;
            END IF;
            PERFORM pg_sleep(0.005);
            CONTINUE;
        END IF;
        INSERT INTO public.claims (session, user_id, todo_id, reason, version, open_blockers)
        VALUES ('$name', intracker.current_user_id(), c.id, c.claim_reason, c.version,
                (SELECT count(*) FROM intracker.todo_dependencies d
                   JOIN intracker.todos b ON b.id = d.blocked_by
                  WHERE d.todo_id = c.id AND b.status NOT IN ('done', 'cancelled')));
        COMMIT;
        PERFORM intracker.set_todo_status(c.id, 'done', c.version);
        COMMIT;
    END LOOP;
END
\$claim\$;
RESET client_min_messages;
SQL
} 0 .. 7;
($results, $secs) = run_together($node, map { [ $claimers[$_], $claim_scripts[$_] ] } 0 .. 7);
diag(sprintf('%-58s %6.1f s', 'b: 8 agents claim and finish 200 todos', $secs));

no_errors('b', \@claimers, $results);
# Too short (well under a second) to assert the overlap on a loaded machine;
# that every agent got todos (below) shows they raced.
overlapped('b', $results, assert => 0);

my $claims_of_swarm = "FROM public.claims c JOIN intracker_data.todos t ON t.id = c.todo_id WHERE t.project_id = '$swarm'";
is($node->safe_psql($db, "SELECT count(*) || ' claims of ' || count(DISTINCT c.todo_id) || ' todos' $claims_of_swarm"),
	'200 claims of 200 todos', 'b: no todo was claimed twice, and every todo was claimed');
is($node->safe_psql($db,
		"SELECT string_agg(DISTINCT status || ' v' || version, ', ') FROM intracker_data.todos WHERE project_id = '$swarm'"),
	'done v3', 'b: every todo is done, after exactly two updates (claim, done)');
is($node->safe_psql($db,
		"SELECT count(*) $claims_of_swarm AND (t.assigned_to <> c.user_id OR t.completed_by <> c.user_id OR c.version <> 2)"),
	0, 'b: each todo is assigned to and completed by the agent whose claim returned it, at version 2');
is($node->safe_psql($db,
		"SELECT count(*) $claims_of_swarm AND c.open_blockers > 0"),
	0, 'b: no claimed todo had an open blocker when it was claimed');
is($node->safe_psql($db,
		"SELECT count(*) $claims_of_swarm AND c.reason LIKE 'already in progress%'"),
	0, 'b: no claim returned an earlier todo as "already in progress"');
is($node->safe_psql($db, join(' UNION ALL ',
			map { "SELECT 1 FROM public.claims c WHERE c.todo_id = '$swarm_ids[$_]' AND c.user_id = '$ag->{$agents[$_ % 8]}'" } 0 .. 15)
		  =~ s/^/SELECT count(*) FROM (/r . ') x'),
	16, 'b: the 16 pre-assigned todos were claimed by the agents they were assigned to');
is($node->safe_psql($db, "SELECT count(DISTINCT c.session) $claims_of_swarm"),
	8, 'b: all 8 agents got todos');
note('b: claims per agent: ' . $node->safe_psql($db,
		"SELECT string_agg(session || '=' || n, ', ' ORDER BY session) FROM (SELECT c.session, count(*) AS n $claims_of_swarm GROUP BY 1) x"));
counters_consistent($node, $db, 'b', $swarm);

# 8 claims at one instant.  Every candidate has the same priority, so all
# sessions want the same first row: SKIP LOCKED must hand out the first 8
# in claim order, each once.  With 5 candidates, 3 sessions get nothing.
my @simultaneous;
for my $case ([ 'Sprint', 20, 8 ], [ 'Scarce', 5, 5 ])
{
	my ($name, $todos, $expected) = @$case;
	my $p = agent_project($name);
	push @simultaneous, $p;
	safe_psql_as($node, $db, $u->{olga},
		"INSERT INTO intracker.todos (project_id, title) SELECT '$p', '$name ' || i FROM generate_series(1, $todos) i");
	my @first = split /\n/, $node->safe_psql($db, qq{
SELECT id FROM intracker_data.todos WHERE project_id = '$p'
 ORDER BY priority_rank DESC, feature_active DESC, open_dependent_count DESC, due_date NULLS LAST, created_at, id
 LIMIT 8});
	($results, $secs) = run_together($node,
		map { [ $_, "SELECT id FROM intracker.claim_next_todo('$p');" ] } @claimers);
	my @got = map { $_->{out} } @$results;
	my @claimed = grep { $_ ne '' } @got;
	my %distinct = map { $_ => 1 } @claimed;
	is(scalar(@claimed), $expected, "b, $name ($todos todos): $expected of 8 simultaneous claims got a todo");
	is(scalar(keys %distinct), $expected, "b, $name: ... all of them different");
	is(join(',', sort @claimed), join(',', sort @first[ 0 .. $expected - 1 ]),
		"b, $name: ... exactly the first $expected in claim order");
	is(sum(0, map {
				$node->safe_psql($db, "SELECT count(*) FROM intracker_data.todos WHERE id = '$got[$_]'"
					  . " AND status = 'in_progress' AND assigned_to = '$ag->{$agents[$_]}'")
			} grep { $got[$_] =~ /^[0-9a-f-]{36}$/ } 0 .. 7),
		$expected, "b, $name: each claimed todo is in progress and assigned to its claimer");
	my @notices = grep { $_->{err} =~ /NOTICE:\s+00000: no todo to claim in this project/ } @$results;
	my @errors  = grep { $_->{err} =~ /ERROR/ } @$results;
	is(scalar(@notices), 8 - $expected, "b, $name: the other " . (8 - $expected) . " got no row and a NOTICE");
	is(scalar(@errors), 0, "b, $name: no session got an error")
	  or diag(join("\n", map { $_->{err} } @errors));
}
$_->quit for @claimers;
counters_consistent($node, $db, 'b, simultaneous claims', \@simultaneous);

##############################################################################
# c. Randomized workload in 4 concurrent sessions
##############################################################################

my @rkeys = qw(r1 r2 r3 r4);
my @mkeys = qw(m1 m2 m3 m4 m5 m6);
my $ru = create_users($node, $db, (map { $_ => 'human' } @rkeys), (map { $_ => ($_ =~ /[56]/ ? 'agent' : 'human') } @mkeys));
$name_of{ $ru->{$_} } = $_ for keys %$ru;

# Two projects owned by r1..r4, with members m1..m6 in varied roles and
# settings.  The members join as editors; their roles and capacities are set
# once the first todos are theirs (below).
my (@rprojects, %todo_project, %feature_project, @todo_pool, @feature_pool, %settings_of);
for my $pname ('Random A', 'Random B')
{
	my $p = safe_psql_as($node, $db, $ru->{r1}, "SELECT id FROM intracker.create_project(" . q_lit($pname) . ")");
	push @rprojects, $p;
	my $sql = join('',
		(map { "SELECT FROM intracker.add_member('$p', '$ru->{$_}', 'owner');\n" } qw(r2 r3 r4)),
		(map { "SELECT FROM intracker.add_member('$p', '$ru->{$_}', 'editor');\n" } @mkeys));
	$settings_of{$p} = join('',
		(map { "SELECT FROM intracker.add_member('$p', '$ru->{$_}', " . q_lit(rand_of(qw(editor editor viewer owner))) . ");\n" } @mkeys),
		(map { "SELECT FROM intracker.set_capacity('$p', '$ru->{$_}', " . rand_of('NULL', 'NULL', 0, 10, 40) . ");\n" } @mkeys));
	for (1 .. 3)
	{
		my $f = rand_uuid();
		$feature_project{$f} = $p;
		push @feature_pool, $f;
		$sql .= "INSERT INTO intracker.features (id, project_id, title, status) VALUES ('$f', '$p', 'feature', "
		  . q_lit(rand_of(qw(todo in_progress blocked done))) . ");\n";
	}
	safe_psql_as($node, $db, $ru->{r1}, $sql);
}

my @statuses = qw(todo todo in_progress blocked review done cancelled);
my @members = map { $ru->{$_} } @rkeys, @mkeys;

sub todo_values
{
	my ($id, $p) = @_;
	my @f = grep { $feature_project{$_} eq $p } @feature_pool;
	return sprintf("('%s', '%s', %s, 'random todo', %d, %s, %s, %s)", $id, $p,
		(rand() < 0.5 ? 'NULL' : "'" . rand_of(@f) . "'"),
		1 + int(rand(5)), q_lit(rand_of(@prio)), q_lit(rand_of(@statuses)),
		(rand() < 0.3 ? 'NULL' : "'" . rand_of(@members) . "'"));
}
my $todo_insert = 'INSERT INTO intracker.todos (id, project_id, feature_id, title, estimate, priority, status, assigned_to) VALUES ';

# 60 todos per project to start with (assigned to anyone in the project,
# every status), and 30 dependencies among them.  Work held by a viewer or
# beyond a capacity only arises over time, and no write may create it
# directly: the members' roles and capacities change after the todos are
# theirs.
{
	my @rows;
	for my $p (@rprojects)
	{
		for (1 .. 60)
		{
			my $t = rand_uuid();
			$todo_project{$t} = $p;
			push @todo_pool, $t;
			push @rows, todo_values($t, $p);
		}
	}
	safe_psql_as($node, $db, $ru->{r1}, $todo_insert . join(",\n", @rows));
	safe_psql_as($node, $db, $ru->{r1}, join('', map { $settings_of{$_} } @rprojects));
	safe_psql_as($node, $db, $ru->{r1}, join('', map {
				my $p = $rprojects[$_ % 2];
				my @in = grep { $todo_project{$_} eq $p } @todo_pool;
				my ($x, $y) = (int(rand(@in)), int(rand(@in)));
				$x == $y ? '' : "SELECT FROM intracker.add_dependency('$in[max($x, $y)]', '$in[min($x, $y)]');\n"
			} 1 .. 30));
}
counters_consistent($node, $db, 'c, before the workload', \@rprojects);

# Random operations, each one statement in its own transaction.  $me is the
# session's user.  Weights are rough frequencies.
sub version_of { return "(SELECT version FROM intracker.todos WHERE id = '$_[0]')" }
sub fversion_of { return "(SELECT version FROM intracker.features WHERE id = '$_[0]')" }

sub any_todo { return rand_of(@todo_pool) }

sub same_project_todo
{
	my ($t) = @_;
	my @in = grep { $todo_project{$_} eq $todo_project{$t} } @todo_pool;
	return rand_of(@in);
}

my @operations = (
	[ 12, 'create todo' => sub {
			my $t = rand_uuid();
			my $p = rand_of(@rprojects);
			$todo_project{$t} = $p;
			push @todo_pool, $t;
			return $todo_insert . todo_values($t, $p) . ';';
		} ],
	[ 8, 'assign manually' => sub { "SELECT FROM intracker.assign_todo('" . any_todo() . "', '" . rand_of(@members) . "');" } ],
	[ 10, 'assign automatically' => sub { "SELECT FROM intracker.assign_todo('" . any_todo() . "');" } ],
	[ 3, 'assign with a stale version' => sub { my $t = any_todo(); "SELECT FROM intracker.assign_todo('$t', NULL, " . version_of($t) . " - 1);" } ],
	[ 4, 'unassign' => sub { "SELECT FROM intracker.unassign_todo('" . any_todo() . "');" } ],
	[ 14, 'change status' => sub {
			my $t = any_todo();
			"SELECT FROM intracker.set_todo_status('$t', " . q_lit(rand_of(@statuses)) . ", " . version_of($t) . ");";
		} ],
	[ 2, 'change status, stale version' => sub {
			my $t = any_todo();
			"SELECT FROM intracker.set_todo_status('$t', " . q_lit(rand_of(@statuses)) . ", " . version_of($t) . " - 1);";
		} ],
	[ 6, 'change estimate' => sub {
			my $t = any_todo();
			"SELECT FROM intracker.update_todo('$t', '{\"estimate\": " . (1 + int(rand(5))) . "}', " . version_of($t) . ");";
		} ],
	[ 5, 'change status, assignee and estimate at once' => sub {
			my $t = any_todo();
			my $assignee = rand() < 0.3 ? 'null' : '"' . rand_of(@members) . '"';
			"SELECT FROM intracker.update_todo('$t', '{\"status\": \"" . rand_of(@statuses) . "\", \"assigned_to\": $assignee, \"estimate\": "
			  . (1 + int(rand(5))) . "}', " . version_of($t) . ");";
		} ],
	[ 3, 'update through the view' => sub {
			"UPDATE intracker.todos SET assigned_to = " . (rand() < 0.3 ? 'NULL' : "'" . rand_of(@members) . "'")
			  . ", status = " . q_lit(rand_of(@statuses)) . " WHERE id = '" . any_todo() . "';";
		} ],
	[ 1, 'bulk update of a project' => sub {
			"UPDATE intracker.todos SET estimate = estimate % 5 + 1 WHERE project_id = '" . rand_of(@rprojects)
			  . "' AND md5(id::text || '" . int(rand(1000)) . "') < '4';";
		} ],
	[ 6, 'add dependency' => sub { my $t = any_todo(); "SELECT FROM intracker.add_dependency('$t', '" . (rand() < 0.9 ? same_project_todo($t) : any_todo()) . "');" } ],
	[ 3, 'remove dependency' => sub {
			"SELECT intracker.remove_dependency(d.todo_id, d.blocked_by) FROM intracker.todo_dependencies d"
			  . " WHERE d.project_id = '" . rand_of(@rprojects) . "' ORDER BY md5(d.todo_id::text || '" . int(rand(1000)) . "') LIMIT 1;";
		} ],
	[ 4, 'move todo to another feature' => sub {
			my $t = any_todo();
			my $f = rand() < 0.2 ? 'null' : '"' . rand_of(@feature_pool) . '"';
			"SELECT FROM intracker.update_todo('$t', '{\"feature_id\": $f}', " . version_of($t) . ");";
		} ],
	[ 4, 'change feature status' => sub {
			my $f = rand_of(@feature_pool);
			"SELECT FROM intracker.update_feature('$f', '{\"status\": \"" . rand_of(qw(todo in_progress blocked done)) . "\"}', " . fversion_of($f) . ");";
		} ],
	[ 3, 'assign feature' => sub {
			"SELECT FROM intracker.assign_feature('" . rand_of(@feature_pool) . "'" . (rand() < 0.5 ? '' : ", '" . rand_of(@members) . "'") . ");";
		} ],
	[ 2, 'create feature' => sub {
			my $f = rand_uuid();
			my $p = rand_of(@rprojects);
			$feature_project{$f} = $p;
			push @feature_pool, $f;
			"INSERT INTO intracker.features (id, project_id, title, status, assigned_to) VALUES ('$f', '$p', 'new feature', "
			  . q_lit(rand_of(qw(todo in_progress done))) . ", " . (rand() < 0.5 ? 'NULL' : "'" . rand_of(@members) . "'") . ");";
		} ],
	[ 1, 'delete feature' => sub { "DELETE FROM intracker.features WHERE id = '" . rand_of(@feature_pool) . "';" } ],
	[ 2, 'remove member' => sub { "SELECT FROM intracker.remove_member('" . rand_of(@rprojects) . "', '" . $ru->{ rand_of(@mkeys) } . "');" } ],
	[ 3, 'add member or change role' => sub {
			"SELECT FROM intracker.add_member('" . rand_of(@rprojects) . "', '" . $ru->{ rand_of(@mkeys) } . "', " . q_lit(rand_of(qw(editor editor viewer owner))) . ");";
		} ],
	[ 2, 'deactivate or reactivate a user' => sub {
			"SELECT FROM intracker.set_user_active('" . $ru->{ rand_of(@mkeys) } . "', " . (rand() < 0.5 ? 'false' : 'true') . ");";
		} ],
	[ 3, 'delete todo' => sub { "DELETE FROM intracker.todos WHERE id = '" . any_todo() . "';" } ],
	[ 2, 'set capacity' => sub {
			"SELECT FROM intracker.set_capacity('" . rand_of(@rprojects) . "', '" . rand_of(@members) . "', " . rand_of('NULL', 0, 3, 8, 20, 100) . ");";
		} ],
	[ 1, 'set own availability' => sub { "SELECT FROM intracker.set_availability('" . rand_of(@rprojects) . "', " . (rand() < 0.6 ? 'true' : 'false') . ");" } ],
	[ 4, 'claim next todo' => sub { "SELECT FROM intracker.claim_next_todo('" . rand_of(@rprojects) . "');" } ],
	[ 1, 'rebalance' => sub { "SELECT FROM intracker.rebalance('" . rand_of(@rprojects) . "', dry_run => false);" } ],
);
my $total_weight = sum(map { $_->[0] } @operations);

sub random_operation
{
	my $r = rand($total_weight);
	for my $op (@operations)
	{
		return ($op->[1], $op->[2]->()) if ($r -= $op->[0]) < 0;
	}
	die 'unreachable';
}

# Generated round robin, so that a session mostly refers to todos that the
# others created at about the same time, not to ones they create at the end.
my $ops_per_session = 1000;
my (@lines, %op_count);
for (1 .. $ops_per_session)
{
	for my $k (0 .. $#rkeys)
	{
		my ($name, $sql) = random_operation();
		$op_count{$name}++;
		push @{ $lines[$k] }, $sql;
	}
}
my @random_scripts = map {
	"-- seed $seed, session $rkeys[$_] ($ru->{$rkeys[$_]})\n" . join("\n", @{ $lines[$_] })
} 0 .. $#rkeys;
note('c: operations: ' . join(', ', map { "$_ $op_count{$_}" } sort keys %op_count));
note('c: the scripts are saved as tmp_check/run_together_*_random-r*.sql');

# r1, r2 and r4 act through act_as (tracker_admin may also deactivate users),
# r3 through the JWT path (its set_user_active calls fail with 42501).
my @randoms = map {
	IntrackerTest::Session->new($node, $db, name => "random-$rkeys[$_]", user => $ru->{ $rkeys[$_] },
		via => ($rkeys[$_] eq 'r3' ? 'jwt' : 'act_as'))
} 0 .. $#rkeys;
$_->query_safe('SET client_min_messages = warning') for @randoms;
($results, $secs) = run_together($node, map { [ $randoms[$_], $random_scripts[$_] ] } 0 .. $#rkeys);
my $n_ops = $ops_per_session * @rkeys;
diag(sprintf('%-58s %6.1f s', "c: $n_ops random operations in 4 sessions", $secs));
$_->quit for @randoms;

my %errors;
for my $r (@$results)
{
	my $c = error_counts($r->{err});
	$errors{$_} += $c->{$_} for keys %$c;
}
my $n_errors = sum(0, values %errors);
# Every message psql printed must be one of those errors: a warning, a lost
# connection (a crashed backend) or a message without SQLSTATE is not.
my @odd = grep { /^psql:/ && !/^psql:\S+:\d+: ERROR:  [0-9A-Z]{5}: / } map { split /\n/, $_->{err} } @$results;
is(scalar(@odd), 0, 'c: psql reported nothing but ordinary errors with a SQLSTATE')
  or diag(join("\n", @odd[ 0 .. min(9, $#odd) ]));
diag("c: $n_errors of $n_ops operations failed, by SQLSTATE: "
	  . join(', ', map { "$_ $errors{$_}" } sort keys %errors));
cmp_ok($n_ops - $n_errors, '>=', $n_ops / 3, 'c: at least a third of the random operations succeeded');

# Expected failures: stale versions, rows gone or invisible, blocked status
# changes and cycles, invalid values and ineligible assignees, roles too
# low, memberships that vanished under a write, deadlocks between
# concurrent writers.  Anything else (an internal error, say) is a bug.
my %expected_error = map { $_ => 1 } qw(PT409 PT404 23514 23503 23505 22023 42501 40P01);
my @unexpected = grep { !$expected_error{$_} } sort keys %errors;
if (!is(join(', ', @unexpected), '', 'c: no operation failed with an unexpected SQLSTATE'))
{
	my $codes = join('|', @unexpected);
	diag(join("\n", grep { /(?:ERROR|FATAL):\s+(?:$codes):/ } map { split /\n/, $_->{err} } @$results));
}
note("c: deadlocks between concurrent writers: " . ($errors{'40P01'} // 0));

is($node->safe_psql($db, qq{
SELECT string_agg(s, ',' ORDER BY s) FROM (
    SELECT DISTINCT status AS s FROM intracker_data.todos WHERE project_id IN ('$rprojects[0]', '$rprojects[1]')
       AND status IN ('todo', 'in_progress', 'done', 'cancelled')) x}),
	'cancelled,done,in_progress,todo', 'c: the workload left todos in every kind of state');
cmp_ok($node->safe_psql($db,
		"SELECT count(*) FROM intracker_data.todos WHERE project_id IN ('$rprojects[0]', '$rprojects[1]') AND assigned_to IS NOT NULL AND status NOT IN ('done', 'cancelled')"),
	'>', 0, 'c: ... open todos with assignees among them');
counters_consistent($node, $db, 'c, after the random workload', \@rprojects);
my $inactive_work = open_work_of_inactive_users($node, $db);
note("c: open work of inactive users after the workload (races with deactivation, see f):\n$inactive_work")
  if $inactive_work ne '';

##############################################################################
# d. pg_dump + pg_restore into a server that does not preload the library
##############################################################################

my $node2 = new_node('nopreload', preload => 0);
is($node2->safe_psql('postgres', 'SHOW shared_preload_libraries'), '',
	'd: the second server does not preload intracker');

# Besides what a, b and c left, a small fixture so that the dump surely
# holds blocked todos and todos of an active feature.
{
	my $p = safe_psql_as($node, $db, $u->{olga}, "SELECT id FROM intracker.create_project('Dump fixture')");
	my $f = safe_psql_as($node, $db, $u->{olga}, <<"SQL");
SELECT FROM intracker.add_member('$p', '$u->{ed1}', 'editor');
SELECT id FROM intracker.create_feature('$p', 'Running', status => 'in_progress');
SQL
	my ($x, $y) = split /\n/, safe_psql_as($node, $db, $u->{olga}, <<"SQL");
SELECT id FROM intracker.create_todo('$p', 'Blocked', feature_id => '$f', estimate => 2, assigned_to => '$u->{ed1}');
SELECT id FROM intracker.create_todo('$p', 'Blocker', feature_id => '$f', estimate => 3, assigned_to => '$u->{olga}');
SQL
	safe_psql_as($node, $db, $u->{olga}, "SELECT FROM intracker.add_dependency('$x', '$y')");
}

my %coverage = (
	'an unavailable member'          => 'SELECT count(*) > 0 FROM intracker_data.project_members WHERE NOT available',
	'capacities 0 and above'         => 'SELECT count(*) FILTER (WHERE capacity = 0) > 0 AND count(*) FILTER (WHERE capacity > 0) > 0 FROM intracker_data.project_members',
	'open assigned todos'            => "SELECT count(*) > 1000 FROM intracker_data.todos WHERE assigned_to IS NOT NULL AND status NOT IN ('done', 'cancelled')",
	'todos with open blockers'       => 'SELECT count(*) > 0 FROM intracker_data.todos WHERE open_blocker_count > 0',
	'todos in an active feature'     => 'SELECT count(*) > 0 FROM intracker_data.todos WHERE feature_active',
	'an inactive user'               => 'SELECT count(*) > 0 FROM intracker_data.users WHERE NOT is_active',);
for my $what (sort keys %coverage)
{
	is($node->safe_psql($db, $coverage{$what}), 't', "d: the dumped database has $what");
}

my $dump = PostgreSQL::Test::Utils::tempdir() . '/tracker.dump';
timed('d: pg_dump + pg_restore', sub {
	$node->command_checks_all(
		[ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr($db) ],
		0, [qr/\A\z/], [qr/\A\z/], 'd: pg_dump -Fc');
	$node2->safe_psql('postgres', 'CREATE DATABASE restored');
	$node2->command_checks_all(
		[ 'pg_restore', '-d', $node2->connstr('restored'), $dump ],
		0, [qr/\A\z/], [qr/\A\z/], 'd: pg_restore into the server without preload');
});

my %same = (
	'member settings (role, available, capacity)' =>
	  "SELECT string_agg(project_id || '/' || user_id || '/' || role || '/' || available || '/' || coalesce(capacity::text, 'unlimited'), E'\\n' ORDER BY project_id, user_id) FROM intracker_data.project_members",
	'open todos, points and features of every member' =>
	  "SELECT string_agg(project_id || '/' || user_id || ': ' || open_todos || '/' || open_points || '/' || open_features, E'\\n' ORDER BY project_id, user_id) FROM intracker.member_load",
	'version and updated_at of every todo and feature' =>
	  "SELECT md5(string_agg(id || ':' || version || ':' || updated_at, ',' ORDER BY id)) FROM (SELECT id, version, updated_at FROM intracker_data.todos UNION ALL SELECT id, version, updated_at FROM intracker_data.features) x",
	'member_load rows' => 'SELECT count(*) FROM intracker_data.member_load',);
for my $what (sort keys %same)
{
	is($node2->safe_psql('restored', $same{$what}), $node->safe_psql($db, $same{$what}),
		"d: restored $what equal the source's");
}
counters_consistent($node2, 'restored', 'd, restored');
create_test_roles($node2);    # needs the extension's roles, created by the restore

# Automatic assignment in the restored database picks the member the rules
# name, computed here from member_load.
my $expected_sql = sub {
	my ($p, $estimate) = @_;
	return qq{
SELECT l.user_id FROM intracker.member_load l JOIN intracker_data.users u ON u.id = l.user_id
 WHERE l.project_id = '$p' AND l.role IN ('owner', 'editor') AND l.available AND u.is_active
   AND (l.capacity IS NULL OR (l.capacity > 0 AND l.open_points + $estimate <= l.capacity))
 ORDER BY l.open_points, l.last_assigned_at NULLS FIRST, l.user_id LIMIT 1};
};
my $expected = $node2->safe_psql('restored', $expected_sql->($fair, 3));
my $got = safe_psql_as($node2, 'restored', $u->{ed1}, <<"SQL");
SELECT id AS new_todo FROM intracker.create_todo('$fair', 'after restore', estimate => 3) \\gset
SELECT assigned_to FROM intracker.assign_todo(:'new_todo');
SQL
is($name_of{$got} // $got, $name_of{$expected} // $expected,
	'd: automatic assignment in the restored database picks the least-loaded eligible member');
counters_consistent($node2, 'restored', 'd, restored, after an assignment');

##############################################################################
# e. Upgrade 0.1 -> 0.2 with data
##############################################################################

$node->safe_psql('postgres', 'CREATE DATABASE legacy');
$node->safe_psql('legacy', "CREATE EXTENSION intracker VERSION '0.1'");
is($node->safe_psql('legacy', "SELECT extversion FROM pg_extension WHERE extname = 'intracker'"),
	'0.1', 'e: installed version 0.1');

my $lu = create_users($node, 'legacy', lo => 'human', le1 => 'human', le2 => 'agent', lv => 'human', lz => 'agent');
$name_of{ $lu->{$_} } = $_ for keys %$lu;
my $legacy = safe_psql_as($node, 'legacy', $lu->{lo}, "SELECT id FROM intracker.create_project('Legacy')");
my $legacy2 = safe_psql_as($node, 'legacy', $lu->{le1}, "SELECT id FROM intracker.create_project('Legacy two')");
my @legacy_features = split /\n/, safe_psql_as($node, 'legacy', $lu->{lo}, <<"SQL");
SELECT FROM intracker.add_member('$legacy', '$lu->{le1}', 'editor');
SELECT FROM intracker.add_member('$legacy', '$lu->{le2}', 'editor');
SELECT FROM intracker.add_member('$legacy', '$lu->{lv}', 'viewer');
SELECT FROM intracker.add_member('$legacy', '$lu->{lz}', 'editor');
SELECT id FROM intracker.create_feature('$legacy', 'Going', status => 'in_progress');
SELECT id FROM intracker.create_feature('$legacy', 'Waiting');
SELECT id FROM intracker.create_feature('$legacy', 'Shipped', status => 'done', assigned_to => '$lu->{le1}');
SELECT id FROM intracker.create_feature('$legacy', 'Owned', assigned_to => '$lu->{le2}');
SQL
safe_psql_as($node, 'legacy', $lu->{le1}, "SELECT FROM intracker.add_member('$legacy2', '$lu->{lo}', 'editor')");

# 300 todos in every status, assigned to anyone (in 0.1 even the viewer), in
# features or not; 60 dependencies; then a few updates so versions vary.
{
	my @legacy_status = qw(todo todo todo in_progress review blocked done cancelled);
	my @holders = (@{$lu}{qw(lo le1 le2 lv)}, undef);
	my @rows = map {
		sprintf("(%s, %d, %s, %s, %s, %s)", q_lit("legacy $_"), 1 + int(rand(5)),
			q_lit(rand_of(@legacy_status)), q_lit(rand_of(@prio)),
			q_lit(rand_of(@legacy_features, undef)), q_lit(rand_of(@holders)))
	} 1 .. 300;
	safe_psql_as($node, 'legacy', $lu->{lo}, <<"SQL");
INSERT INTO intracker.todos (project_id, title, estimate, status, priority, feature_id, assigned_to)
SELECT '$legacy', v.title, v.estimate, v.status, v.priority, v.feature::uuid, v.assignee::uuid
  FROM (VALUES @{[ join(",\n       ", @rows) ]}) AS v (title, estimate, status, priority, feature, assignee);
INSERT INTO intracker.todos (project_id, title, estimate, assigned_to)
SELECT '$legacy2', 'other ' || i, 1 + i % 5, CASE WHEN i % 2 = 0 THEN '$lu->{lo}'::uuid END FROM generate_series(1, 20) i;
SQL
	my @ids = split /\n/, $node->safe_psql('legacy',
		"SELECT id FROM intracker_data.todos WHERE project_id = '$legacy' ORDER BY title");
	safe_psql_as($node, 'legacy', $lu->{le1}, join('', map {
				my ($x, $y) = (int(rand(@ids)), int(rand(@ids)));
				$x == $y ? '' : "SELECT FROM intracker.add_dependency('$ids[max($x, $y)]', '$ids[min($x, $y)]');\n"
			} 1 .. 60));
	safe_psql_as($node, 'legacy', $lu->{le1}, join('', map {
				"SELECT FROM intracker.update_todo('$ids[$_]', '{\"description\": \"edited\"}', "
				  . "(SELECT version FROM intracker.todos WHERE id = '$ids[$_]'));\n"
			} grep { $_ % 7 == 0 } 0 .. $#ids));
}
is($node->safe_psql('legacy', q{
SELECT (SELECT count(*) FROM intracker_data.todos t JOIN intracker_data.project_members m
          ON m.project_id = t.project_id AND m.user_id = t.assigned_to
         WHERE m.role = 'viewer' AND t.status NOT IN ('done', 'cancelled')) > 0
   AND (SELECT count(*) FROM intracker_data.todos WHERE status IN ('done', 'cancelled') AND assigned_to IS NOT NULL) > 0
   AND (SELECT count(*) FROM intracker_data.todo_dependencies d JOIN intracker_data.todos b ON b.id = d.blocked_by
         WHERE b.status NOT IN ('done', 'cancelled')) > 0
   AND (SELECT count(*) FROM intracker_data.todo_dependencies d JOIN intracker_data.todos b ON b.id = d.blocked_by
         WHERE b.status IN ('done', 'cancelled')) > 0}),
	't', 'e: the 0.1 data has open work held by a viewer, closed assigned todos, open and closed blockers');

my $versions_sql = "SELECT md5(string_agg(id || ':' || version || ':' || updated_at, ',' ORDER BY id)) FROM "
  . "(SELECT id, version, updated_at FROM intracker_data.todos UNION ALL SELECT id, version, updated_at FROM intracker_data.features) x";
my $versions_before = $node->safe_psql('legacy', $versions_sql);
my $todo_versions_before = $node->safe_psql('legacy',
	"SELECT string_agg(title || ' v' || version, ', ' ORDER BY title) FROM (SELECT title, version FROM intracker_data.todos ORDER BY title LIMIT 3) x");

timed("e: ALTER EXTENSION intracker UPDATE TO '0.2'", sub {
	$node->safe_psql('legacy', "ALTER EXTENSION intracker UPDATE TO '0.2'");
});
is($node->safe_psql('legacy', "SELECT extversion FROM pg_extension WHERE extname = 'intracker'"),
	'0.2', 'e: updated to version 0.2');
is($node->safe_psql('legacy', $versions_sql), $versions_before,
	'e: the update leaves the version and updated_at of every todo and feature alone')
  or diag("first todos before: $todo_versions_before; after: " . $node->safe_psql('legacy',
		"SELECT string_agg(title || ' v' || version, ', ' ORDER BY title) FROM (SELECT title, version FROM intracker_data.todos ORDER BY title LIMIT 3) x"));
counters_consistent($node, 'legacy', 'e, after the update');
is($node->safe_psql('legacy',
		"SELECT count(*) || ' members, ' || count(*) FILTER (WHERE available AND capacity IS NULL) || ' available without capacity' FROM intracker_data.project_members"),
	'7 members, 7 available without capacity', 'e: existing members start available with unlimited capacity');
cmp_ok($node->safe_psql('legacy', "SELECT open_points FROM intracker.member_load WHERE user_id = '$lu->{lv}'"),
	'>', 0, 'e: the viewer\'s open todos from 0.1 count in their load');

# Automatic assignment on the migrated loads: 30 new todos, each checked
# against the member the rules name at that moment.
is($node->safe_psql('legacy', <<"SQL"),
SELECT intracker.act_as('$lu->{le1}') \\gset
CREATE TEMP TABLE mismatches (n integer, expected uuid, got uuid);
DO \$\$
DECLARE
    new_id uuid;
    expected uuid;
    got uuid;
BEGIN
    FOR i IN 1 .. 30 LOOP
        INSERT INTO intracker.todos (project_id, title, estimate)
        VALUES ('$legacy', 'after the update ' || i, 1 + i % 5) RETURNING id INTO new_id;
        @{[ $expected_sql->($legacy, '(1 + i % 5)') =~ s/\n/ /gr =~ s/LIMIT 1/LIMIT 1 INTO expected/r ]};
        SELECT assigned_to INTO got FROM intracker.assign_todo(new_id);
        IF got IS DISTINCT FROM expected OR got IS NULL THEN
            INSERT INTO mismatches VALUES (i, expected, got);
        END IF;
    END LOOP;
END
\$\$;
SELECT count(*) || coalesce(': ' || string_agg(format('#%s expected %s got %s', n, expected, got), '; '), '') FROM mismatches;
SQL
	'0', 'e: automatic assignment after the update gives each of 30 todos to the least-loaded eligible member');
counters_consistent($node, 'legacy', 'e, after automatic assignment');

# claim_next_todo on migrated dependencies: lz holds nothing, so it gets the
# first claimable todo, computed here from scratch (not from the counters).
my $expected_claim = $node->safe_psql('legacy', qq{
SELECT t.id FROM intracker_data.todos t
 WHERE t.project_id = '$legacy' AND t.status = 'todo' AND (t.assigned_to IS NULL OR t.assigned_to = '$lu->{lz}')
   AND NOT EXISTS (SELECT FROM intracker_data.todo_dependencies d JOIN intracker_data.todos b ON b.id = d.blocked_by
                    WHERE d.todo_id = t.id AND b.status NOT IN ('done', 'cancelled'))
 ORDER BY CASE t.priority WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END DESC,
          coalesce((SELECT f.status = 'in_progress' FROM intracker_data.features f WHERE f.id = t.feature_id), false) DESC,
          (SELECT count(*) FROM intracker_data.todo_dependencies d JOIN intracker_data.todos x ON x.id = d.todo_id
            WHERE d.blocked_by = t.id AND x.status NOT IN ('done', 'cancelled')) DESC,
          t.due_date NULLS LAST, t.created_at, t.id
 LIMIT 1});
isnt($expected_claim, '', 'e: (setup) there is a claimable todo');
is(safe_psql_as($node, 'legacy', $lu->{lz}, "SELECT id FROM intracker.claim_next_todo('$legacy')"),
	$expected_claim, 'e: claim_next_todo on the updated data claims the first todo in claim order');
counters_consistent($node, 'legacy', 'e, after a claim');

# Then on along the chain to the default version, if there is a newer one.
my $default_version = $node->safe_psql('legacy',
	"SELECT default_version FROM pg_available_extensions WHERE name = 'intracker'");
if ($default_version ne '0.2')
{
	my $before = $node->safe_psql('legacy', $versions_sql);
	timed("e: ALTER EXTENSION intracker UPDATE (to $default_version)", sub {
		$node->safe_psql('legacy', 'ALTER EXTENSION intracker UPDATE');
	});
	is($node->safe_psql('legacy', "SELECT extversion FROM pg_extension WHERE extname = 'intracker'"),
		$default_version, "e: updated on to the default version $default_version");
	is($node->safe_psql('legacy', $versions_sql), $before,
		"e: the update to $default_version leaves the version and updated_at of every todo and feature alone");
	counters_consistent($node, 'legacy', "e, after the update to $default_version");
	my $again = $node->safe_psql('legacy', $expected_sql->($legacy, 2));
	is(safe_psql_as($node, 'legacy', $lu->{lo}, <<"SQL"), $again,
SELECT id AS new_todo FROM intracker.create_todo('$legacy', 'after $default_version', estimate => 2) \\gset
SELECT assigned_to FROM intracker.assign_todo(:'new_todo');
SQL
		"e: automatic assignment still picks the least-loaded eligible member in $default_version");
	counters_consistent($node, 'legacy', "e, $default_version, after an assignment");
}

##############################################################################
# f. Two-session races on eligibility and counters
#
# Session A (olga, act_as) runs its statement in an open transaction;
# session B (stayer, JWT) runs a conflicting statement meanwhile, which may
# wait for A; then A commits.  Whatever the interleaving, the end state must
# obey the rules.  Each case has its own project, so the counter checks of
# one case are not disturbed by another.
##############################################################################

my $hu = create_users($node, $db, leaver => 'human', stayer => 'human');
$name_of{ $hu->{$_} } = $_ for keys %$hu;
my $sa = IntrackerTest::Session->new($node, $db, name => 'A', user => $u->{olga},   via => 'act_as');
my $sb = IntrackerTest::Session->new($node, $db, name => 'B', user => $hu->{stayer}, via => 'jwt');

# A project of olga (owner) with leaver and stayer (editors).
sub race_project
{
	my ($name) = @_;
	my $p = safe_psql_as($node, $db, $u->{olga}, "SELECT id FROM intracker.create_project(" . q_lit($name) . ")");
	safe_psql_as($node, $db, $u->{olga}, <<"SQL");
SELECT FROM intracker.add_member('$p', '$hu->{leaver}', 'editor');
SELECT FROM intracker.add_member('$p', '$hu->{stayer}', 'editor');
SQL
	return $p;
}

sub new_todo_in
{
	my ($p, $title, $extra) = @_;
	return safe_psql_as($node, $db, $u->{olga},
		"SELECT id FROM intracker.create_todo('$p', " . q_lit($title) . ($extra ? ", $extra" : '') . ")");
}

sub race
{
	my ($first, $second) = @_;
	my $r = $sa->race($sb, $first, $second, timeout => 10);
	my ($state, $out, $err) = @$r{qw(b_state b_out b_err)};
	my $story = "A ran {$first}, then B ran {$second}: B was '$state' until A committed, then returned '$out'"
	  . ($err ne '' ? ", error: $err" : '');
	note("f: $story");
	return $story;
}

# Deactivation against manual and automatic assignment.  olga and stayer
# carry load, so automatic assignment prefers the leaver.
for my $how ('manually', 'automatically')
{
	$node->safe_psql($db, "SELECT FROM intracker.set_user_active('$hu->{leaver}', true)");
	my $p = race_project("Handover $how");
	new_todo_in($p, "Olga's",   "estimate => 5, assigned_to => '$u->{olga}'");
	new_todo_in($p, "Stayer's", "estimate => 5, assigned_to => '$hu->{stayer}'");
	my $todo = new_todo_in($p, "Handed over $how", 'estimate => 1');
	my $story = race("SELECT is_active FROM intracker.set_user_active('$hu->{leaver}', false)",
		$how eq 'manually'
		? "SELECT assigned_to FROM intracker.assign_todo('$todo', '$hu->{leaver}')"
		: "SELECT assigned_to FROM intracker.assign_todo('$todo')");
	isnt($node->safe_psql($db, "SELECT coalesce(assigned_to::text, 'nobody') FROM intracker_data.todos WHERE id = '$todo'"),
		$hu->{leaver},
		"f: a todo assigned $how while its assignee is being deactivated does not end with the inactive user")
	  or diag($story);
	counters_consistent($node, $db, "f, deactivation against assigning $how", $p);
}
$node->safe_psql($db, "SELECT FROM intracker.set_user_active('$hu->{leaver}', true)");

# A dependency on a blocker that is being finished, in both orders: the
# dependent must not keep counting a blocker that is done.
for my $order ('dependency first', 'done first')
{
	my $p = race_project("Blocker race, $order");
	my $x = new_todo_in($p, 'Dependent');
	my $b = new_todo_in($p, 'Blocker');
	my $add  = "SELECT todo_id FROM intracker.add_dependency('$x', '$b')";
	my $done = "SELECT status FROM intracker.set_todo_status('$b', 'done', 1)";
	my $story = $order eq 'dependency first' ? race($add, $done) : race($done, $add);
	is($node->safe_psql($db, "SELECT (SELECT status FROM intracker_data.todos WHERE id = '$b') || ', '
	                              || (SELECT count(*) FROM intracker_data.todo_dependencies WHERE todo_id = '$x') || ' dependency'"),
		'done, 1 dependency', "f, $order: (setup) both statements took effect");
	counters_consistent($node, $db, "f, a dependency added while its blocker is finished, $order", $p)
	  or diag($story);
	is(safe_psql_as($node, $db, $hu->{stayer}, "SELECT title FROM intracker.claim_next_todo('$p')"),
		'Dependent', "f, $order: the dependent, whose only blocker is done, can be claimed");
}

# Not a race, but what the random workload (c) first tripped over:
# deleting a todo in the middle of a chain (X blocked by B blocked by Y)
# must update the counters of its neighbours.
{
	my $p = race_project('Deleted blocker');
	my $x = new_todo_in($p, 'X');
	my $b = new_todo_in($p, 'B');
	my $y = new_todo_in($p, 'Y');
	safe_psql_as($node, $db, $u->{olga}, <<"SQL");
SELECT FROM intracker.add_dependency('$x', '$b');
SELECT FROM intracker.add_dependency('$b', '$y');
DELETE FROM intracker.todos WHERE id = '$b';
SQL
	counters_consistent($node, $db, 'f, an open todo between a dependent and a blocker deleted', $p);
	is(safe_psql_as($node, $db, $hu->{stayer},
			"SELECT string_agg(title, ',') FROM (SELECT title FROM intracker.claim_next_todo('$p')) c"),
		'X', 'f: after its only blocker was deleted, X (created first) can be claimed');
}
$sa->quit;
$sb->quit;

diag(sprintf('%-58s %6.1f s', 'total', tv_interval($t_all)));
$node2->stop;
$node->stop;
done_testing();
