# test/t/013_upgrade.pl — the upgrade chain gives what a fresh install gives,
# and updating a live database loses nothing.
#
# A database served by the publisher and the deliverer (intracker.database)
# is created at 0.1, filled through the API, and updated one version at a
# time to the current one while a writer keeps creating and changing todos
# (one transaction per write, as fast as it can).  Then:
#
#  1. Every ALTER EXTENSION UPDATE succeeded with writes in flight (each
#     update script locks intracker_data.users first, as every API call
#     does, so writers wait instead of deadlocking with it).  Every write
#     committed, but for at most one caught by the update to 0.5 changing a
#     row type mid-statement (see below); each committed write is there,
#     none twice, and a failed one left nothing.
#  2. The counters (member load, claim order, progress) equal a recount
#     from scratch, though the updates to 0.2 and 0.3 backfilled them while
#     the writer ran.
#  3. Events: from the update to 0.4 on, every write has its event, once.
#     The publisher waits while the extension is older than 0.4, then
#     publishes a gap-free log; the writer's todos created after the update
#     to 0.4 have exactly one todo.created event each, those created before
#     it none.
#  4. The catalog of the updated extension equals that of a fresh install,
#     object by object (test/helpers/extension_catalog.sql: definitions with
#     bodies, columns, constraints, indexes, triggers, policies, privileges,
#     comments, pg_dump registrations ...); a difference is named.  The
#     comparison itself is checked to fail: two deliberate changes to the
#     fresh install are reported, and nothing else.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IntrackerTest;

my $db   = 'upgraded';
my $node = new_node('upgrade');
$node->safe_psql('postgres', "CREATE DATABASE $db");
$node->safe_psql($db, "CREATE EXTENSION intracker VERSION '0.1'");
create_test_roles($node);
my $log_offset = -s $node->logfile;
$node->append_conf('postgresql.conf', "intracker.database = '$db'\n");
$node->restart;

my $chain = $node->safe_psql($db, q{
SELECT string_agg(target, ' ' ORDER BY string_to_array(target, '.')::int[])
  FROM pg_extension_update_paths('intracker') WHERE source = '0.1' AND path IS NOT NULL});
my @versions = split / /, $chain;
my $current = $node->safe_psql($db, "SELECT default_version FROM pg_available_extensions WHERE name = 'intracker'");
is($versions[-1], $current, "0.1 updates to the current version $current, through " . join(', ', @versions));

# (0.1 has no worker_status view: the publisher says so in the log.)
$node->wait_for_log(qr/publisher is waiting for ALTER EXTENSION intracker UPDATE in database "$db"/, $log_offset);
pass('at 0.1 the publisher waits for a version with an outbox');

#
# Fill 0.1 through the API: a team, features, todos, a dependency, a session.
#
my ($owner, $editor) = split /\n/, $node->safe_psql($db, q{
SELECT id FROM intracker.create_user('owner@example.com', 'Owner')
UNION ALL SELECT id FROM intracker.create_user('editor@example.com', 'Editor')});
my ($project, $feature) = split /\n/, safe_psql_as($node, $db, $owner, qq{
SELECT id FROM intracker.create_project('Upgraded');
SELECT role FROM intracker.add_member((SELECT id FROM intracker.projects), '$editor', 'editor') \\gset
SELECT id FROM intracker.create_feature((SELECT id FROM intracker.projects), 'Old feature', status => 'in_progress');
}, via => 'superuser');
safe_psql_as($node, $db, $owner, qq{
SELECT count(*) FROM (
  SELECT intracker.create_todo('$project', 'Old ' || i, feature_id => CASE WHEN i % 2 = 0 THEN '$feature'::uuid END,
                               estimate => i, assigned_to => CASE WHEN i % 3 = 0 THEN '$editor'::uuid END)
    FROM generate_series(1, 20) AS i) AS created;
SELECT intracker.add_dependency((SELECT id FROM intracker.todos WHERE title = 'Old 2'),
                                (SELECT id FROM intracker.todos WHERE title = 'Old 1'));
SELECT version FROM intracker.update_todo((SELECT id FROM intracker.todos WHERE title = 'Old 4'), '{"status": "done"}', 1);
SELECT id FROM intracker.start_session('$project', 'Before the update');
}, via => 'superuser');

