# test/t/PublisherTest.pm — helpers of the tests of the publisher's
# operation (008_publisher_ops.pl, 032_many_databases.pl): teams and todos
# made by the superuser acting as a user, the event log read back and
# checked (gap-free seq, each todo's event exactly once), notifications
# heard by a listener (IntrackerTest::start_listener) up to a sentinel,
# the server log searched, the background processes' pids.
#
#   poll_for / poll_ok($node, $db, $query, ...)   wait for 't' (bounded / ok())
#   log_size, log_since, log_count, wait_for_count   the server log
#   backend_pid($node, $type [, $db]), publisher_pid, supervisor_pid
#   status_of($node, $db)               worker_status as a hash
#   wait_published($node, $db)          the publisher drained the backlog
#   new_team, add_todos                 a user's project, todos "$tag-1" ..
#   events_after, max_seq, seq_gaps, tag_problems, events_ok   the event log
#   notifications, await_sentinel       what a listener heard

package PublisherTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use IntrackerTest;

our @EXPORT = qw(poll_for poll_ok log_size log_since log_count wait_for_count
  backend_pid publisher_pid supervisor_pid status_of describe wait_published
  new_team add_todos events_after max_seq seq_gaps tag_problems events_ok
  notifications await_sentinel);

# Poll $query in $db until it prints 't', for at most $seconds; returns
# whether it did.  (poll_query_until waits the framework's full timeout; this
# is for conditions a bug may keep false forever.)
sub poll_for
{
	my ($node, $db, $query, $seconds) = @_;
	my $until = Time::HiRes::time() + $seconds;
	my $out = '';
	while (1)
	{
		my ($ret, $o) = $node->psql($db, $query);
		$out = $o // '';
		return 1 if $ret == 0 && $out eq 't';
		last if Time::HiRes::time() > $until;
		usleep(100_000);
	}
	note("poll_for gave up after ${seconds}s (last output '$out'): $query");
	return 0;
}

