# 006_events_delivery.pl — change events end to end (issue 5): the outbox
# trigger, the background publisher, NOTIFY to real libpq listeners, and
# replay with intracker.events_since().
#
# One server preloads the library with intracker.database pointing at the
# test database, so the real publisher runs.  Every change is made by
# a non-superuser acting as an intracker user (act_as on tracker_admin, or
# the PostgREST path on authenticator with JWT claims), so RLS applies.
#
#   1. Every change type reaches a libpq listener on channel "intracker" and
#      on the project's channel: project.created/updated/status_changed/
#      deleted, member.added/updated/removed, feature.created/updated/
#      assigned/status_changed/deleted, todo.created/updated/assigned/
#      status_changed/deleted, dependency.added/removed, session.started/
#      updated/ended/deleted, conflict.rejected (PT409 through update_todo
#      and through a PATCH-like UPDATE of the view, PT412 through an If-Match
#      request header on the PostgREST path).  For each: the NOTIFY payload
#      is exactly {seq, type, project_id, entity_id, actor, version} with the
#      right values and no text, the same payload arrives on both channels,
#      and events_since() returns the same event with the expected changes
#      (old -> new), in seq order, with exactly as many events as expected.
#      Cascades (a feature, a member, the project deleted) are checked as
#      sets of events.
#   2. Rolled-back work emits nothing (no NOTIFY, no replayable event, the
#      next committed event takes the next seq); ROLLBACK TO SAVEPOINT drops
#      only the rolled-back part's events.
#      A statement failing half-way and a no-op membership update emit
#      nothing either.
#   3. Updates that change only internal counters (open_blocker_count,
#      open_dependent_count) are no events and move no version: adding a
#      dependency is one dependency.added, finishing a blocker one
#      todo.status_changed.
#   4. RLS and errors of events_since() and listen_project(), through the
#      PostgREST path (JWT): non-members see nothing and get PT404 for the
#      project, viewers see everything, 22023 for bad arguments, paging
#      concatenates to the full list; listen_project() really LISTENs.
#      Also through act_as: an intracker_admin session acting as a
#      non-member must see what that user sees (as for todos).
#   Also: conflict.rejected of a project, an event without actor (superuser
#   maintenance), and the precedence status_changed > assigned > updated.
#   5. worker_status: the publisher's pid, idle once drained, last seq,
#      backlog 0.
#   6. Order: what the listener receives on "intracker" is strictly
#      increasing and gap-free, also under concurrent writers; the project
#      channels carry exactly their project's events, in order.
#
# No timing is asserted; every wait is a poll with a generous timeout.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use Time::HiRes qw(gettimeofday tv_interval usleep);
use IntrackerTest;

my $t_start = [gettimeofday];
my $db      = 'tracker';
my $json    = JSON::PP->new->canonical;

my $node = new_node('events');
install_extension($node, $db);
create_test_roles($node);
# The extension exists before the restart, so the publisher finds it at once.
$node->append_conf('postgresql.conf', "intracker.database = '$db'\n");
$node->restart;
$node->poll_query_until($db,
	"SELECT state = 'idle' AND database = '$db' FROM intracker.worker_status")
  or BAIL_OUT('the publisher did not become idle in database ' . $db);

my $u = create_users($node, $db,
	alice => 'human', bob => 'human', carol => 'human', dave => 'human',
	erin  => 'human', robot => 'agent');
my ($alice, $bob, $carol, $dave, $erin, $robot) =
  @$u{qw(alice bob carol dave erin robot)};

##############################################################################
# Helpers
##############################################################################

sub su { return $node->safe_psql($db, $_[0]) }

sub as
{
	my ($user, $sql, %opt) = @_;
	return safe_psql_as($node, $db, $user, $sql, %opt);
}

sub max_seq { return su('SELECT coalesce(max(seq), 0) FROM intracker_data.events') }

sub channel_of { return "intracker.project.$_[0]" }