#
# The writer: a procedure that writes until told to stop, one transaction per
# write, counting its committed writes in the same transaction and recording
# any error instead of stopping.  Its todos are titled "w<n>".
#
$node->safe_psql($db, qq{
CREATE SCHEMA load;
CREATE TABLE load.progress (writes integer NOT NULL, stop boolean NOT NULL);
INSERT INTO load.progress VALUES (0, false);
CREATE TABLE load.failures (write integer, sqlstate text, message text, detail text, context text);
CREATE PROCEDURE load.write_until_stopped(project uuid, feature uuid, editor uuid)
LANGUAGE plpgsql AS \$\$
DECLARE
    n integer := 0;
    todo record;
    detail text;
    context text;
BEGIN
    PERFORM intracker.act_as(editor);
    COMMIT;
    LOOP
        n := n + 1;
        BEGIN
            SELECT t.id, t.version INTO todo
              FROM intracker.create_todo(project, 'w' || n, feature_id => CASE WHEN n % 2 = 0 THEN feature END,
                                         estimate => 1 + n % 5) AS t;
            -- every third one is started, every fifth of those finished
            IF n % 3 = 0 THEN
                SELECT t.id, t.version INTO todo
                  FROM intracker.update_todo(todo.id, jsonb_build_object('status', 'in_progress', 'assigned_to', editor),
                                             todo.version) AS t;
                IF n % 5 = 0 THEN
                    PERFORM intracker.update_todo(todo.id, '{"status": "done"}', todo.version);
                END IF;
            END IF;
            UPDATE load.progress SET writes = n;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL, context = PG_EXCEPTION_CONTEXT;
            INSERT INTO load.failures VALUES (n, SQLSTATE, SQLERRM, detail, context);
        END;
        COMMIT;
        EXIT WHEN (SELECT p.stop FROM load.progress p);
    END LOOP;
END
\$\$;
});
my $writer = IntrackerTest::Session->new($node, $db, name => 'writer', via => 'superuser');
$writer->send("CALL load.write_until_stopped('$project', '$feature', '$editor')");

sub writes { return $node->safe_psql($db, 'SELECT writes FROM load.progress') }

# Wait until the writer has committed more writes than it had.
sub writer_moves_on
{
	my $from = writes();
	$node->poll_query_until($db, "SELECT writes > $from + 5 FROM load.progress")
	  or die "the writer is stuck at $from writes";
	return;
}

#
# 1. Update one version at a time, writes in flight.
#
my (%before, %after);
for my $version (@versions)
{
	writer_moves_on();
	$before{$version} = writes();
	my ($rc, $out, $err) = $node->psql($db, "ALTER EXTENSION intracker UPDATE TO '$version'");
	$after{$version} = writes();
	is($rc, 0, "ALTER EXTENSION intracker UPDATE TO '$version' succeeds while the writer writes")
	  or diag($err);
}
writer_moves_on();
is($node->safe_psql($db, "SELECT extversion FROM pg_extension WHERE extname = 'intracker'"), $current,
	"the database is at $current");

$node->safe_psql($db, 'UPDATE load.progress SET stop = true');
my ($out, $err) = $writer->wait_result;
is($err, '', 'the writer ended without an error');
$writer->quit;
my $written = writes();    # the last write's number; failed ones are subtracted below
# 0.5 and 0.6 each appended a column to the view intracker.todos, the row
# type that create_todo() and the others return: a statement planned before
# such an update committed and run after it fails once with 42804 (the
# update makes later statements plan again).  Those are the only failures
# allowed, one per such update, and only for a write in flight during it.
my %appended = ('0.5' => 21, '0.6' => 22);    # intracker.todos's columns after the update
my @failures = split /\n/, $node->safe_psql($db, q{
SELECT format('%s %s %s (%s)', write, sqlstate, message, detail) FROM load.failures ORDER BY write});
my @unexpected = grep {
	my $failure = $_;
	!grep {
		my $v = $_;
		$failure =~ /^(\d+) 42804 function return row and query-specified return row do not match \(Returned row contains $appended{$v} attributes, but query expects ${\($appended{$v} - 1)}\.\)$/
		  && $1 > $before{$v} && $1 <= $after{$v} + 1
	} grep { exists $before{$_} } keys %appended
} @failures;
is(scalar @unexpected, 0,
	"no write failed but for one planned before each update that appended a column to intracker.todos (0.5, 0.6; "
	  . scalar(@failures) . " of $written failed)")
  or diag(join "\n", @unexpected,
	$node->safe_psql($db, 'SELECT string_agg(context, E\'\n---\n\') FROM load.failures'));
cmp_ok(scalar @failures, '<=', scalar(grep { exists $before{$_} } keys %appended), 'at most one write failed per such update');
$written -= @failures;
is($node->safe_psql($db, q{SELECT count(*) FROM intracker_data.todos WHERE title ~ '^w[0-9]+$'}), $written,
	'each committed write created its todo');
is($node->safe_psql($db, q{
SELECT count(*) FROM load.failures f JOIN intracker_data.todos t ON t.title = 'w' || f.write}), '0',
	'a failed write left nothing behind');
is($node->safe_psql($db, q{
SELECT count(*) FROM (SELECT title FROM intracker_data.todos WHERE title ~ '^w[0-9]+$'
                       GROUP BY title HAVING count(*) > 1) d}), '0', 'none twice');