sub poll_ok
{
	my ($node, $db, $query, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	return ok($node->poll_query_until($db, $query), $name);
}

sub log_size { return -s $_[0]->logfile }

sub log_since
{
	my ($node, $offset) = @_;
	return slurp_file($node->logfile, $offset);
}

# Occurrences of $re in the server log after $offset.
sub log_count
{
	my ($node, $offset, $re) = @_;
	my $log = log_since($node, $offset);
	my $n = () = $log =~ /$re/g;
	return $n;
}

# Wait (at most $seconds) until $re occurs $n times after $offset; returns
# the count reached.
sub wait_for_count
{
	my ($node, $offset, $re, $n, $seconds) = @_;
	my $until = Time::HiRes::time() + ($seconds // $PostgreSQL::Test::Utils::timeout_default);
	my $got;
	while (1)
	{
		$got = log_count($node, $offset, $re);
		return $got if $got >= $n || Time::HiRes::time() > $until;
		usleep(100_000);
	}
}

# The pids of the background processes of $type (of database $db when
# given), comma-separated.
sub backend_pid
{
	my ($node, $type, $db) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(string_agg(pid::text, ',' ORDER BY pid), '') FROM pg_stat_activity WHERE backend_type = '$type'"
		  . (defined $db ? " AND datname = '$db'" : ''));
}
sub publisher_pid  { return backend_pid($_[0], 'intracker publisher', $_[1]) }
sub supervisor_pid { return backend_pid($_[0], 'intracker supervisor') }

# worker_status read in $db as a hash (pid, state, database, ...); NULL is ''.
sub status_of
{
	my ($node, $db) = @_;
	my $h = $node->query_hash($db,
		'SELECT __COLUMNS__ FROM intracker.worker_status',
		qw(pid state database last_published_seq backlog last_error));
	return $h;
}

sub describe { my ($h) = @_; return join(', ', map { "$_=$h->{$_}" } sort keys %$h) }

# Wait until the publisher published everything ($db is its database).
sub wait_published
{
	my ($node, $db, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	return poll_ok($node, $db,
		"SELECT backlog = 0 AND state = 'idle' FROM intracker.worker_status",
		$name // "$db: the publisher published the backlog");
}

# A user and a project it owns, created by the superuser acting as the user
# (2 events: project.created, member.added).
sub new_team
{
	my ($node, $db, $key) = @_;
	my $ids  = create_users($node, $db, $key => 'human');
	my $user = $ids->{$key};
	my $project = safe_psql_as($node, $db, $user,
		"SELECT id FROM intracker.create_project(" . q_lit("Project $key") . ")",
		via => 'superuser');
	return { user => $user, project => $project };
}

# $n todos "$tag-1" .. "$tag-$n" in one transaction: one todo.created each.
sub add_todos
{
	my ($node, $db, $team, $tag, $n) = @_;
	safe_psql_as($node, $db, $team->{user},
		"SELECT count(*) FROM (SELECT intracker.create_todo('$team->{project}', '$tag-' || g)"
		  . " FROM generate_series(1, $n) g) s",
		via => 'superuser');
	return;
}

# Published events after seq $after, read with events_since() (so it also
# publishes on read where no publisher serves the database), as [seq, type,
# entity_id, title of a created todo or ''].
sub events_after
{
	my ($node, $db, $after) = @_;
	my @rows;
	while (1)
	{
		my $out = $node->safe_psql($db,
			"SELECT seq, type, entity_id, coalesce(changes -> 'title' ->> 'new', '')"
			  . " FROM intracker.events_since($after, NULL, 10000)");
		my @page = map { [ split /\|/, $_, 4 ] } grep { $_ ne '' } split /\n/, $out;
		push @rows, @page;
		last if @page < 10000;
		$after = $page[-1][0];
	}
	return \@rows;
}

sub max_seq
{
	my ($node, $db) = @_;
	return $node->safe_psql($db, 'SELECT coalesce(max(seq), 0) FROM intracker_data.events');
}

# '' when the rows' seqs are exactly $after+1, $after+2, ...; otherwise what
# is wrong.
sub seq_gaps
{
	my ($rows, $after) = @_;
	my $want = $after;
	for my $r (@$rows)
	{
		$want++;
		return "expected seq $want, got $r->[0] (seqs: "
		  . join(',', map { $_->[0] } @$rows) . ')'
		  if $r->[0] != $want;
	}
	return '';
}

# '' when todo.created events with titles "$tag-1" .. "$tag-$n" each occur
# exactly once (and no other "$tag-*"); otherwise what is wrong.
sub tag_problems
{
	my ($rows, $tag, $n) = @_;
	my %count;
	$count{ $_->[3] }++
	  for grep { $_->[1] eq 'todo.created' && $_->[3] =~ /^\Q$tag\E-\d+$/ } @$rows;
	my @bad;
	for my $i (1 .. $n)
	{
		my $c = delete $count{"$tag-$i"} // 0;
		push @bad, "$tag-$i x$c" if $c != 1;
	}
	push @bad, map { "unexpected $_ x$count{$_}" } sort keys %count;
	return join(', ', @bad);
}

# The standard check of a stretch of events: seq gap-free after $after and,
# with $tag, each of the $n todos exactly once; with $total, that many rows.
sub events_ok
{
	my ($label, $rows, %o) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is(seq_gaps($rows, $o{after}), '', "$label: seq gap-free after $o{after}");
	is(scalar @$rows, $o{total}, "$label: $o{total} events") if defined $o{total};
	is(tag_problems($rows, $o{tag}, $o{n}), '', "$label: each of the $o{n} '$o{tag}' todos has exactly one todo.created")
	  if defined $o{tag};
	return;
}

# Listener notifications as [channel, payload, seq] (sentinels excluded).
sub notifications
{
	my ($listener) = @_;
	return [ map { [ $_->[1], $_->[2], ($_->[2] =~ /"seq"\s*:\s*(\d+)/ ? $1 : '') ] }
		  grep { $_->[2] !~ /^sentinel-/ } @{ $listener->{lines}->() } ];
}

# NOTIFY a sentinel on $channel and wait until the listener got it: every
# notification committed before it has arrived by then (commit order).
my $sentinels = 0;

sub await_sentinel
{
	my ($node, $db, $listener, $channel) = @_;
	my $tag = 'sentinel-' . ++$sentinels;
	$node->safe_psql($db, qq{NOTIFY "$channel", '$tag'});
	my $until = Time::HiRes::time() + $PostgreSQL::Test::Utils::timeout_default;
	until (grep { $_->[2] eq $tag } @{ $listener->{lines}->() })
	{
		die "listener never received $tag" if Time::HiRes::time() > $until;
		usleep(10_000);
	}
	return notifications($listener);
}

1;
