# test/t/020_event_limits.pl — no single row, project or webhook stalls
# another project's events, and no reader waits for another (issue 12,
# items 3 and 5).
#
#  1. A value too long for an event (a 1 MB description, a huge tags list)
#     is shortened in the event's changes with "truncated": true; the event
#     and its webhook delivery stay small, and the row keeps the value.
#  2. An event that alone cannot be published (a constraint rejects it) or
#     fanned out (its webhook delivery is rejected) is set aside in
#     intracker_data.dead_events with its error, counted by worker_status;
#     the events after it, of every project, are published in order by the
#     same publisher.  0.5 retried the batch forever and published nothing
#     after it, for any project.  intracker.requeue_dead_events() (admins
#     only) puts it back once the cause is gone.
#  3. A failure of every event (the constraint rejects any new one) is not
#     the events' fault: nothing is set aside, publication is retried.
#  4. Where no publisher runs, a reader whose open transaction published on
#     read does not make another reader's events_since() wait (0.5: it
#     waited until the first transaction ended), and a reader still reads
#     the published events when pending ones cannot be published.
#
# Acting users are non-superusers (act_as on tracker_admin).  No timing is
# asserted; every wait is a poll.

use strict;
use warnings;
use utf8;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use IntrackerTest;

my $db   = 'tracker';
my $node = new_node('limits');
install_extension($node, $db);
$node->safe_psql('postgres', 'CREATE DATABASE plain');
$node->safe_psql('plain', 'CREATE EXTENSION intracker');
create_test_roles($node);
$node->append_conf('postgresql.conf', "intracker.database = '$db'\n");
$node->restart;
$node->poll_query_until($db, "SELECT state = 'idle' FROM intracker.worker_status")
  or die 'the publisher did not become idle';

sub su { return $node->safe_psql($db, $_[0]) }
sub as { my ($who, $sql) = @_; return safe_psql_as($node, $db, $who, $sql) }

my ($ann) = split /\n/, su("SELECT id FROM intracker.create_user('ann\@example.com', 'Ann')");
my $pa = as($ann, "SELECT id FROM intracker.create_project('Alpha')");
my $pb = as($ann, "SELECT id FROM intracker.create_project('Beta')");
my $publisher = su('SELECT pid FROM intracker.worker_status');

