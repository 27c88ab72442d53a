# 028_notifications.pl — the inbox as events, with the real publisher
# (issue 16).  test/pgtap/comments.sql has the rules that fit in one
# transaction; here what needs commits, the worker and real listeners:
#
#   A. A libpq listener on bob's channel (intracker.user_channel) is woken by
#      a mention of him in a comment, and by his todo's last blocker
#      finishing; each payload names him and the event, whose replay through
#      events_since (as bob) says which kind it is.  Nothing reaches a
#      non-member mentioned, the actor's own channel, or the project's
#      channel (a notification is its user's news).
#   B. Read notifications go after intracker.event_retention (the
#      publisher prunes them); unread ones stay.
#   C. pg_dump / pg_restore keeps comments with their mentions and the
#      notifications as they were, and the restore notifies no one again.
#
# Users act through the PostgREST path (JWT claims on authenticator), so RLS
# applies.  No timing is asserted; every wait is a poll.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use IntrackerTest;

my $db = 'tracker';
my $node = served_node('notifications', $db);

my $u = create_users($node, $db, ann => 'human', bob => 'agent', cid => 'human');
my ($ann, $bob, $cid) = @$u{qw(ann bob cid)};
sub su { return $node->safe_psql($db, $_[0]) }
sub as { my ($who, $sql) = @_; return safe_psql_as($node, $db, $who, $sql, via => 'jwt') }

# The handles are the emails' local parts.
my $P = as($ann, "SELECT id FROM intracker.create_project('Inbox')");
as($ann, "SELECT FROM intracker.add_member('$P', '$bob', 'editor')");
my $todo    = as($ann, "SELECT id FROM intracker.create_todo('$P', 'Ship it')");
my $blocker = as($ann, "SELECT id FROM intracker.create_todo('$P', 'Fix CI first')");
as($ann, "SELECT FROM intracker.add_dependency('$todo', '$blocker')");
wait_until_published($node, $db);

my $bob_channel = su("SELECT intracker.user_channel('$bob')");
is($bob_channel, "intracker.user.$bob", 'user_channel(bob) is intracker.user.<id>');
is(as($bob, 'SELECT intracker.listen_me()'), $bob_channel, 'listen_me() as bob LISTENs on that channel');
my $bob_hears     = start_listener($node, $db, $bob_channel);
my $ann_hears     = start_listener($node, $db, su("SELECT intracker.user_channel('$ann')"));
my $cid_hears     = start_listener($node, $db, su("SELECT intracker.user_channel('$cid')"));
my $project_hears = start_listener($node, $db, su("SELECT intracker.project_channel('$P')"));

# The one payload expected next on bob's channel, and its event as bob replays it.
my $json = JSON::PP->new;
sub next_for_bob
{
	my ($count, $what) = @_;
	is($bob_hears->{wait_for}->($count), $count, "$what: bob's listener is woken");
	my $payload = $json->decode($bob_hears->{lines}->()->[ $count - 1 ][2]);
	is_deeply([ @$payload{qw(type entity_id project_id)} ], [ 'notification.created', $bob, $P ],
		"$what: the payload names bob, the project and notification.created");
	return as($bob, "SELECT changes #>> '{kind,new}' FROM intracker.events_since($payload->{seq} - 1, max_events => 1)");
}

##############################################################################
# A. Woken by a mention and by an unblocking
##############################################################################

my $comment = as($ann, "SELECT id FROM intracker.add_comment('$todo', 'CI is flaky, \@BOB see the log; \@cid too')");
is(next_for_bob(1, 'a mention in a comment'), 'mention', '... and its event, replayed by bob, is a mention');
is(as($bob, "SELECT entity_id || ' ' || summary FROM intracker.my_notifications"),
	"$comment User ann mentioned you in a comment on todo \"Ship it\"", '... in his inbox, about the comment');

as($ann, "SELECT FROM intracker.assign_todo('$todo', '$bob')");
is(next_for_bob(2, 'the todo given to him'), 'assigned', '... an assignment');

as($ann, "SELECT FROM intracker.set_todo_status('$blocker', 'done', 1)");
is(next_for_bob(3, 'his todo unblocked'), 'unblocked', '... and its last blocker done: unblocked');

# Something after all of that, so that "nothing arrived" means something:
# by the time bob hears it, the others would have heard theirs.
as($ann, "SELECT FROM intracker.add_comment('$todo', 'thanks \@bob')");
next_for_bob(4, 'a last mention');
is(scalar @{ $cid_hears->{lines}->() }, 0, 'cid, mentioned but not a member, heard nothing');
is(as($cid, 'SELECT count(*) FROM intracker.my_notifications'), '0', '... and has nothing in his inbox');
is(scalar @{ $ann_hears->{lines}->() }, 0, 'ann heard nothing of her own acts');
my @project_types = map { $json->decode($_->[2])->{type} } @{ $project_hears->{lines}->() };
ok(@project_types >= 4, "the project channel carried the project's events (" . join(', ', @project_types) . ')');
is(scalar(grep { /^notification\./ } @project_types), 0, '... but no notification');
is(as($ann, "SELECT count(*) FROM intracker.events_since(0) WHERE type LIKE 'notification.%'"), '0',
	"ann replays none of bob's notifications");
$_->{stop}->() for ($bob_hears, $ann_hears, $cid_hears, $project_hears);

##############################################################################
# B. Read notifications expire; unread ones stay
##############################################################################

is(as($bob, "SELECT intracker.mark_notifications_read(ARRAY(SELECT id FROM intracker.my_notifications WHERE kind <> 'unblocked'))"),
	'3', 'bob marks three of his four read');
reload_setting($node, $db, 'intracker.event_retention', '1s');
ok($node->poll_query_until($db, "SELECT count(*) = 1 FROM intracker_data.notifications WHERE user_id = '$bob'"),
	'with a retention of 1 s, the publisher prunes the read ones');
is(as($bob, 'SELECT kind || coalesce(read_at::text, \' unread\') FROM intracker.my_notifications'), 'unblocked unread',
	'... the unread one stays');
reload_setting($node, $db, 'intracker.event_retention', undef);

##############################################################################
# C. Dump and restore
##############################################################################

as($ann, "SELECT FROM intracker.update_comment('$comment', 'CI is flaky, \@bob see the log (edited)', 1)");
as($ann, "SELECT FROM intracker.add_comment('$blocker', 'done, \@bob')");
wait_until_published($node, $db);
my $dump = PostgreSQL::Test::Utils::tempdir() . '/tracker.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr($db) ], 'pg_dump -Fc');
su('CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('restored'), $dump ], 'pg_restore');

my $comments_sql = 'SELECT string_agg(concat_ws(\' \', id, version, body, mentions, author), \',\' ORDER BY id) FROM intracker_data.comments';
my $inbox_sql = 'SELECT string_agg(concat_ws(\' \', id, kind, entity_id, summary, read_at), \',\' ORDER BY id)'
  . ' FROM intracker_data.notifications';
is($node->safe_psql('restored', $comments_sql), su($comments_sql), 'the comments come back with their versions and mentions');
is($node->safe_psql('restored', $inbox_sql), su($inbox_sql), 'the notifications come back as they were, and no new one');
is($node->safe_psql('restored', "SELECT count(*) FROM intracker_data.outbox WHERE type LIKE 'notification.%' OR type LIKE 'comment.%'"),
	'0', '... nor any event of the restored rows');

$node->stop;
done_testing();