is($node->safe_psql($db, qq{
SELECT count(*) FROM intracker_data.todos
 WHERE title ~ '^w[0-9]+\$' AND substr(title, 2)::int % 15 = 0 AND status <> 'done'}), '0',
	"every write that finished a todo is there");

#
# 2. Counters.
#
counters_consistent($node, $db, 'after the updates under writes');
progress_consistent($node, $db, 'after the updates under writes', $project, $owner);

#
# 3. Events: published once the outbox exists, gap-free, one per write.
#
$node->poll_query_until($db, "SELECT state = 'idle' AND backlog = 0 FROM intracker.worker_status")
  or die 'the publisher did not publish the backlog';
is($node->safe_psql($db, 'SELECT count(*) = max(seq) AND min(seq) = 1 FROM intracker_data.events'), 't',
	'the event log is gap-free from seq 1');
my $created_events = $node->safe_psql($db, q{
SELECT count(*) FROM intracker_data.events e JOIN intracker_data.todos t ON t.id = e.entity_id
 WHERE e.type = 'todo.created' AND t.title ~ '^w[0-9]+$'});
my $dup_events = $node->safe_psql($db, q{
SELECT count(*) FROM (SELECT entity_id FROM intracker_data.events WHERE type = 'todo.created'
                       GROUP BY entity_id HAVING count(*) > 1) d});
is($dup_events, '0', 'no todo has two todo.created events');
my $last = writes();
my $failed_after = $node->safe_psql($db, "SELECT count(*) FROM load.failures WHERE write > $before{'0.4'}");
ok($created_events >= $last - $after{'0.4'} - $failed_after && $created_events <= $last - $before{'0.4'} - $failed_after,
	"the writer's todos created after the update to 0.4 have their event: $created_events, between "
	  . ($last - $after{'0.4'} - $failed_after) . ' and ' . ($last - $before{'0.4'} - $failed_after));
is($node->safe_psql($db, qq{
SELECT count(*) FROM intracker_data.events e JOIN intracker_data.todos t ON t.id = e.entity_id
 WHERE e.type = 'todo.created' AND t.title ~ '^w[0-9]+\$' AND substr(t.title, 2)::int <= $before{'0.4'}}), '0',
	'the ones created before the update to 0.4 have none');
is($node->safe_psql($db, 'SELECT count(*) FROM intracker_data.outbox'), '0', 'nothing is left in the outbox');

#
# 4. The catalog equals a fresh install's.
#
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION intracker');
my $catalog_sql = slurp_file(($ENV{INTRACKER_SRC} // '.') . '/test/helpers/extension_catalog.sql');
$node->safe_psql($_, $catalog_sql) for ($db, 'fresh');

# kind, object and (shortened) detail of each row on one side only
sub catalog_difference
{
	my %rows;
	for my $side ($db, 'fresh')
	{
		$rows{$side} = { map { $_ => 1 } split /\n/, $node->safe_psql($side,
			q{SELECT kind || ' | ' || object || ' | ' || replace(coalesce(detail, ''), E'\n', ' ')
			    FROM catalog_check.extension_catalog()}) };
	}
	my @lines;
	for my $pair ([ $db, 'fresh', 'only after the update' ], [ 'fresh', $db, 'only in a fresh install' ])
	{
		my ($this, $other, $label) = @$pair;
		push @lines, map { "$label: " . substr($_, 0, 300) }
		  grep { !$rows{$other}{$_} } sort keys %{ $rows{$this} };
	}
	return @lines;
}

my $rows = $node->safe_psql($db, 'SELECT count(*) FROM catalog_check.extension_catalog()');
cmp_ok($rows, '>', 1000, "the catalog of the extension has $rows rows to compare");
my @difference = catalog_difference();
is(scalar @difference, 0, "the updated extension's catalog equals a fresh install's")
  or diag(join "\n", @difference);

# The comparison fails, naming them, on deliberate differences.
$node->safe_psql('fresh', q{
COMMENT ON FUNCTION intracker.update_todo(uuid, jsonb, integer) IS 'changed';
ALTER TABLE intracker_data.todos ALTER COLUMN estimate SET DEFAULT 2;
});
@difference = catalog_difference();
my @named = sort map { (split / \| /, s/^[^:]+: //r)[0, 1] } @difference;
is_deeply(\@named, [ sort(('column', 'intracker_data.todos.estimate', 'function', 'intracker.update_todo(uuid,jsonb,integer)',
				'member', 'function intracker.update_todo(uuid,jsonb,integer)') x 2) ],
	'a changed comment and a changed default are reported, by object, and nothing else')
  or diag(join "\n", @difference);

done_testing();