sub wait_drained
{
	my ($what) = @_;
	$node->poll_query_until($db, "SELECT backlog = 0 AND state = 'idle' FROM intracker.worker_status")
	  or diag("$what: the outbox did not drain");
}
sub titles_published
{
	my ($project) = @_;
	return su(qq{
SELECT string_agg(e.changes #>> '{title,new}', ',' ORDER BY e.seq) FROM intracker_data.events e
 WHERE e.type = 'todo.created' AND e.project_id = '$project'});
}

#
# 1. Long values are shortened in events.
#
{
	my $hook = as($ann, "SELECT id FROM intracker.create_webhook('$pa', 'https://hooks.example.com/alpha')");
	my $todo = as($ann, "SELECT id FROM intracker.create_todo('$pa', 'Long one', description => 'short')");
	as($ann, "SELECT version FROM intracker.update_todo('$todo', jsonb_build_object('description', repeat('é', 500000),"
		  . " 'tags', (SELECT to_jsonb(array_agg('tag ' || i)) FROM generate_series(1, 2000) i)), 1)");
	wait_drained('long values');
	my $ch = decode_json(su("SELECT changes FROM intracker_data.events WHERE entity_id = '$todo' AND type = 'todo.updated'"));
	my $new = $ch->{description}{new};
	ok($ch->{description}{truncated} && $ch->{description}{old} eq 'short',
		'a 1 MB description: the event says "truncated", the short old value is whole');
	ok(length($new) <= 2049 && $new =~ /^é+\x{2026}$/,
		'the new value keeps its first 4,096 bytes of whole characters and ends with an ellipsis ('
		  . length($new) . ' characters)');
	ok($ch->{tags}{truncated} && !defined $ch->{tags}{new} && ref $ch->{tags}{old} eq 'ARRAY',
		'a tags list too long for an event is null there, with "truncated", the old one whole');
	cmp_ok(su("SELECT octet_length(body) FROM intracker_data.deliveries WHERE webhook_id = '$hook'"
			  . " AND event_type = 'todo.updated'"), '<', 20000, 'the webhook delivery of that event is small');
	is(su("SELECT length(description) FROM intracker_data.todos WHERE id = '$todo'"), '500000',
		'the row keeps the whole description');
	as($ann, "SELECT intracker.delete_webhook('$hook')");
}

#
# 2. One event that cannot be published, then one that cannot be fanned
#    out: set aside, the rest published.
#
{
	my $base = su('SELECT max(seq) FROM intracker_data.events');
	su(q{ALTER TABLE intracker_data.events ADD CONSTRAINT test_no_poison
	        CHECK (changes::text NOT LIKE '%POISON%') NOT VALID});
	as($ann, "SELECT id FROM intracker.create_todo('$pa', 'A before');"
		  . "SELECT id FROM intracker.create_todo('$pa', 'A POISON');"
		  . "SELECT id FROM intracker.create_todo('$pb', 'B after 1');"
		  . "SELECT id FROM intracker.create_todo('$pa', 'A after');"
		  . "SELECT id FROM intracker.create_todo('$pb', 'B after 2');");
	$node->poll_query_until($db, "SELECT dead_events = 1 AND backlog = 0 FROM intracker.worker_status")
	  or diag('the poisoned event was not set aside');
	is(titles_published($pb), 'B after 1,B after 2', 'the other project\'s events after it are published');
	like(titles_published($pa), qr/A before,A after$/, 'and its own project\'s, in order, without it');
	is(su("SELECT count(*) = max(seq) - min(seq) + 1 FROM intracker_data.events WHERE seq > $base"), 't',
		'the log stays gap-free');
	is(su("SELECT type || ' ' || (changes #>> '{title,new}') || ' ' || sqlstate || ' ' || (error LIKE '%test_no_poison%')"
		  . " FROM intracker_data.dead_events"),
		'todo.created A POISON 23514 true', 'intracker_data.dead_events holds it with its SQLSTATE and error');
	is(su('SELECT pid FROM intracker.worker_status'), $publisher, 'the same publisher did it');

	# Requeued once the cause is gone: published after the others.
	my ($rc, $out, $err) = psql_as($node, $db, $ann, 'SELECT intracker.requeue_dead_events()', via => 'jwt');
	is(sqlstate_of($err), '42501', 'a plain user may not requeue dead events (42501)');
	su('ALTER TABLE intracker_data.events DROP CONSTRAINT test_no_poison');
	is(safe_psql_as($node, $db, undef, 'SELECT intracker.requeue_dead_events()', via => 'none'), '1',
		'an admin requeues it');
	wait_drained('requeued');
	like(titles_published($pa), qr/A before,A after,A POISON$/, 'it is published, after the others');
	is(su('SELECT dead_events FROM intracker.worker_status'), '0', 'no dead event left');

	# Fan-out: the webhook's delivery of one event is rejected.
	my $hook = as($ann, "SELECT id FROM intracker.create_webhook('$pa', 'https://hooks.example.com/alpha2')");
	su(q{ALTER TABLE intracker_data.deliveries ADD CONSTRAINT test_no_poison_body
	        CHECK (body NOT LIKE '%VENOM%') NOT VALID});
	as($ann, "SELECT id FROM intracker.create_todo('$pa', 'A VENOM');"
		  . "SELECT id FROM intracker.create_todo('$pb', 'B after 3');"
		  . "SELECT id FROM intracker.create_todo('$pa', 'A after 2');");
	$node->poll_query_until($db, "SELECT dead_events = 1 AND backlog = 0 FROM intracker.worker_status")
	  or diag('the event whose delivery fails was not set aside');
	like(titles_published($pb), qr/,B after 3$/, 'an event whose webhook delivery fails: the others are published');
	is(su("SELECT count(*) FROM intracker_data.deliveries WHERE webhook_id = '$hook' AND body LIKE '%A after 2%'"), '1',
		'and fanned out');
	is(su("SELECT changes #>> '{title,new}' FROM intracker_data.dead_events"), 'A VENOM', 'it is the one set aside');
	su('ALTER TABLE intracker_data.deliveries DROP CONSTRAINT test_no_poison_body');
	su('DELETE FROM intracker_data.dead_events');
	as($ann, "SELECT intracker.delete_webhook('$hook')");
}

#
# 3. Every event fails: nothing is the event's fault.
#
{
	my $off = -s $node->logfile;
	my $base = su('SELECT max(seq) FROM intracker_data.events');
	su("ALTER TABLE intracker_data.events ADD CONSTRAINT test_reject_all CHECK (seq <= $base) NOT VALID");
	as($ann, "SELECT id FROM intracker.create_todo('$pa', 'All 1'); SELECT id FROM intracker.create_todo('$pb', 'All 2');");
	$node->wait_for_log(qr/intracker publisher: .*test_reject_all/, $off);
	$node->poll_query_until($db, "SELECT state = 'retrying after error' FROM intracker.worker_status")
	  or diag('the publisher does not say it retries');
	is(su('SELECT dead_events || \' \' || backlog FROM intracker.worker_status'), '0 2',
		'a failure of every event sets nothing aside: both wait in the outbox');
	su('ALTER TABLE intracker_data.events DROP CONSTRAINT test_reject_all');
	wait_drained('after the global failure');
	is(su("SELECT count(*) FROM intracker_data.events WHERE seq > $base"), '2', 'then both are published');
}

#
# 4. Readers publishing on read, where no publisher runs (database plain).
#
{
	$node->safe_psql('plain', "SELECT intracker.create_user('ann\@example.com', 'Ann', user_id => '$ann')");
	my $pp = safe_psql_as($node, 'plain', $ann, "SELECT id FROM intracker.create_project('Plain')");
	my $first = IntrackerTest::Session->new($node, 'plain', name => 'first', user => $ann);
	my $second = IntrackerTest::Session->new($node, 'plain', name => 'second', user => $ann);
	$first->query_safe("BEGIN; SELECT count(*) FROM intracker.events_since(0);");
	safe_psql_as($node, 'plain', $ann, "SELECT id FROM intracker.create_todo('$pp', 'Written meanwhile')");
	$second->send('SELECT count(*) FROM intracker.events_since(0)');
	is($second->wait_until_blocked(30), 'done',
		'a reader does not wait for another reader\'s open transaction that published on read');
	my ($out, $err) = $second->wait_result;
	is($err, '', 'and reads without an error');
	$first->query_safe('COMMIT');
	is($second->query_safe("SELECT count(*) FILTER (WHERE changes #>> '{title,new}' = 'Written meanwhile')"
			. ' FROM intracker.events_since(0)'), '1',
		'once that transaction ended, the next read publishes what waited');

	# A pending event that cannot be published: readers still read.
	$node->safe_psql('plain', q{ALTER TABLE intracker_data.events ADD CONSTRAINT test_no_poison
	                              CHECK (changes::text NOT LIKE '%POISON%') NOT VALID});
	safe_psql_as($node, 'plain', $ann, "SELECT id FROM intracker.create_todo('$pp', 'POISON on read')");
	($out, $err) = $second->query('SELECT count(*) > 0 FROM intracker.events_since(0)');
	is($out, 't', 'a reader reads the published events when a pending one cannot be published');
	like($err, qr/WARNING:.*pending events were not published/, 'with a WARNING saying why');
	$first->quit;
	$second->quit;
}

done_testing();
