# 022_webhook_auto_disable.pl — a webhook whose endpoint keeps failing is
# disabled by the deliverer (0.6), so that its queue cannot grow without
# bound (0.5 kept queueing: 43,000 pending deliveries in one run).
#
# One server preloads intracker with intracker.database = 'tracker',
# intracker.http_max_attempts = 2, intracker.http_retry_base_delay = 50ms,
# intracker.http_timeout = 500ms, intracker.webhook_disable_after_dead = 3
# and intracker.webhook_disable_after_failing = 0 (off) at first.  The
# endpoints are paths of the HTTP sink (test/helpers/http_sink.c) on
# 127.0.0.1, so intracker.http_allow_private_networks is on.  Every API call
# is made by a non-superuser acting as an intracker user; the superuser
# reads intracker_data for the checks and changes settings.
#
#   1. An endpoint answering 500 (/fail/6/..., 500 for its first 6 requests,
#      then 200): after 6 todo events, the first 3 deliveries are dead after
#      2 attempts each (6 requests), and the webhook is disabled: inactive,
#      disabled_at set, disabled_reason saying 3 deliveries in a row were
#      dead; its 3 other deliveries are dead with that reason, unsent.  A
#      webhook.disabled event is published in the webhook's project (actor
#      none, entity the webhook) and a viewer reads it; webhooks asking for
#      webhook.disabled (json) and webhook.* (slack: "intracker disabled a
#      webhook of *Alerts*: ...") receive it.  A later event queues nothing
#      for the disabled webhook (another webhook of the project gets it).
#      set_webhook_active(id, true) by the owner enables it again and clears
#      the reason; its endpoint now answers, and the next event is
#      delivered.
#   2. An endpoint that never answers (/hang/): every attempt times out;
#      after 3 dead deliveries the webhook is disabled likewise.
#   3. The time rule (webhook_disable_after_dead = 0, _failing = 2 s,
#      http_max_attempts = 100): an endpoint answering 503 is retried, never
#      dead, and is disabled once its attempts have failed for 2 s; the
#      delivery being retried is dead with the reason.
#   4. Retention: with intracker.event_retention = 1 s the deliveries of the
#      disabled webhooks are pruned like any others.
#
# Waits are polls with generous timeouts; nothing timed is asserted.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Encode ();
use JSON::PP ();
use Time::HiRes qw(usleep);
use IntrackerTest;

my $db   = 'tracker';
my $json = JSON::PP->new->utf8->canonical;
my $DEAD_REASON = '3 deliveries in a row were dead (intracker.webhook_disable_after_dead is 3)';

my $sink = start_http_sink(log => 1);
my $node = delivery_node('auto_disable', $db, <<"EOC");
intracker.http_max_attempts = 2
intracker.http_retry_base_delay = '50ms'
intracker.http_timeout = '500ms'
intracker.webhook_disable_after_dead = 3
intracker.webhook_disable_after_failing = 0
EOC

sub su { return $node->safe_psql($db, $_[0]) }

my $u = create_users($node, $db, ann => 'human', vic => 'human');
my ($ann, $vic) = @$u{qw(ann vic)};

sub as { my ($who, $sql) = @_; return safe_psql_as($node, $db, $who, $sql) }

sub requests_to
{
	my ($path) = @_;
	return [ grep { $_->{path} eq $path } @{ $sink->{requests}->() } ];
}

sub wait_requests
{
	my ($path, $n) = @_;
	my $until = Time::HiRes::time() + 180;
	usleep(20_000) while @{ requests_to($path) } < $n && Time::HiRes::time() < $until;
	return scalar @{ requests_to($path) };
}

