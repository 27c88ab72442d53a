# 023_fanout_user_locks.pl — no lock a user can hold stalls publication or
# delivery for everyone (0.6).
#
# In 0.5 the publisher's fan-out inserted deliveries whose foreign keys
# locked the project, webhook and todo rows they named (FOR KEY SHARE):
# an editor's open transaction holding SELECT ... FOR UPDATE on a project
# row, or an owner's uncommitted delete_webhook(), made the publisher wait,
# and with it every project's NOTIFYs and deliveries.  The deliverer, too,
# recorded results with UPDATEs that would wait for a delivery row a user's
# delete held.
#
# One server preloads intracker with intracker.database = 'tracker'; the
# webhooks post to the HTTP sink (test/helpers/http_sink.c) on 127.0.0.1
# (intracker.http_allow_private_networks on).  Ann owns projects A and B,
# Bob edits A.  A has webhooks a1 (/ok/a1) and a2 (/slow/1500/a2, an
# endpoint that answers after 1.5 s); B has b (/ok/b).  Every API call is
# made by a non-superuser acting as an intracker user.
#
#   1. Bob's open transaction holds SELECT ... FROM intracker.projects
#      WHERE id = A FOR UPDATE.  Meanwhile Ann changes a todo of A and
#      creates one in B (neither waits for Bob): both events are published
#      and delivered (to a1 and b) while Bob's transaction is still open.
#   2. a2's request for an event is in flight when Ann calls
#      delete_webhook(a2) in a transaction she keeps open (it deletes a2's
#      deliveries, so it holds their rows).  The answer comes back and the
#      deliverer records it; then Bob changes a todo of A (the publisher
#      queues a delivery for a2, which it still sees) and creates a todo in
#      B: both are delivered (to a1 and b) while Ann's transaction is still
#      open.  After her COMMIT, a2's deliveries are all gone (the ones the
#      publisher queued meanwhile included) and nothing more is queued for
#      it.  (While her transaction is open, the delivery whose result could
#      not be recorded is pending as far as the deliverer can see: it may go
#      out again, at most once a second: at-least-once.)
#
# Polls with generous timeouts guard against hangs; on 0.5 the deliveries
# of part 1 and 2 never arrive while the lock is held, and the polls fail.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use IntrackerTest;

my $db = 'tracker';
my $WAIT = 60;    # seconds: a hang guard; the deliveries take well under one

my $sink = start_http_sink(log => 1);
my $node = delivery_node('user_locks', $db);

sub su { return $node->safe_psql($db, $_[0]) }

my $u = create_users($node, $db, ann => 'human', bob => 'human');
my ($ann, $bob) = @$u{qw(ann bob)};

sub as { my ($who, $sql) = @_; return safe_psql_as($node, $db, $who, $sql) }

sub requests_to
{
	my ($path) = @_;
	return scalar grep { $_->{path} eq $path } @{ $sink->{requests}->() };
}

# Wait (at most $WAIT s) until the sink has $n requests to $path; returns how many it has.
sub wait_requests
{
	my ($path, $n) = @_;
	my $until = Time::HiRes::time() + $WAIT;
	usleep(20_000) while requests_to($path) < $n && Time::HiRes::time() < $until;
	return requests_to($path);
}

# Is the session's transaction still open (and so its locks held)?
sub in_transaction
{
	my ($session) = @_;
	return su("SELECT state FROM pg_stat_activity WHERE pid = " . $session->pid) eq 'idle in transaction';
}

my $A = as($ann, "SELECT id FROM intracker.create_project('A')");
my $B = as($ann, "SELECT id FROM intracker.create_project('B')");
as($ann, "SELECT FROM intracker.add_member('$A', '$bob', 'editor')");
my $todo_a = as($ann, "SELECT id FROM intracker.create_todo('$A', 'a todo of A')");
wait_until_published($node, $db);
my $a1 = as($ann, "SELECT id FROM intracker.create_webhook('$A', '$sink->{url}/ok/a1', '{todo.*}')");
my $a2 = as($ann, "SELECT id FROM intracker.create_webhook('$A', '$sink->{url}/slow/1500/a2', '{todo.*}')");
my $b  = as($ann, "SELECT id FROM intracker.create_webhook('$B', '$sink->{url}/ok/b', '{todo.*}')");

