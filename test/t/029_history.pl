# 029_history.pl — the lasting history with the real publisher (issue 16);
# test/pgtap/history.sql has the rules that fit in one transaction.
#
#   A. The publisher records each published change in the history, in
#      order, as it publishes.
#   B. intracker.event_retention prunes the event log, not the history;
#      intracker.history_retention (default forever) prunes the history,
#      and refuses values that are neither 'forever' nor an interval.
#   C. pg_dump / pg_restore keeps the history whole (after the event log
#      forgot it), and the restore records nothing twice.
#
# No timing is asserted; every wait is a poll.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IntrackerTest;

my $db = 'tracker';
my $node = served_node('history', $db);

my $u = create_users($node, $db, ann => 'human', bob => 'agent');
my ($ann, $bob) = @$u{qw(ann bob)};
sub su { return $node->safe_psql($db, $_[0]) }
sub as { my ($who, $sql) = @_; return safe_psql_as($node, $db, $who, $sql, via => 'jwt') }

##############################################################################
# A. Recorded at publication
##############################################################################

my $P = as($ann, "SELECT id FROM intracker.create_project('History')");
as($ann, "SELECT FROM intracker.add_member('$P', '$bob', 'viewer')");
my $todo = as($ann, "SELECT id FROM intracker.create_todo('$P', 'v1')");
as($ann, "SELECT FROM intracker.update_todo('$todo', jsonb_build_object('title', 'v' || $_), $_ - 1)") for 2 .. 30;
wait_until_published($node, $db);
is(su("SELECT count(*) FROM intracker_data.history WHERE entity_id = '$todo'"), '30',
	'the publisher recorded the todo\'s 30 changes');
is(su("SELECT count(*) FROM intracker_data.history h JOIN intracker_data.events e USING (seq)"
	  . " WHERE h.entity_id = '$todo' AND (h.type, h.version, h.changes) = (e.type, e.version, e.changes)"), '30',
	'... each as its event');
is(as($bob, "SELECT string_agg(version::text, ',') FROM intracker.history('$todo', 3)"), '30,29,28',
	'a viewer reads them, newest first');

##############################################################################
# B. Retention
##############################################################################

reload_setting($node, $db, 'intracker.event_retention', '1s');
# (the newest event always stays: it is where the numbering goes on)
ok($node->poll_query_until($db, "SELECT count(*) <= 1 FROM intracker_data.events WHERE entity_id = '$todo'"),
	'with event_retention 1 s, the publisher prunes the todo\'s events');
is(as($bob, "SELECT count(*) FROM intracker.history('$todo', 1000)"), '30', '... and its history stays whole');
is(as($bob, "SELECT changes #>> '{title,new}' FROM intracker.history('$todo') WHERE version = 1"), 'v1',
	'... back to its creation');

my ($rc, $out, $err) = $node->psql($db, "ALTER SYSTEM SET intracker.history_retention = 'a while'");
isnt($rc, 0, "history_retention 'a while' is refused");
like($err, qr/must be 'forever' or a positive interval/, '... saying what it must be');
($rc, $out, $err) = $node->psql($db, "ALTER SYSTEM SET intracker.history_retention = '-1 day'");
isnt($rc, 0, '... and a negative interval');

# A change recorded now outlives a short history retention's pruning of
# the old ones only if it is recent: set a retention that the 30 old
# changes have outlived (they are a few seconds old) but a new one has not.
sleep 2;
as($ann, "SELECT FROM intracker.update_todo('$todo', '{\"title\": \"recent\"}', 30)");
wait_until_published($node, $db);
reload_setting($node, $db, 'intracker.history_retention', '2s');
ok($node->poll_query_until($db, "SELECT count(*) < 31 FROM intracker_data.history WHERE entity_id = '$todo'"),
	'with history_retention 2 s, the publisher prunes old history');
reload_setting($node, $db, 'intracker.history_retention', undef);
is(su("SELECT current_setting('intracker.history_retention')"), 'forever', 'the default is forever');
my $left = su("SELECT count(*) FROM intracker_data.history WHERE entity_id = '$todo'");
cmp_ok($left, '>=', 1, "... and what is left ($left changes) stays");
reload_setting($node, $db, 'intracker.event_retention', undef);

##############################################################################
# C. Dump and restore
##############################################################################

my $dump = PostgreSQL::Test::Utils::tempdir() . '/tracker.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr($db) ], 'pg_dump -Fc');
su('CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('restored'), $dump ], 'pg_restore');
my $history_sql = q{SELECT string_agg(concat_ws(' ', seq, type, entity_id, version, changes, occurred_at), ',' ORDER BY seq)
  FROM intracker_data.history};
is($node->safe_psql('restored', $history_sql), su($history_sql), 'the history comes back whole, the pruned events\' too');
$node->safe_psql('restored', 'SELECT intracker_data.publish_pending_events()');
is($node->safe_psql('restored', $history_sql), su($history_sql), '... and publishing in the restored database records nothing twice');

$node->stop;
done_testing();