# A project owned by ann, vic a viewer, with a webhook per [path, types, format].
sub project_with_hooks
{
	my ($name, @hooks) = @_;
	my $p = as($ann, "SELECT id FROM intracker.create_project(" . q_lit($name) . ")");
	as($ann, "SELECT FROM intracker.add_member('$p', '$vic', 'viewer')");
	wait_until_published($node, $db);
	my @ids = map {
		as($ann, "SELECT id FROM intracker.create_webhook('$p', " . q_lit($sink->{url} . $_->[0]) . ", "
			  . q_lit($_->[1]) . ", format => " . q_lit($_->[2] // 'json') . ")")
	} @hooks;
	return ($p, @ids);
}

sub new_todos
{
	my ($p, $n, $prefix) = @_;
	as($ann, "INSERT INTO intracker.todos (project_id, title) SELECT '$p', '$prefix ' || i FROM generate_series(1, $n) i");
	wait_until_published($node, $db);
	return;
}

# The webhook as its owner sees it: "active/disabled?/reason" (t or f).
sub hook_state
{
	my ($w) = @_;
	return as($ann, qq{SELECT concat_ws('/', active, disabled_at IS NOT NULL, coalesce(disabled_reason, '-'))
                         FROM intracker.webhooks WHERE id = '$w'});
}

sub wait_disabled
{
	my ($w, $label) = @_;
	$node->poll_query_until($db, "SELECT disabled_at IS NOT NULL FROM intracker_data.webhooks WHERE id = '$w'")
	  or diag("$label: not disabled: "
		  . su("SELECT string_agg(concat_ws('/', state, attempts, last_status, last_error), E'\\n' ORDER BY position)"
			  . " FROM intracker_data.deliveries WHERE webhook_id = '$w'"));
	return;
}

# "state/attempts/status/error" of each of a webhook's deliveries, in order.
sub deliveries_of
{
	my ($w) = @_;
	return [ split /\n/, su(qq{SELECT concat_ws('/', state, attempts, coalesce(last_status::text, '-'), coalesce(last_error, '-'))
                                 FROM intracker_data.deliveries WHERE webhook_id = '$w' ORDER BY position}) ];
}

##############################################################################
# 1. An endpoint answering 500
##############################################################################

my ($A, $w500, $wwatch, $wslack, $wall) = project_with_hooks('Alerts',
	[ '/fail/6/a', '{todo.*}' ], [ '/ok/watch', '{webhook.disabled}' ],
	[ '/ok/slack', '{webhook.*}', 'slack' ], [ '/ok/all-a', '{todo.*}' ]);
my $mark = su('SELECT coalesce(max(seq), 0) FROM intracker_data.events');
new_todos($A, 6, 'failing');
wait_disabled($w500, '500');
is(hook_state($w500), "f/t/$DEAD_REASON",
	'500: the webhook is disabled: inactive, disabled_at set, the reason says 3 deliveries in a row were dead');
is_deeply(deliveries_of($w500), [ ('dead/2/500/HTTP 500') x 3, ("dead/0/-/the webhook was disabled: $DEAD_REASON") x 3 ],
	'500: the first 3 deliveries are dead after 2 attempts; the 3 others are dead with the reason, unsent');
is(scalar @{ requests_to('/fail/6/a') }, 6, '500: the endpoint got 6 requests (3 deliveries x 2 attempts), no more');

# The webhook.disabled event, for every member, and to the webhooks asking for it.
my $event = $json->decode(as($vic, qq{
SELECT to_jsonb(e) FROM intracker.events e WHERE e.type = 'webhook.disabled' AND e.seq > $mark}) || '{}');
is_deeply([ @$event{qw(type project_id entity_id actor version)} ], [ 'webhook.disabled', $A, $w500, undef, undef ],
	'a webhook.disabled event in the webhook\'s project, by nobody, about the webhook, read by a viewer');
is_deeply($event->{changes},
	{ active => { old => JSON::PP::true, new => JSON::PP::false }, disabled_reason => { old => undef, new => $DEAD_REASON } },
	'... its changes: active true -> false, disabled_reason');
is(wait_requests('/ok/watch', 1), 1, 'the webhook asking for webhook.disabled gets one request');
my ($watch) = @{ requests_to('/ok/watch') };
is($watch->{headers}{'x-intracker-event'}, 'webhook.disabled', '... X-Intracker-Event: webhook.disabled');
is(eval { $json->decode(Encode::encode_utf8($watch->{body}))->{seq} }, $event->{seq}, '... its body is the event');
is(wait_requests('/ok/slack', 1), 1, 'the slack webhook asking for webhook.* gets one request');
is((requests_to('/ok/slack')->[0] // {})->{body},
	qq({"text": "intracker disabled a webhook of *Alerts*: $DEAD_REASON"}),
	'... in plain words');

# No new deliveries for it.
my $before = scalar @{ deliveries_of($w500) };
new_todos($A, 1, 'while disabled');
is(wait_requests('/ok/all-a', 7), 7, 'while disabled: the project\'s other webhook gets the new event');
is(scalar @{ deliveries_of($w500) }, $before, 'while disabled: nothing new is queued for the disabled webhook');

# Enabled again by its owner; its endpoint answers now (/fail/6 has failed 6 times).
is(as($ann, "SELECT concat_ws('/', active, disabled_at IS NOT NULL, coalesce(disabled_reason, '-')) FROM intracker.set_webhook_active('$w500', true)"),
	't/f/-', 'set_webhook_active(id, true): active again, disabled_at and disabled_reason cleared');
new_todos($A, 1, 'after enabling');
is(wait_requests('/fail/6/a', 7), 7, 'enabled again: the next event is sent');
$node->poll_query_until($db, "SELECT state = 'delivered' FROM intracker_data.deliveries WHERE webhook_id = '$w500' ORDER BY position DESC LIMIT 1")
  or diag(join "\n", @{ deliveries_of($w500) });
is(deliveries_of($w500)->[-1], 'delivered/1/200/-', '... and delivered');
is(hook_state($w500), 't/f/-', '... and the webhook stays enabled');

##############################################################################
# 2. An endpoint that never answers
##############################################################################

my ($B, $whang) = project_with_hooks('Hanging', [ '/hang/b', '{todo.*}' ]);
new_todos($B, 5, 'hanging');
wait_disabled($whang, 'hang');
is(hook_state($whang), "f/t/$DEAD_REASON", 'never answers: the webhook is disabled after 3 dead deliveries');
my $hang = deliveries_of($whang);
is(scalar(grep { m{^dead/2/-/Timeout was reached} } @$hang), 3, 'never answers: 3 deliveries timed out twice each')
  or diag(join "\n", @$hang);
is(scalar(grep { $_ eq "dead/0/-/the webhook was disabled: $DEAD_REASON" } @$hang), 2,
	'never answers: the 2 others are dead with the reason');
new_todos($B, 1, 'after the disable');
is(scalar @{ deliveries_of($whang) }, 5, 'never answers: no new delivery is queued once disabled');

##############################################################################
# 3. The time rule
##############################################################################

reload_setting($node, $db, 'intracker.webhook_disable_after_dead', '0');
reload_setting($node, $db, 'intracker.http_max_attempts', '100');
reload_setting($node, $db, 'intracker.webhook_disable_after_failing', '2');
my ($C, $wslow) = project_with_hooks('Slow', [ '/status/503/c', '{todo.*}' ]);
new_todos($C, 2, 'unavailable');
wait_disabled($wslow, 'time');
my $TIME_REASON = 'every delivery attempt failed for 2 s or more (intracker.webhook_disable_after_failing is 2 s)';
is(hook_state($wslow), "f/t/$TIME_REASON", 'time rule: disabled once its attempts had failed for 2 s');
my $slow = deliveries_of($wslow);
like($slow->[0], qr{^dead/\d+/503/the webhook was disabled: \Q$TIME_REASON\E$},
	'time rule: the delivery being retried is dead with the reason (never dead by attempts: 100 allowed)');
like($slow->[1], qr{^dead/0/-/the webhook was disabled: }, 'time rule: the next one is dead unsent');
my ($attempts) = $slow->[0] =~ m{^dead/(\d+)/};
is(scalar @{ requests_to('/status/503/c') }, $attempts, "time rule: the endpoint got the $attempts attempts, no more");

##############################################################################
# 4. Retention prunes them
##############################################################################

reload_setting($node, $db, 'intracker.event_retention', '1s');
new_todos($A, 1, 'to have an event to keep');
ok($node->poll_query_until($db, qq{
SELECT count(*) = 0 FROM intracker_data.deliveries WHERE webhook_id IN ('$w500', '$whang', '$wslow')
   AND state = 'dead'}), 'retention: the dead deliveries of the disabled webhooks are pruned');

my @warnings = slurp_file($node->logfile) =~ /^(.*WARNING:\s+intracker (?:deliverer|publisher): .*)$/mg;
is(join("\n", @warnings), '', 'no round of the deliverer or the publisher failed');
is($sink->{stop}->(), 0, 'the sink exited cleanly');
$node->stop;
done_testing();
