# 031_backup_pitr.pl — a physical backup, restored to a point in time
# (issue 17; README, "Backups").
#
# A server with WAL archiving runs intracker's worker and a webhook to a
# local sink whose endpoint is slow, so deliveries wait.  Under a
# steady write load (one todo per transaction) a base backup is taken
# (pg_basebackup), writes go on, a named restore point is made, and writes go
# on after it.  The backup is then restored and recovered to the restore
# point (recovery_target_name, archived WAL), promoted, and its worker
# started.  On the recovered server:
#
#   - every todo committed before the restore point is there, none after;
#   - the event log is gap-free (seq 1..N) and every event of a todo appears
#     once: the outbox, recovered with the pending events in it, is
#     published exactly once after recovery (no outbox id twice, none lost);
#   - the deliveries pending at the restore point are sent (at least once:
#     some may already have reached the sink from the old server).
#
# No timing is asserted; every wait is a poll.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use IntrackerTest;

my $db = 'tracker';
my $sink = start_http_sink(log => 1);
my $primary = new_node('primary', archiving => 1);
$primary->append_conf('postgresql.conf', <<"EOC");
intracker.database = '$db'
intracker.http_allow_private_networks = on
EOC
install_extension($primary, $db);
create_test_roles($primary);
$primary->restart;
$primary->poll_query_until($db, "SELECT state = 'idle' FROM intracker.worker_status")
  or BAIL_OUT('the publisher did not become idle');

my $u = create_users($primary, $db, ann => 'human');
my $ann = $u->{ann};
my $P = safe_psql_as($primary, $db, $ann, "SELECT id FROM intracker.create_project('Backed up')");
# A slow endpoint (2 s a request, one at a time per webhook): deliveries
# pile up, pending.
safe_psql_as($primary, $db, $ann, "SELECT FROM intracker.create_webhook('$P', '$sink->{url}/slow/2000/hook', '{todo.created}')");

# The load: one todo per transaction, numbered, until told to stop.
$primary->safe_psql($db, <<"SQL");
CREATE SCHEMA load;
CREATE TABLE load.control (stop boolean NOT NULL DEFAULT false, written integer NOT NULL DEFAULT 0);
INSERT INTO load.control DEFAULT VALUES;
CREATE PROCEDURE load.write(project uuid, who uuid) LANGUAGE plpgsql AS \$\$
DECLARE
    n integer := 0;
BEGIN
    PERFORM intracker.act_as(who);
    LOOP
        n := n + 1;
        PERFORM intracker.create_todo(project, 'w' || n);
        UPDATE load.control SET written = n;
        COMMIT;
        PERFORM intracker.act_as(who);
        EXIT WHEN (SELECT stop FROM load.control);
        PERFORM pg_sleep(0.005);
    END LOOP;
END
\$\$;
SQL
my ($out, $err) = ('', '');
my $writer = IPC::Run::start([ 'psql', '-X', '-q', '-d', $primary->connstr($db), '-c', "CALL load.write('$P', '$ann')" ],
	'<', '/dev/null', '>', \$out, '2>', \$err);
sub written { return $primary->safe_psql($db, 'SELECT written FROM load.control') }
$primary->poll_query_until($db, 'SELECT written >= 50 FROM load.control') or die "the writer does not write: $err";

# The base backup, under the load.
$primary->backup('base');
my $at_backup = written();
$primary->poll_query_until($db, "SELECT written >= $at_backup + 50 FROM load.control") or die 'the writer stopped';

# The point to recover to, and writes after it.  (The writer commits
# meanwhile: what the restore point keeps lies between the counts read
# just before and just after it.)
my $before_point = written();
$primary->safe_psql($db, "SELECT pg_create_restore_point('before_the_mistake')");
my $at_point = written();
$primary->poll_query_until($db, "SELECT written >= $at_point + 50 FROM load.control") or die 'the writer stopped';
$primary->safe_psql($db, 'UPDATE load.control SET stop = true');
$writer->finish;
is($err, '', 'the writer wrote without an error');
my $last = written();
$primary->safe_psql($db, 'SELECT pg_switch_wal()');
$primary->poll_query_until('postgres', "SELECT last_archived_wal IS NOT NULL AND last_failed_wal IS NULL FROM pg_stat_archiver")
  or die 'WAL is not archived';
cmp_ok($at_backup, '<', $at_point, "todos before the backup ($at_backup), before the restore point ($at_point), in all ($last)");
my $pending_at_end = $primary->safe_psql($db, "SELECT count(*) FROM intracker_data.deliveries WHERE state IN ('pending', 'failed')");
cmp_ok($pending_at_end, '>', 0, "deliveries were waiting on the old server ($pending_at_end)");
$primary->stop;

# Recover the backup to the restore point.
my $restored = PostgreSQL::Test::Cluster->new('restored');
$restored->init_from_backup($primary, 'base', has_restoring => 1);
$restored->append_conf('postgresql.conf', <<"EOC");
recovery_target_name = 'before_the_mistake'
recovery_target_action = 'promote'
EOC
$restored->start;
$restored->poll_query_until($db, 'SELECT NOT pg_is_in_recovery()') or die 'the restored server was not promoted';
# The endpoint answers at once from now on.
$restored->safe_psql($db, "UPDATE intracker_data.webhooks SET url = '$sink->{url}/ok/hook'");

my $recovered = $restored->safe_psql($db, q{SELECT count(*) FROM intracker_data.todos WHERE title ~ '^w[0-9]+$'});
my $max_n = $restored->safe_psql($db, q{SELECT max(substr(title, 2)::int) FROM intracker_data.todos WHERE title ~ '^w[0-9]+$'});
is($recovered, $max_n, "the todos recovered are w1..w$max_n, none missing");
ok($max_n >= $before_point && $max_n <= $at_point && $max_n < $last,
	"recovered up to the restore point ($before_point <= $max_n <= $at_point, of $last)");

ok($restored->poll_query_until($db, q{SELECT backlog = 0 AND state = 'idle' FROM intracker.worker_status}),
	'the restored publisher publishes the recovered outbox');
is($restored->safe_psql($db, 'SELECT count(*) = max(seq) AND min(seq) = 1 FROM intracker_data.events'), 't',
	'the event log is gap-free: seq 1..N');
is($restored->safe_psql($db, 'SELECT count(*) FROM (SELECT outbox_id FROM intracker_data.events GROUP BY 1 HAVING count(*) > 1) d'), '0',
	'no outbox event published twice');
is($restored->safe_psql($db, q{
SELECT count(*) FROM intracker_data.todos t
 WHERE t.title ~ '^w[0-9]+$'
   AND (SELECT count(*) FROM intracker_data.events e WHERE e.entity_id = t.id AND e.type = 'todo.created') <> 1}), '0',
	'every recovered todo has exactly one todo.created event');
ok($restored->poll_query_until($db, q{SELECT count(*) = 0 FROM intracker_data.deliveries WHERE state IN ('pending', 'failed')}),
	'the deliveries pending at the restore point are sent');
my %heard = map { ($_->{body} =~ /"entity_id": "([0-9a-f-]{36})"/) ? ($1 => 1) : () } @{ $sink->{requests}->() };
my @unheard = grep { !$heard{$_} } split /,/,
  $restored->safe_psql($db, q{SELECT string_agg(id::text, ',') FROM intracker_data.todos WHERE title ~ '^w[0-9]+$'});
is(scalar @unheard, 0, 'the sink heard of every recovered todo (at least once)');

$restored->stop;
done_testing();