sub split_count { my @l = split /,/, ($_[0] // ''); return scalar @l }

# Wait until the outbox is empty and at least $want events are published.
sub wait_published
{
	my ($want) = @_;
	return $node->poll_query_until($db, qq{
SELECT (SELECT count(*) FROM intracker_data.outbox) = 0
   AND (SELECT coalesce(max(seq), 0) FROM intracker_data.events) >= $want});
}

# events_since() as $reader (a user id, by default through the PostgREST
# path; 'admin' = tracker_admin without identity, a member of
# intracker_admin), as decoded rows in the order the function returned them.
sub replay
{
	my ($reader, $after, %o) = @_;
	my $project = defined $o{project} ? q_lit($o{project}) . '::uuid' : 'NULL';
	my $max = $o{max} // 1000;
	my $sql = qq{
SELECT coalesce(json_agg(json_build_object('seq', e.seq, 'type', e.type, 'project_id', e.project_id,
                         'entity_id', e.entity_id, 'actor', e.actor, 'version', e.version,
                         'changes', e.changes) ORDER BY e.n), '[]')
  FROM intracker.events_since($after, $project, $max)
       WITH ORDINALITY AS e (seq, type, project_id, entity_id, actor, version, changes,
                             occurred_at, published_at, n)};
	my $out =
	  $reader eq 'admin'
	  ? as(undef, $sql, via => 'none')
	  : as($reader, $sql, via => $o{via} // 'jwt');
	return decode_json($out);
}

# Notifications a listener received on $channel: [ [seq, raw payload], ... ]
# in arrival order; lines that are not notifications are reported once.
my %reported_odd;

sub received
{
	my ($listener, $channel) = @_;
	my @got;
	for my $line (@{ $listener->{lines}->() })
	{
		my ($us, $ch, $payload) = @$line;
		if (!defined $payload)
		{
			my $text = join("\t", grep { defined } @$line);
			diag("listener printed: $text") unless $reported_odd{$text}++;
			next;
		}
		next unless $ch eq $channel;
		my $p = eval { decode_json($payload) };
		my $seq = ref $p eq 'HASH' ? $p->{seq} : undef;
		push @got, [ $seq, $payload ];
	}
	return \@got;
}

sub by_seq
{
	my ($listener, $channel) = @_;
	my %h;
	push @{ $h{ $_->[0] // 'undef' } }, $_->[1] for @{ received($listener, $channel) };
	return \%h;
}

# Wait until $listener has seqs $from..$to (or those of the list $from) on
# every channel of @channels.
sub wait_notified
{
	my ($listener, $from, $to, @channels) = @_;
	my @seqs = ref $from ? @$from : ($from .. $to);    # a list of seqs, or a range
	my $until = time + 60;
	while (1)
	{
		my $missing = 0;
		for my $ch (@channels)
		{
			my $h = by_seq($listener, $ch);
			$missing += grep { !$h->{$_} } @seqs;
		}
		return 1 if $missing == 0;
		return 0 if time > $until;
		usleep(20_000);
	}
}

##############################################################################
# Fixtures: project Zeta (erin; alice is a viewer) before anything is heard.
##############################################################################

my $Z = as($erin, "SELECT id FROM intracker.create_project('Zeta SECRET', description => 'SECRET zeta')");
as($erin, "SELECT FROM intracker.add_member('$Z', '$alice', 'viewer')");
my $z_todo = as($erin, "SELECT id FROM intracker.create_todo('$Z', 'Zeta SECRET todo')");
wait_published(0) or die 'the publisher did not drain the outbox';
my $zl = start_listener($node, $db, su("SELECT intracker.project_channel('$Z')"));
my $z_listen_from = max_seq() + 1;

my $P;                 # the project most events happen in
my $L;                 # listener on "intracker" and on P's channel
my $L_from;            # first seq $L can have heard
my $last_seq = max_seq();

# Check one action: run it, then expect exactly the listed events, with the
# next seqs, on both channels of $L and from events_since().
#
#   label   => text
#   run     => sub { ... }            the action
#   expect  => [ { type, entity, actor, version, project (default $P),
#                  name (for messages),
#                  changes => { col => [old, new] }    update: exact columns
#                  also    => [cols]                   ... plus these, any value
#                  created => { col => new }           insert: these among "new"
#                  deleted => { col => old }           delete: these among "old"
#                  exact   => { key => value }         conflict: the whole object
#                }, ... ]
#   unordered => 1        compare as a set (cascades)
#   reader    => user id or 'admin' for events_since (default carol, a viewer)
#   after     => sub { ... }          more checks once published
sub check_action
{
	my (%a) = @_;
	my $label  = $a{label};
	my @exp    = @{ $a{expect} };
	my $before = $last_seq;
	my $want   = $before + @exp;

	local $Test::Builder::Level = $Test::Builder::Level + 1;
	if (!eval { $a{run}->(); 1 })
	{
		fail("$label: the action runs");
		diag($@);
		wait_published(0);
		$last_seq = max_seq();
		return;
	}
	# A conflict is recorded by the publisher, so poll for the seqs as well.
	# Giving work to someone else also notifies them: their notification
	# events (test/t/028_notifications.pl) take seqs in between, and only
	# they read them, so they are counted apart.
	wait_published($want) or diag("$label: events not published in time");
	my $now = max_seq();
	my %notice = map { $_ => 1 } split /,/,
	  (su("SELECT string_agg(seq::text, ',') FROM intracker_data.events WHERE seq > $before AND type LIKE 'notification.%'") // '');
	is($now - scalar(keys %notice), $want, "$label: exactly " . scalar(@exp) . " event(s) published (and "
		  . scalar(keys %notice) . " notification(s))");
	$want = $now if $now > $want;
	$last_seq = $want;
	my @project_seqs = grep { !$notice{$_} } $before + 1 .. $want;

	my $rows = replay($a{reader} // $carol, $before, project => $P);
	is_deeply([ map { $_->{seq} } @$rows ], \@project_seqs,
		"$label: events_since($before) returns the project's seqs " . ($before + 1) . "..$want in order");

	my @pairs;
	if ($a{unordered})
	{
		my $key = sub { join '/', $_[0]{type}, $_[0]{entity} // $_[0]{entity_id} };
		my @e = sort { $key->($a) cmp $key->($b) } @exp;
		my @r = sort { $key->($a) cmp $key->($b) } @$rows;
		@pairs = map { [ $e[$_], $r[$_] ] } 0 .. $#e;
	}
	else
	{
		@pairs = map { [ $exp[$_], $rows->[$_] ] } 0 .. $#exp;
	}

	(wait_notified($L, $before + 1, $want, 'intracker') && wait_notified($L, \@project_seqs, undef, channel_of($P)))
	  or diag("$label: not every notification arrived in time");
	my $on_all  = by_seq($L, 'intracker');
	my $on_proj = by_seq($L, channel_of($P));

	for my $pair (@pairs)
	{
		my ($e, $r) = @$pair;
		$r //= {};
		my $what = "$label: $e->{type} of $e->{name}";
		my %want_event = (
			type       => $e->{type},
			project_id => $e->{project} // $P,
			entity_id  => $e->{entity},
			actor      => $e->{actor},
			version    => $e->{version});
		is_deeply({ map { $_ => $r->{$_} } keys %want_event }, \%want_event,
			"$what: events_since has type, project, entity, actor and version");

		my $ch = $r->{changes} // {};
		if ($e->{changes} || $e->{also})
		{
			my %c = %{ $e->{changes} // {} };
			is_deeply([ sort keys %$ch ], [ sort(keys %c, @{ $e->{also} // [] }) ],
				"$what: changes lists exactly the changed fields");
			is_deeply({ map { $_ => $ch->{$_} } keys %c },
				{ map { $_ => { old => $c{$_}[0], new => $c{$_}[1] } } keys %c },
				"$what: changes has old -> new of each field");
			ok(!grep({ ref $ch->{$_} ne 'HASH' || !exists $ch->{$_}{old} || !exists $ch->{$_}{new} } @{ $e->{also} // [] }),
				"$what: changes has old and new of " . join(', ', @{ $e->{also} // [] }))
			  if $e->{also};
		}
		for my $kind ([ created => 'new', 'old' ], [ deleted => 'old', 'new' ])
		{
			my ($k, $side, $other) = @$kind;
			next unless $e->{$k};
			my %c = %{ $e->{$k} };
			is_deeply({ map { $_ => $ch->{$_} } keys %c },
				{ map { $_ => { $side => $c{$_} } } keys %c },
				"$what: changes has the \"$side\" values");
			my @odd = grep {
				ref $ch->{$_} ne 'HASH' || exists $ch->{$_}{$other}
				  || /^(version|updated_at|open_blocker_count|open_dependent_count|feature_active|priority_rank)$/
			} keys %$ch;
			is_deeply(\@odd, [], "$what: only \"$side\" values, no version, updated_at or internal columns");
		}
		is_deeply($ch, $e->{exact}, "$what: changes are exactly " . $json->encode($e->{exact}))
		  if $e->{exact};

		my $seq = $r->{seq} // -1;
		my @raw = @{ $on_all->{$seq} // [] };
		is(scalar @raw, 1, "$what: one notification with seq $seq on channel intracker");
		my $payload = eval { decode_json($raw[0] // 'null') };
		is_deeply($payload,
			{ seq => $seq, map { $_ => $want_event{$_} } keys %want_event },
			"$what: the payload is exactly {seq, type, project_id, entity_id, actor, version}");
		unlike($raw[0] // '', qr/SECRET/, "$what: the payload carries no titles or descriptions");
		is_deeply($on_proj->{$seq}, \@raw, "$what: the same payload on the project's channel");
	}
	$a{after}->($rows) if $a{after};
	return $rows;
}

sub version_of
{
	my ($table, $id) = @_;
	return su("SELECT version FROM intracker_data.$table WHERE id = '$id'");
}

##############################################################################
# 1. Every change type
##############################################################################

# project.created: the listener needs the project's channel before the
# publisher sends, so the project is created in an open transaction and the
# listener started before COMMIT.
my $s_alice = IntrackerTest::Session->new($node, $db, name => 'alice', user => $alice);
{
	$s_alice->query_safe('BEGIN');
	$P = $s_alice->query_safe(
		"SELECT id FROM intracker.create_project('Events SECRET', description => 'SECRET description', tags => ARRAY['x'])");
	$L = start_listener($node, $db, 'intracker', su("SELECT intracker.project_channel('$P')"));
	$L_from = max_seq() + 1;
	check_action(
		label  => 'create_project',
		run    => sub { $s_alice->query_safe('COMMIT') },
		reader => $alice,
		expect => [
			{
				type => 'project.created', entity => $P, actor => $alice, version => 1, name => 'the project',
				created => { name => 'Events SECRET', description => 'SECRET description', status => 'active',
					tags => ['x'], created_by => $alice, id => $P }
			},
			{
				type => 'member.added', entity => $alice, actor => $alice, version => undef,
				name => 'alice (owner)',
				created => { role => 'owner', project_id => $P, user_id => $alice, available => JSON::PP::true }
			},
		]);
}

check_action(
	label  => 'add_member x3',
	run    => sub {
		as($alice, <<"SQL");
SELECT FROM intracker.add_member('$P', '$bob', 'editor');
SELECT FROM intracker.add_member('$P', '$carol', 'viewer');
SELECT FROM intracker.add_member('$P', '$robot', 'editor');
SQL
	},
	reader => $alice,
	expect => [
		map {
			{
				type => 'member.added', entity => $_->[0], actor => $alice, version => undef,
				name => $_->[2], created => { role => $_->[1], user_id => $_->[0] }
			}
		} ([ $bob, 'editor', 'bob' ], [ $carol, 'viewer', 'carol' ], [ $robot, 'editor', 'robot' ])
	]);

# Role changes, a no-op role "change", capacity and availability (bob is
# available again at the end: work is given to him below, and an
# unavailable member may not be given any).
check_action(
	label => 'member updates',
	run   => sub {
		as($alice, <<"SQL");
SELECT FROM intracker.add_member('$P', '$carol', 'editor');
SELECT FROM intracker.add_member('$P', '$carol', 'viewer');
SELECT FROM intracker.add_member('$P', '$carol', 'viewer');
SELECT FROM intracker.set_capacity('$P', '$bob', 5);
SQL
		as($bob, "SELECT FROM intracker.set_availability('$P', false)");
		as($bob, "SELECT FROM intracker.set_availability('$P', true)");
	},
	expect => [
		{ type => 'member.updated', entity => $carol, actor => $alice, version => undef, name => 'carol -> editor',
		  changes => { role => [ 'viewer', 'editor' ] } },
		{ type => 'member.updated', entity => $carol, actor => $alice, version => undef, name => 'carol -> viewer',
		  changes => { role => [ 'editor', 'viewer' ] } },
		{ type => 'member.updated', entity => $bob, actor => $alice, version => undef, name => 'bob capacity',
		  changes => { capacity => [ undef, 5 ] } },
		{ type => 'member.updated', entity => $bob, actor => $bob, version => undef, name => 'bob availability',
		  changes => { available => [ JSON::PP::true, JSON::PP::false ] } },
		{ type => 'member.updated', entity => $bob, actor => $bob, version => undef, name => 'bob available again',
		  changes => { available => [ JSON::PP::false, JSON::PP::true ] } },
	]);

check_action(
	label  => 'update_project',
	run    => sub {
		as($alice, qq{SELECT FROM intracker.update_project('$P', '{"name": "Events SECRET 2", "tags": ["x", "y"]}', 1)});
	},
	expect => [
		{ type => 'project.updated', entity => $P, actor => $alice, version => 2, name => 'the project',
		  changes => { name => [ 'Events SECRET', 'Events SECRET 2' ], tags => [ ['x'], [ 'x', 'y' ] ] } },
	]);

check_action(
	label  => 'update_project status + description',
	run    => sub {
		as($bob, qq{SELECT FROM intracker.update_project('$P', '{"status": "paused", "description": "SECRET d2"}', 2)});
	},
	expect => [
		{ type => 'project.status_changed', entity => $P, actor => $bob, version => 3, name => 'the project',
		  changes => { status => [ 'active', 'paused' ], description => [ 'SECRET description', 'SECRET d2' ] } },
	]);

# Features
my $F;
# (ids created by an action are needed in its expectations: create first,
# then check the event of the creation)
sub check_creation
{
	my ($label, $create, $expect_of, %more) = @_;
	my $before = $last_seq;
	my $id;
	my $ok = eval { $id = $create->(); 1 };
	if (!$ok)
	{
		fail("$label: the action runs");
		diag($@);
		wait_published(0);
		$last_seq = max_seq();
		return;
	}
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	check_action(label => $label, run => sub { }, expect => $expect_of->($id), %more);
	return $id;
}

$F = check_creation('create_feature',
	sub { as($bob, "SELECT id FROM intracker.create_feature('$P', 'Feature SECRET', description => 'SECRET f', priority => 'high')") },
	sub {
		[ { type => 'feature.created', entity => $_[0], actor => $bob, version => 1, name => 'the feature',
			created => { title => 'Feature SECRET', description => 'SECRET f', priority => 'high', status => 'todo',
				project_id => $P, created_by => $bob, id => $_[0] } } ];
	});

check_action(
	label  => 'update_feature title + priority',
	run    => sub { as($bob, qq{SELECT FROM intracker.update_feature('$F', '{"title": "Feature SECRET 2", "priority": "low"}', 1)}) },
	expect => [
		{ type => 'feature.updated', entity => $F, actor => $bob, version => 2, name => 'the feature',
		  changes => { title => [ 'Feature SECRET', 'Feature SECRET 2' ], priority => [ 'high', 'low' ] } },
	]);

check_action(
	label  => 'update_feature assigned_to + description',
	run    => sub { as($bob, qq{SELECT FROM intracker.update_feature('$F', '{"assigned_to": "$bob", "description": "SECRET f2"}', 2)}) },
	expect => [
		{ type => 'feature.assigned', entity => $F, actor => $bob, version => 3, name => 'the feature',
		  changes => { assigned_to => [ undef, $bob ], description => [ 'SECRET f', 'SECRET f2' ] } },
	]);

check_action(
	label  => 'update_feature status + assigned_to',
	run    => sub { as($bob, qq{SELECT FROM intracker.update_feature('$F', '{"status": "in_progress", "assigned_to": "$robot"}', 3)}) },
	expect => [
		{ type => 'feature.status_changed', entity => $F, actor => $bob, version => 4, name => 'the feature',
		  changes => { status => [ 'todo', 'in_progress' ], assigned_to => [ $bob, $robot ] } },
	]);

# Todos: T1 (in the feature), T2, T3 (assigned to robot at creation).
my ($T1, $T2, $T3);
{
	my $ids = check_creation('create_todo x3',
		sub {
			my $out = as($bob, <<"SQL");
SELECT id FROM intracker.create_todo('$P', 'Todo SECRET 1', feature_id => '$F', description => 'SECRET t1', estimate => 2);
SELECT id FROM intracker.create_todo('$P', 'Todo SECRET 2');
SELECT id FROM intracker.create_todo('$P', 'Todo SECRET 3', assigned_to => '$robot', priority => 'high');
SQL
			return [ split /\n/, $out ];
		},
		sub {
			my ($t1, $t2, $t3) = @{ $_[0] };
			[
				{ type => 'todo.created', entity => $t1, actor => $bob, version => 1, name => 'T1',
				  created => { title => 'Todo SECRET 1', description => 'SECRET t1', feature_id => $F, estimate => 2,
					  status => 'todo', priority => 'medium', tags => [], created_by => $bob, project_id => $P, id => $t1 } },
				{ type => 'todo.created', entity => $t2, actor => $bob, version => 1, name => 'T2',
				  created => { title => 'Todo SECRET 2', estimate => 1, status => 'todo' } },
				{ type => 'todo.created', entity => $t3, actor => $bob, version => 1, name => 'T3',
				  created => { title => 'Todo SECRET 3', assigned_to => $robot, priority => 'high' } },
			];
		},
		after => sub {
			my ($rows) = @_;
			ok(!exists $rows->[1]{changes}{feature_id} && !exists $rows->[1]{changes}{description},
				'create_todo x3: NULL columns of a new todo are not listed');
		});
	($T1, $T2, $T3) = @{ $ids // [] };
}

check_action(
	label  => 'update_todo title + estimate + tags',
	run    => sub { as($bob, qq{SELECT FROM intracker.update_todo('$T1', '{"title": "Todo SECRET 1b", "estimate": 3, "tags": ["a", "b"]}', 1)}) },
	expect => [
		{ type => 'todo.updated', entity => $T1, actor => $bob, version => 2, name => 'T1',
		  changes => { title => [ 'Todo SECRET 1', 'Todo SECRET 1b' ], estimate => [ 2, 3 ], tags => [ [], [ 'a', 'b' ] ] } },
	]);

check_action(
	label  => 'assign_todo',
	run    => sub { as($bob, "SELECT FROM intracker.assign_todo('$T1', '$robot', 2)") },
	expect => [
		{ type => 'todo.assigned', entity => $T1, actor => $bob, version => 3, name => 'T1',
		  changes => { assigned_to => [ undef, $robot ] } },
	]);

# robot through the PostgREST path: the actor comes from the JWT.
check_action(
	label  => 'set_todo_status in_progress (JWT)',
	run    => sub { as($robot, "SELECT FROM intracker.set_todo_status('$T1', 'in_progress', 3)", via => 'jwt') },
	expect => [
		{ type => 'todo.status_changed', entity => $T1, actor => $robot, version => 4, name => 'T1',
		  changes => { status => [ 'todo', 'in_progress' ] } },
	]);

# 3. Internal counters: T2 blocked by T1 bumps T2.open_blocker_count and
# T1.open_dependent_count, and finishing T1 lowers T2's again: no todo event,
# no version change, only the dependency and T1's own status.
check_action(
	label  => 'add_dependency',
	run    => sub { as($bob, "SELECT FROM intracker.add_dependency('$T2', '$T1')") },
	expect => [
		{ type => 'dependency.added', entity => $T2, actor => $bob, version => undef, name => 'T2 blocked by T1',
		  created => { todo_id => $T2, blocked_by => $T1, project_id => $P, created_by => $bob } },
	],
	after => sub {
		is(su("SELECT open_blocker_count || '/' || version FROM intracker_data.todos WHERE id = '$T2'"), '1/1',
			'add_dependency: T2 counts its blocker and keeps version 1');
		is(su("SELECT open_dependent_count || '/' || version FROM intracker_data.todos WHERE id = '$T1'"), '1/4',
			'add_dependency: T1 counts its dependent and keeps version 4');
	});

check_action(
	label  => 'set_todo_status done',
	run    => sub { as($robot, "SELECT FROM intracker.set_todo_status('$T1', 'done', 4)") },
	expect => [
		{ type => 'todo.status_changed', entity => $T1, actor => $robot, version => 5, name => 'T1',
		  changes => { status => [ 'in_progress', 'done' ], completed_by => [ undef, $robot ] },
		  also => ['completed_at'] },
	],
	after => sub {
		my ($rows) = @_;
		is(($rows->[0]{changes}{completed_at}{old} // 'null'), 'null', 'set_todo_status done: completed_at was null');
		is(su("SELECT open_blocker_count || '/' || version FROM intracker_data.todos WHERE id = '$T2'"), '0/1',
			'set_todo_status done: T2 no longer counts an open blocker, still version 1 (no event for it)');
	});

# Precedence: status over assigned over updated.
check_action(
	label  => 'update_todo status + assigned_to + blocked_reason',
	run    => sub {
		as($bob, qq{SELECT FROM intracker.update_todo('$T2', '{"status": "blocked", "assigned_to": "$bob", "blocked_reason": "SECRET reason"}', 1)});
	},
	expect => [
		{ type => 'todo.status_changed', entity => $T2, actor => $bob, version => 2, name => 'T2',
		  changes => { status => [ 'todo', 'blocked' ], assigned_to => [ undef, $bob ], blocked_reason => [ undef, 'SECRET reason' ] } },
	]);

check_action(
	label  => 'remove_dependency',
	run    => sub { as($bob, "SELECT FROM intracker.remove_dependency('$T2', '$T1')") },
	expect => [
		{ type => 'dependency.removed', entity => $T2, actor => $bob, version => undef, name => 'T2 blocked by T1',
		  deleted => { todo_id => $T2, blocked_by => $T1 } },
	]);

# Sessions
my $S = check_creation('start_session',
	sub { as($bob, "SELECT id FROM intracker.start_session('$P', goal => 'SECRET goal')") },
	sub {
		[ { type => 'session.started', entity => $_[0], actor => $bob, version => undef, name => 'bob\'s session',
			created => { goal => 'SECRET goal', user_id => $bob, project_id => $P, id => $_[0] } } ];
	});

check_action(
	label  => 'UPDATE intracker.sessions',
	run    => sub { as($bob, "UPDATE intracker.sessions SET goal = 'SECRET goal 2', blockers = ARRAY['SECRET b'] WHERE id = '$S'") },
	expect => [
		{ type => 'session.updated', entity => $S, actor => $bob, version => undef, name => 'bob\'s session',
		  changes => { goal => [ 'SECRET goal', 'SECRET goal 2' ], blockers => [ [], ['SECRET b'] ] } },
	]);

# A session's working notes (summary, next steps) are for its author, the
# project's editors and owners: replayed as the owner here, and as a viewer
# (carol) without them just after.
check_action(
	label  => 'end_session',
	reader => $alice,
	run    => sub {
		as($bob, "SELECT FROM intracker.end_session('$S', 'SECRET summary', next_steps => ARRAY['SECRET n'], todo_ids => ARRAY['$T1']::uuid[])");
	},
	expect => [
		{ type => 'session.ended', entity => $S, actor => $bob, version => undef, name => 'bob\'s session',
		  changes => { summary => [ undef, 'SECRET summary' ], next_steps => [ [], ['SECRET n'] ],
			  blockers => [ ['SECRET b'], [] ], todo_ids => [ [], [$T1] ] },
		  also => ['ended_at'] },
	]);

{
	my ($ended) = grep { $_->{type} eq 'session.ended' } @{ replay($carol, 0, project => $P) };
	ok($ended && !exists $ended->{changes}{summary} && !exists $ended->{changes}{next_steps}
		  && exists $ended->{changes}{todo_ids} && exists $ended->{changes}{ended_at},
		'end_session: a viewer replays session.ended without its summary and next steps, with the rest of its changes')
	  or diag(explain($ended));
}

check_action(
	label  => 'DELETE FROM intracker.sessions',
	reader => $alice,
	run    => sub { as($alice, "DELETE FROM intracker.sessions WHERE id = '$S'") },
	expect => [
		{ type => 'session.deleted', entity => $S, actor => $alice, version => undef, name => 'bob\'s session',
		  deleted => { id => $S, user_id => $bob, goal => 'SECRET goal 2', summary => 'SECRET summary' } },
	]);
{
	my ($deleted) = grep { $_->{type} eq 'session.deleted' } @{ replay($carol, 0, project => $P) };
	ok($deleted && !exists $deleted->{changes}{summary} && ($deleted->{changes}{goal}{old} // '') eq 'SECRET goal 2',
		'DELETE FROM intracker.sessions: a viewer replays session.deleted without the old summary, with the rest')
	  or diag(explain($deleted));
}

check_action(
	label  => 'DELETE FROM intracker.todos',
	run    => sub { as($alice, "DELETE FROM intracker.todos WHERE id = '$T2'") },
	expect => [
		{ type => 'todo.deleted', entity => $T2, actor => $alice, version => 2, name => 'T2',
		  deleted => { id => $T2, title => 'Todo SECRET 2', status => 'blocked', assigned_to => $bob } },
	]);

# Deleting the feature clears T1.feature_id (ON DELETE SET NULL): a
# todo.updated for T1 too.
check_action(
	label     => 'DELETE FROM intracker.features',
	run       => sub { as($alice, "DELETE FROM intracker.features WHERE id = '$F'") },
	unordered => 1,
	expect    => [
		{ type => 'feature.deleted', entity => $F, actor => $alice, version => 4, name => 'the feature',
		  deleted => { id => $F, title => 'Feature SECRET 2', status => 'in_progress', assigned_to => $robot } },
		{ type => 'todo.updated', entity => $T1, actor => $alice, version => 6, name => 'T1 (feature cleared)',
		  changes => { feature_id => [ $F, undef ] } },
	]);

# Removing robot unassigns T1 (done) and T3.
check_action(
	label     => 'remove_member',
	run       => sub { as($alice, "SELECT FROM intracker.remove_member('$P', '$robot')") },
	unordered => 1,
	expect    => [
		{ type => 'member.removed', entity => $robot, actor => $alice, version => undef, name => 'robot',
		  deleted => { user_id => $robot, role => 'editor', project_id => $P } },
		{ type => 'todo.assigned', entity => $T1, actor => $alice, version => 7, name => 'T1 (unassigned)',
		  changes => { assigned_to => [ $robot, undef ] } },
		{ type => 'todo.assigned', entity => $T3, actor => $alice, version => 2, name => 'T3 (unassigned)',
		  changes => { assigned_to => [ $robot, undef ] } },
	]);

# conflict.rejected: T3 is at version 2.
{
	my ($ret, $out, $err);
	check_action(
		label  => 'stale update_todo (PT409)',
		run    => sub {
			($ret, $out, $err) = psql_as($node, $db, $bob,
				qq{SELECT FROM intracker.update_todo('$T3', '{"title": "SECRET stale"}', 1)});
			is_sqlstate($err, 'PT409', 'stale update_todo fails with PT409', $out);
		},
		expect => [
			{ type => 'conflict.rejected', entity => $T3, actor => $bob, version => 2, name => 'T3',
			  exact => { entity => 'todo', attempted_version => 1, current_version => 2, sqlstate => 'PT409' } },
		]);

	check_action(
		label  => 'stale UPDATE of the view (PT409, JWT)',
		run    => sub {
			($ret, $out, $err) = psql_as($node, $db, $bob,
				"UPDATE intracker.todos SET title = 'SECRET stale', version = 1 WHERE id = '$T3'", via => 'jwt');
			is_sqlstate($err, 'PT409', 'stale UPDATE through the view fails with PT409', $out);
		},
		expect => [
			{ type => 'conflict.rejected', entity => $T3, actor => $bob, version => 2, name => 'T3',
			  exact => { entity => 'todo', attempted_version => 1, current_version => 2, sqlstate => 'PT409' } },
		]);

	check_action(
		label  => 'If-Match mismatch (PT412, JWT)',
		run    => sub {
			($ret, $out, $err) = psql_as($node, $db, $bob, <<"SQL", via => 'jwt');
SELECT set_config('request.headers', '{"if-match": "\\"1\\""}', false) \\gset
SELECT FROM intracker.update_todo('$T3', '{"title": "SECRET if-match"}', 2);
SQL
			is_sqlstate($err, 'PT412', 'update_todo with a stale If-Match fails with PT412', $out);
		},
		expect => [
			{ type => 'conflict.rejected', entity => $T3, actor => $bob, version => 2, name => 'T3',
			  exact => { entity => 'todo', attempted_version => undef, current_version => 2, sqlstate => 'PT412' } },
		]);
	is(version_of('todos', $T3), 2, 'after the rejected writes T3 is still at version 2');

	check_action(
		label  => 'stale update_project (PT409)',
		run    => sub {
			($ret, $out, $err) = psql_as($node, $db, $bob,
				qq{SELECT FROM intracker.update_project('$P', '{"name": "SECRET stale"}', 1)}, via => 'jwt');
			is_sqlstate($err, 'PT409', 'stale update_project fails with PT409', $out);
		},
		expect => [
			{ type => 'conflict.rejected', entity => $P, actor => $bob, version => 3, name => 'the project',
			  exact => { entity => 'project', attempted_version => 1, current_version => 3, sqlstate => 'PT409' } },
		]);
}

# Maintenance without an acting user (the superuser, no act_as): actor null.
check_action(
	label  => 'UPDATE by the superuser without identity',
	run    => sub { su("UPDATE intracker_data.todos SET priority = 'low' WHERE id = '$T1'") },
	expect => [
		{ type => 'todo.updated', entity => $T1, actor => undef, version => 8, name => 'T1',
		  changes => { priority => [ 'medium', 'low' ] } },
	]);

##############################################################################
# 2. Rolled-back work emits nothing
##############################################################################

my $s_bob = IntrackerTest::Session->new($node, $db, name => 'bob', user => $bob);
# carol listens through listen_project() in a psql session.
my $s_carol = IntrackerTest::Session->new($node, $db, name => 'carol', user => $carol);
is($s_carol->query_safe("SELECT intracker.listen_project('$P')"), channel_of($P),
	'listen_project returns the project channel for a viewer');
is(su("SELECT intracker.project_channel('$P')"), channel_of($P),
	"project_channel() is 'intracker.project.<id>'");

{
	my $before = $last_seq;
	my $heard  = scalar @{ received($L, 'intracker') };
	$s_bob->query_safe('BEGIN');
	$s_bob->query_safe("SELECT FROM intracker.create_todo('$P', 'SECRET rolled back 1')");
	$s_bob->query_safe("SELECT FROM intracker.create_todo('$P', 'SECRET rolled back 2')");
	$s_bob->query_safe(qq{SELECT FROM intracker.update_todo('$T3', '{"estimate": 8}', 2)});
	$s_bob->query_safe("SELECT FROM intracker.start_session('$P')");
	$s_bob->query_safe("SELECT FROM intracker.update_project('$P', '{\"name\": \"SECRET rb\"}', 3)");
	$s_bob->query_safe('ROLLBACK');
	# No fixed wait for what must not happen.  Whatever the rolled-back
	# transaction wrongly left in the outbox is published once the outbox is
	# empty (the poll below); anything a bug would publish later comes before
	# the marker below (the publisher numbers and NOTIFYs in commit order), so
	# the marker's checks -- the only event after $before, the only
	# notification since -- would fail.
	wait_published(0);
	is(max_seq(), $before, 'ROLLBACK: no event published');
	is(scalar @{ received($L, 'intracker') }, $heard, 'ROLLBACK: no notification');

	check_creation('marker after ROLLBACK',
		sub { as($bob, "SELECT id FROM intracker.create_todo('$P', 'SECRET marker')") },
		sub {
			[ { type => 'todo.created', entity => $_[0], actor => $bob, version => 1, name => 'the marker',
				created => { title => 'SECRET marker' } } ];
		},
		after => sub {
			# check_action waited for the marker's notification: any stray one,
			# sent before it, has arrived too (notifications come in commit order).
			is(scalar @{ received($L, 'intracker') }, $heard + 1,
				'ROLLBACK: the marker is the only notification on channel intracker since');
			is(version_of('todos', $T3), 2, 'ROLLBACK: T3 kept version 2');
		});
	# psql prints a notification after the next command it runs.
	my $out = '';
	for (1 .. 100)
	{
		$out .= ($s_carol->query('SELECT 1'))[0];
		last if $out =~ /Asynchronous notification/;
		usleep(100_000);
	}
	like($out, qr/Asynchronous notification "\Q@{[channel_of($P)]}\E" with payload "\{"seq" : @{[$before + 1]}, /,
		'listen_project(): the psql session of the viewer heard the marker on the project channel');
}

{
	my $keep;
	check_creation('ROLLBACK TO SAVEPOINT',
		sub {
			$s_bob->query_safe('BEGIN');
			$keep = $s_bob->query_safe("SELECT id FROM intracker.create_todo('$P', 'SECRET kept')");
			$s_bob->query_safe('SAVEPOINT s1');
			$s_bob->query_safe("SELECT FROM intracker.create_todo('$P', 'SECRET dropped')");
			$s_bob->query_safe(qq{SELECT FROM intracker.update_todo('$keep', '{"title": "SECRET dropped title"}', 1)});
			$s_bob->query_safe("SELECT FROM intracker.add_dependency('$keep', '$T3')");
			$s_bob->query_safe('ROLLBACK TO SAVEPOINT s1');
			$s_bob->query_safe(qq{SELECT FROM intracker.update_todo('$keep', '{"estimate": 5}', 1)});
			$s_bob->query_safe('COMMIT');
			return $keep;
		},
		sub {
			[
				{ type => 'todo.created', entity => $_[0], actor => $bob, version => 1, name => 'the kept todo',
				  created => { title => 'SECRET kept', estimate => 1 } },
				{ type => 'todo.updated', entity => $_[0], actor => $bob, version => 2, name => 'the kept todo',
				  changes => { estimate => [ 1, 5 ] } },
			];
		});
	is(su("SELECT count(*) FROM intracker_data.todos WHERE title LIKE 'SECRET dropped%' OR title LIKE 'SECRET rolled%'"), 0,
		'the rolled-back todos do not exist');
}

# A statement that fails half-way (the second row of a multi-row write) and
# a no-op update emit nothing either.
{
	my $before = $last_seq;
	my ($ret, $out, $err) = psql_as($node, $db, $bob, qq{
UPDATE intracker.todos SET estimate = CASE WHEN id = '$T3' THEN -1 ELSE 4 END
 WHERE project_id = '$P' AND status <> 'done'});
	is_sqlstate($err, '23514', 'a multi-row UPDATE failing on one row fails as a whole', $out);
	as($alice, "SELECT FROM intracker.add_member('$P', '$carol', 'viewer')");
	check_creation('marker after failed and no-op writes',
		sub { as($bob, "SELECT id FROM intracker.create_todo('$P', 'SECRET marker 2')") },
		sub {
			[ { type => 'todo.created', entity => $_[0], actor => $bob, version => 1, name => 'the marker',
				created => { title => 'SECRET marker 2' } } ];
		});
}

##############################################################################
# 4. RLS and errors
##############################################################################

{
	# Each member reads their projects' events but others' notifications.
	my $not_others = sub { "(type NOT LIKE 'notification.%' OR entity_id = '$_[0]')" };
	my $all_p = su("SELECT string_agg(seq::text, ',' ORDER BY seq) FROM intracker_data.events WHERE project_id = '$P' AND "
		  . $not_others->($carol));
	my @all_p = split /,/, $all_p;
	my $all_z = su("SELECT string_agg(seq::text, ',' ORDER BY seq) FROM intracker_data.events WHERE project_id = '$Z' AND "
		  . $not_others->($erin));
	my $all_pz = su(qq{SELECT string_agg(seq::text, ',' ORDER BY seq) FROM intracker_data.events WHERE project_id IN ('$P', '$Z') AND }
		  . $not_others->($alice));
	my $seqs = sub { join ',', map { $_->{seq} } @{ $_[0] } };
	my $sqlstate = sub {
		my ($user, $sql, %opt) = @_;
		my ($ret, $out, $err) = psql_as($node, $db, $user, $sql, %opt);
		return ($err, $out);
	};

	# Users as PostgREST serves them (authenticator, web_user, JWT claims).
	is($seqs->(replay($carol, 0, project => $P, max => 10000)), $all_p,
		'a viewer reads every event of the project');
	is($seqs->(replay($carol, 0)), $all_p, 'without a project, a viewer of one project reads exactly its events');
	is($seqs->(replay($dave, 0)), '', 'a user in no project reads no event');
	is($seqs->(replay($erin, 0)), $all_z, 'a member of another project reads only that project\'s events');
	is($seqs->(replay($alice, 0)), $all_pz, 'a member of both projects reads the events of both');
	is($seqs->(replay($robot, 0)),
		su("SELECT string_agg(seq::text, ',' ORDER BY seq) FROM intracker_data.events"
			  . " WHERE (type LIKE 'member.%' OR type LIKE 'notification.%') AND entity_id = '$robot'"),
		'a removed member reads only the events of their own membership (added ... removed) and their own notifications, nothing else of the project');
	like(su("SELECT string_agg(type, ',' ORDER BY seq) FROM intracker_data.events WHERE entity_id = '$robot' AND type LIKE 'member.%'"),
		qr/^member\.added,.*member\.removed$/, 'those are the member.* events from added to removed');
	is($seqs->(replay('admin', 0)), su("SELECT string_agg(seq::text, ',' ORDER BY seq) FROM intracker_data.events"),
		'a member of intracker_admin without identity reads every event');
	is(as($dave, "SELECT count(*) FROM intracker.events", via => 'jwt'), 0, 'the events view shows a non-member nothing');
	is(as($carol, "SELECT count(*) FROM intracker.events WHERE project_id = '$P'", via => 'jwt'), scalar(@all_p),
		'the events view shows a viewer every event of the project');

	my ($err, $out) = $sqlstate->($dave, "SELECT FROM intracker.events_since(0, '$P')", via => 'jwt');
	is_sqlstate($err, 'PT404', 'events_since(0, project) for a non-member: PT404', $out);
	($err, $out) = $sqlstate->($erin, "SELECT FROM intracker.events_since(0, '$P')", via => 'jwt');
	is_sqlstate($err, 'PT404', 'events_since(0, project) for a member of another project: PT404', $out);
	($err, $out) = $sqlstate->($robot, "SELECT FROM intracker.events_since(0, '$P')", via => 'jwt');
	is_sqlstate($err, 'PT404', 'events_since(0, project) for a removed member: PT404', $out);
	for my $case (
		[ 'max_events 0',     "0, NULL, 0" ],
		[ 'max_events 10001', "0, NULL, 10001" ],
		[ 'max_events NULL',  "0, NULL, NULL" ],
		[ 'after_seq NULL',   "NULL" ],
		[ 'after_seq -1',     "-1" ],
		[ 'max_events 0 with a project', "0, '$P', 0" ])
	{
		($err, $out) = $sqlstate->($carol, "SELECT FROM intracker.events_since($case->[1])", via => 'jwt');
		is_sqlstate($err, '22023', "events_since with $case->[0]: 22023", $out);
	}
	is(scalar @{ replay($carol, 0, project => $P, max => 10000) }, scalar(@all_p),
		'events_since with max_events 10000 is accepted');

	# An intracker_admin session acting as a user (act_as) should see what
	# that user sees, as it does for projects, todos, sessions: the events
	# policy and events_since() let any intracker_admin member through,
	# whoever it acts as.  (Reported as a bug; see the final summary.)
	is($seqs->(replay($dave, 0, via => 'act_as')), '',
		'act_as a user in no project: events_since reads no event');
	($err, $out) = $sqlstate->($dave, "SELECT FROM intracker.events_since(0, '$P')");
	is_sqlstate($err, 'PT404', 'act_as a non-member: events_since(0, project) is PT404', $out);
	is(as($dave, "SELECT count(*) FROM intracker.events"), 0, 'act_as a non-member: the events view shows nothing');
	is(as($dave, "SELECT count(*) FROM intracker.todos WHERE project_id = '$P'"), 0,
		'(act_as a non-member sees none of the project\'s todos, for comparison)');

	# Paging: pages of 4 (one project) and of 7 (all visible) concatenate to
	# the full list, rows included.
	for my $paging ([ $carol, $P, 4 ], [ $alice, undef, 7 ])
	{
		my ($user, $project, $size) = @$paging;
		my $full = replay($user, 0, project => $project, max => 10000);
		my (@pages, $calls);
		my $after = 0;
		my $oversized = 0;
		while (1)
		{
			my $page = replay($user, $after, project => $project, max => $size);
			$calls++;
			last if !@$page || $calls > 1000;
			$oversized++ if @$page > $size;
			push @pages, @$page;
			$after = $page->[-1]{seq};
		}
		my $name = defined $project ? 'one project' : 'all visible projects';
		is($oversized, 0, "paging ($name, max_events $size): no page is longer than max_events");
		is_deeply(\@pages, $full, "paging ($name, max_events $size): the pages concatenate to the full list");
		cmp_ok($calls, '>', 2, "paging ($name): it took several pages ($calls calls)");
	}
	is(scalar @{ replay($alice, 0, max => 10000) }, scalar(split_count($all_pz)),
		'paging: the full list of a member of both projects has both projects\' events');

	# listen_project()
	($err, $out) = $sqlstate->($dave, "SELECT intracker.listen_project('$P')", via => 'jwt');
	is_sqlstate($err, 'PT404', 'listen_project for a non-member: PT404', $out);
	($err, $out) = $sqlstate->($dave, "SELECT intracker.listen_project('$P')");
	is_sqlstate($err, 'PT404', 'listen_project for a non-member (act_as): PT404', $out);
	($err, $out) = $sqlstate->($erin, "SELECT intracker.listen_project('$P')", via => 'jwt');
	is_sqlstate($err, 'PT404', 'listen_project for a member of another project: PT404', $out);
	is(as($erin, "SELECT intracker.listen_project('$Z')", via => 'jwt'), channel_of($Z),
		'listen_project for a member (JWT) returns the channel');
}

##############################################################################
# 6. Order under concurrent writers, and the project channels
##############################################################################

{
	my $before = $last_seq;
	my @writers = (
		[ IntrackerTest::Session->new($node, $db, name => 'w_alice', user => $alice), $P ],
		[ IntrackerTest::Session->new($node, $db, name => 'w_bob', user => $bob, via => 'jwt'), $P ],
		[ IntrackerTest::Session->new($node, $db, name => 'w_erin1', user => $erin), $Z ],
		[ IntrackerTest::Session->new($node, $db, name => 'w_erin2', user => $erin, via => 'jwt'), $Z ],
	);
	my $per = 25;
	my ($results) = run_together($node,
		map {
			my ($s, $project) = @$_;
			[ $s, join('', map { "SELECT FROM intracker.create_todo('$project', 'SECRET burst $s->{name} $_');\n" } 1 .. $per) ]
		} @writers);
	is_deeply([ map { $_->{err} } @$results ], [ ('') x @writers ], 'concurrent writers: no errors');
	$_->[0]->quit for @writers;
	my $want = $before + $per * @writers;
	wait_published($want) or diag('burst not published in time');
	is(max_seq(), $want, 'concurrent writers: ' . ($per * @writers) . ' events published');
	$last_seq = max_seq();
	wait_notified($L, $before + 1, $want, 'intracker');
}

# worker_status once the stream has drained
{
	$node->poll_query_until($db, "SELECT state = 'idle' AND backlog = 0 FROM intracker.worker_status")
	  or diag('the publisher did not return to idle');
	my $pid = su("SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE backend_type = 'intracker publisher'");
	my $st = as($carol, "SELECT pid, state, database, last_published_seq, backlog, coalesce(last_error, '-'), rejected_writes_dropped FROM intracker.worker_status");
	my %ws;
	@ws{qw(pid state database last_published_seq backlog last_error dropped)} = split /\|/, $st;
	is($ws{pid}, $pid, "worker_status.pid is the 'intracker publisher' backend in pg_stat_activity");
	is($ws{state}, 'idle', 'worker_status.state is idle after the stream drained');
	is($ws{database}, $db, 'worker_status.database');
	is($ws{last_published_seq}, max_seq(), 'worker_status.last_published_seq is the highest seq');
	is($ws{backlog}, 0, 'worker_status.backlog is 0');
	is($ws{last_error}, '-', 'worker_status.last_error is empty');
	is($ws{dropped}, 0, 'worker_status.rejected_writes_dropped is 0');
}

##############################################################################
# project.deleted: the whole project cascades.  Its events are read as an
# admin: once the project is gone nobody is a member of it.
##############################################################################

{
	my @expect;
	push @expect, { type => 'project.deleted', entity => $P, actor => $alice, version => 3, name => 'the project',
		deleted => { id => $P, name => 'Events SECRET 2', status => 'paused' } };
	for my $m (split /\n/, su("SELECT user_id FROM intracker_data.project_members WHERE project_id = '$P' ORDER BY user_id"))
	{
		push @expect, { type => 'member.removed', entity => $m, actor => $alice, version => undef, name => "member $m",
			deleted => { user_id => $m } };
	}
	for my $t (split /\n/, su("SELECT id || '|' || version FROM intracker_data.todos WHERE project_id = '$P' ORDER BY id"))
	{
		my ($id, $v) = split /\|/, $t;
		push @expect, { type => 'todo.deleted', entity => $id, actor => $alice, version => $v, name => "todo $id",
			deleted => { id => $id } };
	}
	for my $d (split /\n/, su("SELECT todo_id FROM intracker_data.todo_dependencies WHERE project_id = '$P'"))
	{
		push @expect, { type => 'dependency.removed', entity => $d, actor => $alice, version => undef, name => "dependency of $d",
			deleted => { todo_id => $d } };
	}
	my $sessions = su("SELECT count(*) FROM intracker_data.sessions WHERE project_id = '$P'")
	  + su("SELECT count(*) FROM intracker_data.features WHERE project_id = '$P'");
	is($sessions, 0, 'project.deleted: the project has no features or sessions left (not expected below)');
	note('project.deleted: expecting ' . scalar(@expect) . ' events');
	check_action(
		label     => 'DELETE FROM intracker.projects',
		run       => sub { as($alice, "DELETE FROM intracker.projects WHERE id = '$P'") },
		unordered => 1,
		reader    => 'admin',
		expect    => \@expect);
	my ($ret, $out, $err) = psql_as($node, $db, $alice, "SELECT FROM intracker.events_since(0, '$P')", via => 'jwt');
	is_sqlstate($err, 'PT404', 'events_since for the deleted project: PT404 for its former owner', $out);
}

##############################################################################
# 6. Everything the listeners heard
##############################################################################

wait_published($last_seq);
my $end = max_seq();
wait_notified($L, $L_from, $end, 'intracker');
{
	my @seqs = map { $_->[0] } @{ received($L, 'intracker') };
	is_deeply(\@seqs, [ $L_from .. $end ],
		"channel intracker: seqs $L_from..$end, each once, strictly increasing and gap-free");
	my @bad = grep { !defined $seqs[$_] || ($_ > 0 && $seqs[$_] != $seqs[ $_ - 1 ] + 1) } 0 .. $#seqs;
	is(scalar @bad, 0, 'channel intracker: every seq is the previous one + 1')
	  or diag('breaks at positions ' . join(', ', @bad[0 .. ($#bad > 9 ? 9 : $#bad)]));

	my @p_seqs = map { $_->[0] } @{ received($L, channel_of($P)) };
	my @p_want = split /,/, su("SELECT string_agg(seq::text, ',' ORDER BY seq) FROM intracker_data.events WHERE project_id = '$P' AND seq >= $L_from"
		  . " AND type NOT LIKE 'notification.%'");
	is_deeply(\@p_seqs, \@p_want, "the project's channel carried exactly its events (notifications go to their users' channels), in seq order");

	my @z_want = split /,/, (su("SELECT string_agg(seq::text, ',' ORDER BY seq) FROM intracker_data.events WHERE project_id = '$Z' AND seq >= $z_listen_from") // '');
	$zl->{wait_for}->(scalar @z_want, 60);
	my @z_got = @{ received($zl, channel_of($Z)) };
	is_deeply([ map { $_->[0] } @z_got ], \@z_want, "another project's channel carried exactly that project's events, in seq order");
	cmp_ok(scalar @z_want, '>=', 50, 'the other project had events to hear');
	my @z_foreign = grep { (eval { decode_json($_->[1])->{project_id} } // '') ne $Z } @z_got;
	is(scalar @z_foreign, 0, "every payload on another project's channel names that project");

	my %z_seq = map { $_ => 1 } @z_want;
	my @leak = grep { $z_seq{ $_ } } @p_seqs;
	is(scalar @leak, 0, "the project's channel carried none of the other project's events");
}

$L->{stop}->();
$zl->{stop}->();
$_->quit for $s_alice, $s_bob, $s_carol;

# No publisher error along the way.
is(su("SELECT coalesce(last_error, '') FROM intracker.worker_status"), '', 'the publisher reported no error');
my $log = slurp_file($node->logfile);
my @warnings = $log =~ /^.*WARNING:.*intracker publisher.*$/mg;
is(scalar @warnings, 0, 'the server log has no publisher WARNING') or diag(join("\n", @warnings));

diag(sprintf('006_events_delivery: %.1f s', tv_interval($t_start)));
done_testing();