##############################################################################
# 1. An editor holds the project row FOR UPDATE
##############################################################################

my $bob_session = IntrackerTest::Session->new($node, $db, name => 'bob', user => $bob);
$bob_session->query_safe('BEGIN');
is($bob_session->query_safe("SELECT id FROM intracker.projects WHERE id = '$A' FOR UPDATE"), $A,
	'Bob (editor) holds project A\'s row FOR UPDATE in an open transaction');

my $ann_session = IntrackerTest::Session->new($node, $db, name => 'ann', user => $ann);
$ann_session->send("UPDATE intracker.todos SET title = 'changed while A is locked' WHERE id = '$todo_a'");
is($ann_session->wait_until_blocked($WAIT), 'done', 'Ann changes a todo of A without waiting for Bob');
$ann_session->wait_result;
as($ann, "SELECT FROM intracker.create_todo('$B', 'a todo of B')");

is(wait_requests('/ok/b', 1), 1, 'B\'s event is delivered while Bob holds A\'s row');
is(wait_requests('/ok/a1', 1), 1, 'A\'s event is delivered too');
ok(in_transaction($bob_session), '... and Bob\'s transaction was open all along');
$bob_session->query_safe('COMMIT');

##############################################################################
# 2. An owner's uncommitted delete_webhook, with a request of it in flight
##############################################################################

as($bob, "UPDATE intracker.todos SET title = 'for a2' WHERE id = '$todo_a'");
is(wait_requests('/slow/1500/a2', 2), 2, 'a2\'s request for the next event is in flight (the sink has it)');
$ann_session->query_safe('BEGIN');
$ann_session->query_safe("SELECT FROM intracker.delete_webhook('$a2')");
# The answer comes back and the deliverer records (skips) it.
$node->poll_query_until($db, 'SELECT in_flight = 0 FROM intracker.deliverer_status')
  or diag('still in flight: ' . su('SELECT * FROM intracker.deliverer_status'));

my $bob_a = IntrackerTest::Session->new($node, $db, name => 'bob again', user => $bob);
$bob_a->send("UPDATE intracker.todos SET title = 'while a2 is being deleted' WHERE id = '$todo_a'");
is($bob_a->wait_until_blocked($WAIT), 'done', 'Bob changes a todo of A without waiting for Ann');
$bob_a->wait_result;
as($ann, "SELECT FROM intracker.create_todo('$B', 'another todo of B')");

is(wait_requests('/ok/b', 2), 2, 'B\'s event is delivered while Ann\'s delete_webhook is uncommitted');
is(wait_requests('/ok/a1', 3), 3, 'A\'s event is delivered to a1 too');
ok(in_transaction($ann_session), '... and Ann\'s transaction was open all along');
$ann_session->query_safe('COMMIT');

ok($node->poll_query_until($db, "SELECT count(*) = 0 FROM intracker_data.deliveries WHERE webhook_id = '$a2'"),
	'after the COMMIT a2 has no deliveries left, the ones queued meanwhile included');
as($ann, "SELECT FROM intracker.create_todo('$A', 'after the delete')");
is(wait_requests('/ok/a1', 4), 4, 'a later event of A reaches a1');
is(su("SELECT count(*) FROM intracker_data.deliveries WHERE webhook_id = '$a2'"), 0, '... and nothing is queued for a2');

$bob_a->quit;
$bob_session->quit;
$ann_session->quit;
my @warnings = slurp_file($node->logfile) =~ /^(.*WARNING:\s+intracker (?:deliverer|publisher): .*)$/mg;
is(join("\n", @warnings), '', 'no round of the deliverer or the publisher failed');
is($sink->{stop}->(), 0, 'the sink exited cleanly');
$node->stop;
done_testing();
