# test/t/009_events_edges.pl — corners of the publisher the other event
# tests do not reach:
#
#  1. A prepared transaction's events: the committing backend of COMMIT
#     PREPARED wrote no events itself, so only the utility hook wakes the
#     publisher.  Nothing else commits meanwhile, so if the hook did not
#     wake it, the event would wait for the next commit and the listener
#     would time out.
#  2. The queue of rejected writes (shared memory, 1,024 entries) while the
#     publisher cannot commit: rejected writes wait there (nothing is removed
#     before it is recorded), the ones that do not fit are counted in
#     worker_status.rejected_writes_dropped, and once publishing works again
#     every queued one becomes exactly one conflict.rejected event.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP ();
use IntrackerTest;

my $node = new_node('edges');
$node->append_conf('postgresql.conf', "intracker.database = 'tracker'\nmax_prepared_transactions = 4\n");
$node->restart;
install_extension($node, 'tracker');
create_test_roles($node);
$node->poll_query_until('tracker', "SELECT state = 'idle' FROM intracker.worker_status")
  or die 'the publisher did not become idle';

my ($owner) = split /\n/, $node->safe_psql('tracker',
	"SELECT id FROM intracker.create_user('owner\@example.com', 'Owner')");
my $project = safe_psql_as($node, 'tracker', $owner, "SELECT id FROM intracker.create_project('Edges')");
my $todo = safe_psql_as($node, 'tracker', $owner,
	"SELECT id FROM intracker.create_todo('$project', 'Contended')");
$node->poll_query_until('tracker', "SELECT backlog = 0 FROM intracker.worker_status")
  or die 'the setup events were not published';

#
# 1. COMMIT PREPARED wakes the publisher.
#
{
	my $listener = start_listener($node, 'tracker', 'intracker');
	safe_psql_as($node, 'tracker', $owner, qq{
BEGIN;
SELECT version FROM intracker.update_todo('$todo', '{"title": "Prepared"}', 1);
PREPARE TRANSACTION 'edges_1';
});
	is($listener->{wait_for}->(1, 2), 0, 'a prepared (not yet committed) transaction\'s event is not published');
	$node->safe_psql('tracker', "COMMIT PREPARED 'edges_1'");
	is($listener->{wait_for}->(1), 1, 'COMMIT PREPARED: the event arrives without any other commit');
	my $payload = JSON::PP::decode_json($listener->{lines}->()->[0][2]);
	is_deeply([ @$payload{qw(type entity_id version)} ], [ 'todo.updated', $todo, 2 ],
		'it is the prepared transaction\'s todo.updated, version 2');
	$listener->{stop}->();
}

#
# 2. Rejected writes queue up while the publisher cannot commit.
#
my $rejections = 1100;    # more than the 1,024 the queue holds
$node->safe_psql('tracker',
	"ALTER TABLE intracker_data.events ADD CONSTRAINT edges_block CHECK (seq < 0) NOT VALID");
# Something to publish, so that the publisher tries (and fails) a round.
safe_psql_as($node, 'tracker', $owner, "SELECT id FROM intracker.create_todo('$project', 'Blocked publication')");
$node->poll_query_until('tracker', "SELECT state = 'retrying after error' FROM intracker.worker_status")
  or die 'publishing did not fail as arranged';

# Each stale write fails with PT409; the block catches it, so one session
# makes all of them.
my $rejected = safe_psql_as($node, 'tracker', $owner, qq{
DO \$\$
DECLARE
    n integer := 0;
BEGIN
    FOR i IN 1 .. $rejections LOOP
        BEGIN
            PERFORM intracker.update_todo('$todo', '{"title": "Stale"}', 1);
        EXCEPTION WHEN SQLSTATE 'PT409' THEN
            n := n + 1;
        END;
    END LOOP;
    RAISE NOTICE 'rejected %', n;
END
\$\$;
SELECT 'done';
});
is($rejected, 'done', "$rejections stale writes were made");
is($node->safe_psql('tracker', 'SELECT rejected_writes_dropped FROM intracker.worker_status'),
	$rejections - 1024, 'the writes that found the queue full are counted as dropped');
is($node->safe_psql('tracker', "SELECT count(*) FROM intracker_data.events WHERE type = 'conflict.rejected'"),
	0, 'none is recorded while publishing fails');

$node->safe_psql('tracker', 'ALTER TABLE intracker_data.events DROP CONSTRAINT edges_block');
$node->poll_query_until('tracker', "SELECT backlog = 0 AND state = 'idle' FROM intracker.worker_status")
  or die 'the backlog did not drain';
# The queue drains in the rounds after the backlog: wait for all of it.
$node->poll_query_until('tracker',
	"SELECT count(*) = 1024 FROM intracker_data.events WHERE type = 'conflict.rejected'")
  or diag('conflict.rejected events: '
	  . $node->safe_psql('tracker', "SELECT count(*) FROM intracker_data.events WHERE type = 'conflict.rejected'"));
is($node->safe_psql('tracker', qq{
SELECT count(*) || ' ' || count(DISTINCT seq) || ' ' || bool_and(entity_id = '$todo')
       || ' ' || bool_and(changes->>'attempted_version' = '1') || ' ' || bool_and(actor = '$owner')
  FROM intracker_data.events WHERE type = 'conflict.rejected'}),
	'1024 1024 true true true',
	'every queued rejected write became exactly one conflict.rejected event (todo, attempted version 1, actor)');
is($node->safe_psql('tracker',
		'SELECT max(seq) = count(*) AND min(seq) = 1 FROM intracker_data.events'),
	't', 'the sequence stayed gap-free through the failed rounds');
like($node->safe_psql('tracker', 'SELECT last_error FROM intracker.worker_status'),
	qr/edges_block/, 'worker_status kept the error that blocked publication');

$node->stop;
done_testing();
