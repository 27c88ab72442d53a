# 011_webhook_delivery.pl — the webhook delivery contract of 0.5, end to end:
# the publisher's fan-out, the deliverer process (libcurl) and a real HTTP
# server, the sink of test/helpers/http_sink.c, which logs every request.
#
# One server preloads intracker with intracker.database = 'tracker',
# restart_after_crash = on, intracker.http_retry_base_delay = 100ms,
# intracker.http_timeout = 1s and intracker.http_max_attempts = 5 (3 from
# part 3 on, set with ALTER SYSTEM + reload).  Every API call is made by a
# non-superuser acting as an intracker user (tracker_admin, act_as), so RLS
# and the role checks apply; the superuser only reads intracker_data for
# the checks (and once changes a webhook's URL, see part 4).  Each webhook
# has a path of its own on the sink, so the sink's log tells them apart.
#
#   1. Headers and body: POST, Content-Type application/json, User-Agent
#      intracker/<default_version of intracker.control>, X-Intracker-Event =
#      the event type, X-Intracker-Delivery = the delivery's id in
#      intracker.webhook_deliveries (same order), X-Intracker-Signature-256 =
#      sha256=<HMAC-SHA256 of the body bytes> with a (non-ASCII) secret and
#      absent without one.  The body is byte for byte the view's payload and
#      is the event of intracker_data.events (all nine keys).  Secrets are
#      readable by nobody; non-owners see no webhooks or deliveries.
#   2. event_types '*', 'todo.*', exact types and a mix: each webhook gets
#      exactly the matching events of its project, in seq order; format
#      slack sends {"text": "Ann moved *Fix login* to done"} (& < > escaped);
#      a malformed pattern is refused (22023).
#   3. Retries: /fail/2 -> delivered at attempt 3, each gap at least half
#      its nominal base*2^(n-1) (so the second at least the base delay, the
#      most the first may be); 429 with Retry-After: 1 ->
#      gaps of >= 1 s (base 100 ms), dead after http_max_attempts (3, set by
#      ALTER SYSTEM + reload) with last_status 429, next_attempt_at 1 s after
#      the attempt while waiting; Retry-After: 3600 keeps a delivery 'failed'
#      for an hour and the next one of its queue 'pending'; 500 forever ->
#      dead after 3; 404 -> dead after 1; 302 -> dead, not followed; a
#      hanging endpoint -> timed out 3 times (gaps >= the timeout), dead,
#      last_error says so.
#   4. Order: 50 updates of one todo; the webhook's endpoint starts failing
#      in the middle (its URL is switched to a /fail/2 path between two
#      batches of 25): the sink sees exactly seqs 1..25, 26 three times,
#      27..50.  A hanging webhook of the same project does not delay a
#      healthy one: all of the healthy one's deliveries arrive before the
#      hanging request's timeout.
#   5. Pause, resume, delete (set_webhook_active, delete_webhook): paused ->
#      no new deliveries, queued ones wait and go out in order on resume;
#      deleted -> its deliveries are gone and not sent.
#   6. redeliver(): owners, delivered or dead only (55000 for pending and
#      failed), a new delivery (new id, redelivery_of = original) with the
#      same body, signature and event; editors and viewers 42501, others
#      PT404; a dead one is sent again.  Managing webhooks: owners only.
#   7. At-least-once: kill -9 of the deliverer in the middle of 2 x 2,000
#      deliveries to /slow/5 endpoints (the postmaster restarts everything):
#      every delivery ends delivered and reaches the sink, first arrivals in
#      seq order per webhook; the only duplicates are the last deliveries
#      that reached the sink before the kill (same X-Intracker-Delivery), at
#      most a chain's worth.  kill -TERM of the deliverer alone: the
#      supervisor starts a new one (no crash restart: the publisher keeps its
#      pid) and delivery resumes, with the same guarantees.
#   8. intracker.http_allowed_hosts = 'example.com': create_webhook to
#      127.0.0.1 is 42501, to example.com allowed; a webhook created before
#      the change gets its delivery marked dead with the allow-list message
#      and the sink never sees it; after RESET, redeliver() gets it through.
#
# Part 5 found a bug, fixed since: the deliverer kept sending the chain of
# deliveries it held in memory (up to 16) after the webhook was paused or
# deleted.  Both functions now wake it, and it stops those chains.
#
# Timing: gaps are measured from the sink's own timestamps (logged when a
# request has been read, before the answer).  Lower bounds are exact
# consequences of the design; upper bounds are loose (+0.75 s).  Part 5
# watches a fixed 1 s window in which nothing may be sent; all other waits
# are polls.  Sections are timed with diag (information only).

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use Encode qw(encode_utf8);
use JSON::PP ();
use Time::HiRes qw(gettimeofday tv_interval usleep);
use IntrackerTest;

my $t_all = [gettimeofday];
my $db    = 'tracker';

# psql prints UTF-8 bytes; this decoder keeps strings as byte strings, so
# they compare with the sink's bodies re-encoded (body_bytes) byte for byte.
my $jb = JSON::PP->new->canonical;

my $BASE_MS    = 100;     # intracker.http_retry_base_delay
my $TIMEOUT_MS = 1000;    # intracker.http_timeout
my $CHAIN      = 16;      # CHAIN_LENGTH in src/deliverer.c

my $control = slurp_file(($ENV{INTRACKER_SRC} // '.') . '/intracker.control');
my ($EXTVERSION) = $control =~ /^default_version\s*=\s*'([^']+)'/m;
die 'no default_version in intracker.control' unless defined $EXTVERSION;

my $node = new_node('webhooks');
$node->append_conf('postgresql.conf', <<"EOC");
# added by 011_webhook_delivery.pl
intracker.database = '$db'
restart_after_crash = on
intracker.http_retry_base_delay = '${BASE_MS}ms'
intracker.http_timeout = '${TIMEOUT_MS}ms'
intracker.http_max_attempts = 5
# the sink is on 127.0.0.1, a loopback address: allowed explicitly (off by default)
intracker.http_allow_private_networks = on
EOC
install_extension($node, $db);
create_test_roles($node);
# The extension exists before the restart: the deliverer finds it at once.
$node->restart;
$node->poll_query_until($db, q{SELECT state = 'idle' FROM intracker.deliverer_status})
  or die 'the deliverer did not become idle: '
  . $node->safe_psql($db, q{SELECT concat_ws(' | ', state, last_error) FROM intracker.deliverer_status});

my $sink = start_http_sink(log => 1);

##############################################################################
# Helpers
##############################################################################

sub su { return $node->safe_psql($db, $_[0]) }

my %user;
for my $u ([ ann => 'Ann' ], [ bob => 'Bob' ], [ carol => 'Carol' ], [ dave => 'Dave' ], [ erin => 'Erin' ])
{
	$user{ $u->[0] } =
	  su("SELECT id FROM intracker.create_user('$u->[0]\@example.com', '$u->[1]')");
}
my ($ann, $bob, $carol, $dave, $erin) = @user{qw(ann bob carol dave erin)};

sub as
{
	my ($who, $sql) = @_;
	return safe_psql_as($node, $db, $who, $sql);
}

# A project owned by ann, with bob as editor and carol as viewer.
sub new_project
{
	my ($name) = @_;
	my $p = as($ann, 'SELECT id FROM intracker.create_project(' . q_lit($name) . ')');
	as($ann, <<"SQL");
SELECT FROM intracker.add_member('$p', '$bob', 'editor');
SELECT FROM intracker.add_member('$p', '$carol', 'viewer');
SQL
	# Published before any webhook exists: the fan-out joins the webhooks
	# active when an event is published, not when it was written.
	wait_published();
	return $p;
}

# create_webhook as ann to the sink's $path; returns the webhook's id.
sub webhook
{
	my ($project, $path, %o) = @_;
	my $types =
	  $o{types} ? 'ARRAY[' . join(', ', map { q_lit($_) } @{ $o{types} }) . ']' : q{'{*}'};
	return as($ann,
		    "SELECT id FROM intracker.create_webhook('$project', "
		  . q_lit($sink->{url} . $path)
		  . ", $types, "
		  . q_lit($o{secret}) . ', '
		  . q_lit($o{format} // 'json') . ')');
}

sub wait_published { return wait_until_published($node, $db) }

# Wait until each webhook has at least $n deliveries, none pending or failed.
sub wait_settled
{
	my ($label, %want) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $values = join(', ', map { "('$_'::uuid, $want{$_})" } sort keys %want);
	my $ok = $node->poll_query_until($db, qq{
SELECT bool_and(c.n >= v.want AND c.open = 0)
  FROM (VALUES $values) AS v (id, want)
 CROSS JOIN LATERAL (SELECT count(*) AS n, count(*) FILTER (WHERE d.state IN ('pending', 'failed')) AS open
                       FROM intracker_data.deliveries d WHERE d.webhook_id = v.id) c});
	ok($ok, "$label: every delivery is delivered or dead")
	  or diag(su(qq{SELECT webhook_id, state, count(*) FROM intracker_data.deliveries
                     WHERE webhook_id IN (@{[ join(', ', map { "'$_'" } keys %want) ]})
                     GROUP BY 1, 2 ORDER BY 1, 2}));
	return $ok;
}

# A webhook's deliveries read by ann through intracker.webhook_deliveries,
# in seq order (a redelivery after its original).
sub deliveries_of
{
	my ($webhook) = @_;
	return $jb->decode(as($ann, qq{
SELECT coalesce(json_agg(to_jsonb(d) ORDER BY d.event_seq, d.created_at, d.id), '[]')
  FROM intracker.webhook_deliveries d WHERE d.webhook_id = '$webhook'}));
}

# Requests the sink logged, oldest first; optionally only those to $path.
sub requests
{
	my ($path) = @_;
	my $all = $sink->{requests}->();
	return defined $path ? [ grep { $_->{path} eq $path } @$all ] : $all;
}

sub body_bytes { return encode_utf8($_[0]{body} // '') }
sub delivery_id_of { return $_[0]{headers}{'x-intracker-delivery'} // '' }

# Wait until the sink has logged at least $n requests to $path.
sub wait_requests
{
	my ($path, $n, $timeout) = @_;
	my $until = Time::HiRes::time() + ($timeout // 60);
	while (scalar @{ requests($path) } < $n && Time::HiRes::time() < $until)
	{
		usleep(10_000);
	}
	return scalar @{ requests($path) };
}

# Gaps in seconds between consecutive requests.
sub gaps
{
	my (@r) = @_;
	return map { $r[$_]{t} - $r[ $_ - 1 ]{t} } 1 .. $#r;
}

sub max_seq { return su('SELECT coalesce(max(seq), 0) FROM intracker_data.events') }

# Seqs and types of a project's events after $after, in order.
sub events_after
{
	my ($project, $after) = @_;
	return [ map { [ split /\|/ ] } split /\n/,
		su("SELECT seq, type FROM intracker_data.events WHERE project_id = '$project' AND seq > $after ORDER BY seq") ];
}

sub matches
{
	my ($type, @patterns) = @_;
	my ($entity) = split /\./, $type;
	return scalar grep { $_ eq '*' || $_ eq $type || $_ eq "$entity.*" } @patterns;
}

# $n updates of a todo's title, as ann, in one transaction (one event each).
sub title_updates
{
	my ($todo, $from, $to) = @_;
	as($ann, join("\n", 'BEGIN;',
		(map { "UPDATE intracker.todos SET title = 'step $_' WHERE id = '$todo';" } $from .. $to),
		'COMMIT;'));
	return;
}

##############################################################################
# 1. Headers and body
##############################################################################

my $SECRET = 'wh-sécret "q" ✓';    # UTF-8 bytes: the HMAC key is the secret's bytes
my ($P1, $w_signed, $w_plain, $t1);
timed(
	'part 1 (headers and body)',
	sub {
		$P1       = new_project('Headers');
		$w_signed = webhook($P1, '/ok/signed', secret => $SECRET);
		$w_plain  = webhook($P1, '/ok/plain');
		my $before = max_seq();
		$t1 = as($ann, q{SELECT id FROM intracker.create_todo(}
			  . "'$P1', 'Fix “login” — ✓ 日本 \"q\" <b> & \\\\ done')");
		as($ann, qq{SELECT FROM intracker.update_todo('$t1', '{"status": "in_progress", "description": "line 1\\nline 2"}', 1)});
		wait_published();
		my $events = events_after($P1, $before);
		is_deeply([ map { $_->[1] } @$events ], [ 'todo.created', 'todo.status_changed' ],
			'the project has a todo.created and a todo.status_changed event');
		wait_settled('part 1', $w_signed => 2, $w_plain => 2);

		my $event_rows = $jb->decode(su(qq{
SELECT json_object_agg(e.seq, to_jsonb(e) - 'outbox_id')
  FROM intracker_data.events e WHERE e.project_id = '$P1' AND e.seq > $before}));

		for my $case ([ signed => $w_signed, '/ok/signed', $SECRET ], [ plain => $w_plain, '/ok/plain', undef ])
		{
			my ($name, $w, $path, $secret) = @$case;
			my $dels = deliveries_of($w);
			my $reqs = requests($path);
			is_deeply([ map { $_->{event_seq} } @$dels ], [ map { $_->[0] } @$events ],
				"$name: one delivery per event, in seq order");
			is_deeply([ map { delivery_id_of($_) } @$reqs ], [ map { $_->{id} } @$dels ],
				"$name: the sink got one request per delivery, X-Intracker-Delivery = the view's id, in seq order");
			for my $i (0 .. $#$dels)
			{
				my $d = $dels->[$i];
				my $r = $reqs->[$i] // { headers => {} };
				my $h = $r->{headers};
				my $what = "$name, $d->{event_type}";
				is($d->{state} . '/' . $d->{attempts} . '/' . ($d->{last_status} // 'null'),
					'delivered/1/200', "$what: delivered at the first attempt with status 200");
				is($r->{method}, 'POST', "$what: method POST");
				is($h->{'content-type'}, 'application/json', "$what: Content-Type application/json");
				is($h->{'user-agent'}, "intracker/$EXTVERSION", "$what: User-Agent intracker/$EXTVERSION");
				is($h->{'x-intracker-event'}, $d->{event_type}, "$what: X-Intracker-Event is the event type");
				ok(body_bytes($r) eq $d->{payload}, "$what: the body is byte for byte the view's payload")
				  or diag("body:    " . body_bytes($r) . "\npayload: $d->{payload}");
				if (defined $secret)
				{
					is($h->{'x-intracker-signature-256'}, 'sha256=' . hmac_sha256_hex(body_bytes($r), $secret),
						"$what: X-Intracker-Signature-256 is sha256=HMAC-SHA256(secret, body)");
				}
				else
				{
					ok(!exists $h->{'x-intracker-signature-256'}, "$what: no X-Intracker-Signature-256 without a secret");
				}
				my $body = eval { $jb->decode(body_bytes($r)) };
				is_deeply($body, $event_rows->{ $d->{event_seq} },
					"$what: the body is the event (seq, type, project_id, entity_id, actor, version, changes, occurred_at, published_at)");
			}
		}
		like(body_bytes(requests('/ok/plain')->[0] // {}), qr/Fix “login” — ✓ 日本/,
			'non-ASCII text is sent as UTF-8, unescaped');

		# Secrets and webhooks are for owners only.
		is(as($ann, "SELECT string_agg(signed::text, ',' ORDER BY signed) FROM intracker.webhooks WHERE project_id = '$P1'"),
			'false,true', 'intracker.webhooks shows which webhook is signed');
		my ($ret, $out, $err) = psql_as($node, $db, $ann, 'SELECT secret FROM intracker_data.webhooks');
		is_sqlstate($err, '42501', 'the owner cannot read a webhook secret', $out);
		is(su(q{SELECT count(*) FROM information_schema.columns
                  WHERE table_schema = 'intracker' AND table_name IN ('webhooks', 'webhook_deliveries') AND column_name = 'secret'}),
			0, 'no API view has a secret column');
		for my $who ([ bob => $bob ], [ carol => $carol ], [ dave => $dave ])
		{
			is(as($who->[1], qq{SELECT (SELECT count(*) FROM intracker.webhooks) || '/' || (SELECT count(*) FROM intracker.webhook_deliveries)}),
				'0/0', "$who->[0] (not an owner) sees no webhooks and no deliveries");
		}
	});

##############################################################################
# 2. event_types and format slack
##############################################################################

timed(
	'part 2 (event_types, slack)',
	sub {
		my $F    = new_project('Filters');
		my %pats = (
			all   => ['*'],
			todo  => ['todo.*'],
			exact => ['todo.status_changed'],
			mixed => [ 'feature.*', 'member.added' ],
		);
		my %w = map { $_ => webhook($F, "/ok/f-$_", types => $pats{$_}) } keys %pats;
		my $w_slack = webhook($F, '/ok/slack', types => ['todo.status_changed'], format => 'slack');
		my ($ret, $out, $err) = psql_as($node, $db, $ann,
			"SELECT intracker.create_webhook('$F', '$sink->{url}/ok/x', ARRAY['todo.bogus.x'])");
		is_sqlstate($err, '22023', 'create_webhook rejects a malformed event type pattern', $out);

		my $before = max_seq();
		my $feature = as($ann, "SELECT id FROM intracker.create_feature('$F', 'Auth')");
		my $fix = as($ann, "SELECT id FROM intracker.create_todo('$F', 'Fix login', feature_id => '$feature')");
		my $qa  = as($ann, q{SELECT id FROM intracker.create_todo(} . "'$F', 'Q&A <draft>')");
		as($ann, "SELECT FROM intracker.add_member('$F', '$erin', 'viewer')");
		as($ann, qq{SELECT FROM intracker.update_todo('$fix', '{"status": "done"}', 1)});
		as($ann, qq{SELECT FROM intracker.update_todo('$qa', '{"status": "done"}', 1)});
		as($ann, qq{SELECT FROM intracker.update_feature('$feature', '{"title": "Auth v2"}', 1)});
		wait_published();
		my $events = events_after($F, $before);
		my %types = map { $_->[1] => 1 } @$events;
		ok($types{$_}, "the project has a $_ event")
		  for qw(feature.created feature.updated todo.created todo.status_changed member.added);

		my %expect = map {
			my $k = $_;
			$k => [ map { $_->[0] } grep { matches($_->[1], @{ $pats{$k} }) } @$events ]
		} keys %pats;
		$expect{slack} = $expect{exact};
		$w{slack} = $w_slack;
		wait_settled('part 2', map { $w{$_} => scalar @{ $expect{$_} } } keys %w);
		for my $k (sort keys %w)
		{
			my $dels = deliveries_of($w{$k});
			my $path = $k eq 'slack' ? '/ok/slack' : "/ok/f-$k";
			my $label = join(', ', @{ $pats{$k} // ['slack: todo.status_changed'] });
			is_deeply([ map { $_->{event_seq} } @$dels ], $expect{$k},
				"event_types {$label}: exactly the matching events of the project (" . scalar(@{ $expect{$k} }) . " of " . scalar(@$events) . ')');
			is_deeply([ map { delivery_id_of($_) } @{ requests($path) } ], [ map { $_->{id} } @$dels ],
				"event_types {$label}: the sink got exactly those deliveries, in seq order");
			is(scalar(grep { $_->{state} ne 'delivered' } @$dels), 0, "event_types {$label}: all delivered");
		}
		is_deeply([ map { body_bytes($_) } @{ requests('/ok/slack') } ],
			[ '{"text": "Ann moved *Fix login* to done"}', '{"text": "Ann moved *Q&amp;A &lt;draft&gt;* to done"}' ],
			'format slack: {"text": "Ann moved *Fix login* to done"}, with &, < and > escaped');
		is_deeply([ map { $_->{headers}{'content-type'} // '' } @{ requests('/ok/slack') } ],
			[ 'application/json', 'application/json' ], 'format slack: Content-Type application/json');
		is_deeply([ map { body_bytes($_) } @{ requests('/ok/slack') } ],
			[ map { $_->{payload} } @{ deliveries_of($w_slack) } ], 'format slack: the payload is the body sent');
	});

##############################################################################
# 3. Retries, backoff, Retry-After, permanent failures, timeouts
##############################################################################

my ($w_404, $d_stuck_failed, $d_stuck_pending, $w_stuck);
timed(
	'part 3 (retries)',
	sub {
		su(q{ALTER SYSTEM SET intracker.http_max_attempts = 3; SELECT pg_reload_conf()});
		$node->poll_query_until($db, q{SELECT current_setting('intracker.http_max_attempts') = '3'})
		  or die 'the reload did not take';

		my $R = new_project('Retries');
		my %w = (
			fail  => webhook($R, '/fail/2/r'),
			ra    => webhook($R, '/retry-after/1/r'),
			e500  => webhook($R, '/status/500/r'),
			e404  => webhook($R, '/status/404/r'),
			redir => webhook($R, '/redirect/r'),
			hang  => webhook($R, '/hang/r'),
		);
		$w_404 = $w{e404};
		my $U = new_project('Stuck');
		$w_stuck = webhook($U, '/retry-after/3600/stuck');

		my $before = max_seq();
		as($ann, "SELECT FROM intracker.create_todo('$R', 'retry me')");
		my $u_todo = as($ann, "SELECT id FROM intracker.create_todo('$U', 'stuck 1')");
		as($ann, "SELECT FROM intracker.update_todo('$u_todo', '{\"title\": \"stuck 2\"}', 1)");

		# While the 429 waits: failed, next_attempt_at = the attempt + Retry-After.
		my $ok = $node->poll_query_until($db,
			qq{SELECT state = 'failed' AND attempts = 1 FROM intracker_data.deliveries WHERE webhook_id = '$w{ra}'});
		ok($ok, 'Retry-After: after the first 429 the delivery is failed, attempt 1');
		my ($st, $status, $wait) = split /\|/, as($ann, qq{
SELECT state, last_status, extract(epoch FROM next_attempt_at - last_attempt_at)
  FROM intracker.webhook_deliveries WHERE webhook_id = '$w{ra}'});
		is($status, 429, 'Retry-After: the view shows last_status 429 while it waits');
		cmp_ok(abs(($wait // 0) - 1), '<', 0.05,
			"Retry-After: 1 -> next_attempt_at is 1 s after the attempt (was $wait s), not the 100 ms base");

		# Retry-After: 3600 holds a queue for an hour: its head failed, the next pending.
		$node->poll_query_until($db, qq{
SELECT string_agg(state || '/' || attempts, ',' ORDER BY position) = 'failed/1,pending/0'
  FROM intracker_data.deliveries WHERE webhook_id = '$w_stuck'})
		  or diag('stuck queue: ' . su("SELECT string_agg(state || '/' || attempts, ',' ORDER BY position) FROM intracker_data.deliveries WHERE webhook_id = '$w_stuck'"));
		my $stuck = deliveries_of($w_stuck);
		($d_stuck_failed, $d_stuck_pending) = map { $_->{id} } @$stuck;
		is(join(',', map { "$_->{state}/$_->{attempts}" } @$stuck), 'failed/1,pending/0',
			'Retry-After: 3600 -> the head is failed and the next delivery of its queue waits, pending');
		my $hours = as($ann, qq{SELECT round(extract(epoch FROM next_attempt_at - last_attempt_at))
                                 FROM intracker.webhook_deliveries WHERE id = '$d_stuck_failed'});
		is($hours, 3600, 'Retry-After: 3600 -> retried an hour after the attempt');
		is(scalar @{ requests('/retry-after/3600/stuck') }, 1, 'the waiting delivery of that queue was not sent');
		cmp_ok(su('SELECT waiting_for_retry FROM intracker.deliverer_status'), '>=', 1,
			'deliverer_status counts deliveries waiting for a retry');

		wait_settled('part 3', map { $_ => 1 } values %w);
		my %d = map { $_ => deliveries_of($w{$_})->[0] // {} } keys %w;
		my $summary = sub {
			my ($x) = @_;
			return join('/', $x->{state} // '?', $x->{attempts} // '?', $x->{last_status} // 'null');
		};

		# /fail/2: 500, 500, 200
		my @r = @{ requests('/fail/2/r') };
		is($summary->($d{fail}), 'delivered/3/200', '/fail/2: delivered at attempt 3 (attempts 3 in the view)');
		is_deeply([ map { delivery_id_of($_) } @r ], [ ($d{fail}{id}) x 3 ],
			'/fail/2: three requests, all with the same X-Intracker-Delivery');
		my @g = gaps(@r);
		if (is(scalar @g, 2, '/fail/2: two gaps between attempts'))
		{
			# Growth without a coin toss: with equal jitter the first gap is at
			# most the base delay and the second at least that much (comparing
			# the two gaps directly fails by chance when both are near it).
			for my $n (1, 2)
			{
				my $nominal = $BASE_MS * 2**($n - 1) / 1000;
				cmp_ok($g[ $n - 1 ], '>=', $nominal / 2,
					sprintf('/fail/2: gap %d (%.3f s) >= half of base*2^%d = %.3f s', $n, $g[ $n - 1 ], $n - 1, $nominal / 2));
				cmp_ok($g[ $n - 1 ], '<=', $nominal + 0.75,
					sprintf('/fail/2: gap %d (%.3f s) <= %.3f s + 0.75 s (loose)', $n, $g[ $n - 1 ], $nominal));
			}
		}
		is($d{fail}{next_attempt_at}, undef, 'a delivered delivery has no next_attempt_at in the view');

		# 429 + Retry-After: 1, until http_max_attempts (3 since the reload)
		@r = @{ requests('/retry-after/1/r') };
		is($summary->($d{ra}), 'dead/3/429', 'Retry-After: dead after http_max_attempts = 3 (reloaded), last_status 429');
		is(scalar @r, 3, 'Retry-After: the sink got 3 attempts');
		@g = gaps(@r);
		is(scalar(grep { $_ >= 0.999 } @g), 2, 'Retry-After: 1 -> every gap is at least 1 s although the base delay is 100 ms ('
			  . join(', ', map { sprintf '%.3f', $_ } @g) . ')');

		@r = @{ requests('/status/500/r') };
		is($summary->($d{e500}), 'dead/3/500', '500 forever: dead after 3 attempts, last_status 500');
		is(scalar @r, 3, '500 forever: the sink got 3 attempts');
		is($d{e500}{last_error}, 'HTTP 500', '500 forever: last_error HTTP 500');

		is($summary->($d{e404}), 'dead/1/404', '404: dead after 1 attempt');
		is(scalar @{ requests('/status/404/r') }, 1, '404: the sink got 1 request');

		is($summary->($d{redir}), 'dead/1/302', '302: dead after 1 attempt, last_status 302');
		like($d{redir}{last_error} // '', qr/redirect/i, "302: last_error says redirects are not followed ($d{redir}{last_error})");
		is(scalar @{ requests('/redirect/r') }, 1, '302: the sink got 1 request');
		is(scalar @{ requests('/ok/redirected') }, 0, '302: the redirect was not followed (no request to /ok/redirected)');

		@r = @{ requests('/hang/r') };
		is($summary->($d{hang}), 'dead/3/null', 'a hanging endpoint: dead after 3 attempts, no status');
		like($d{hang}{last_error} // '', qr/time(d)? ?out/i, "a hanging endpoint: last_error mentions the timeout ($d{hang}{last_error})");
		is(scalar @r, 3, 'a hanging endpoint: the sink got 3 attempts');
		@g = gaps(@r);
		is(scalar(grep { $_ >= $TIMEOUT_MS / 1000 } @g), 2,
			'a hanging endpoint: each retry came after the 1 s timeout (' . join(', ', map { sprintf '%.3f', $_ } @g) . ')');
		cmp_ok($d{hang}{duration_ms} // 0, '>=', $TIMEOUT_MS * 0.95, "a hanging endpoint: duration_ms of the last attempt is about the timeout ($d{hang}{duration_ms})");
		is(scalar(grep { defined $_->{next_attempt_at} } values %d), 0, 'no next_attempt_at once delivered or dead');
	});

##############################################################################
# 4. Order per webhook; a hanging webhook does not hold up the others
##############################################################################

timed(
	'part 4 (order)',
	sub {
		my $O = new_project('Order');
		my $todo = as($ann, "SELECT id FROM intracker.create_todo('$O', 'step 0')");
		wait_published();
		my $w_ord     = webhook($O, '/ok/ord-a');
		my $w_healthy = webhook($O, '/ok/ord-healthy');
		my $w_hang    = webhook($O, '/hang/ord');

		title_updates($todo, 1, 25);
		wait_settled('order, first 25', $w_ord => 25, $w_healthy => 25);
		wait_requests('/hang/ord', 1);
		my @hang = @{ requests('/hang/ord') };
		my @healthy = @{ requests('/ok/ord-healthy') };
		is(scalar @healthy, 25, 'the healthy webhook got its 25 deliveries');
		ok(@hang && $healthy[-1]{t} < $hang[0]{t} + $TIMEOUT_MS / 1000,
			sprintf('the healthy webhook got all 25 while the hanging one\'s first request was in flight (last at +%.3f s of %.1f s)',
				@hang ? ($healthy[-1]{t} - $hang[0]{t}, $TIMEOUT_MS / 1000) : (-1, 0)));
		my %hang_ids = map { delivery_id_of($_) => 1 } @hang;
		is(scalar keys %hang_ids, 1, 'the hanging webhook: only its first delivery was sent');
		is(as($ann, qq{SELECT count(*) FROM intracker.webhook_deliveries
                        WHERE webhook_id = '$w_hang' AND state = 'pending' AND attempts = 0
                          AND event_seq > (SELECT min(event_seq) FROM intracker.webhook_deliveries WHERE webhook_id = '$w_hang')}),
			24, 'the hanging webhook\'s 24 later deliveries wait behind its first, pending');
		as($ann, "SELECT FROM intracker.delete_webhook('$w_hang')");

		# A test device: the only way to make an endpoint start failing in
		# the middle of a stream.  The deliverer reads the URL when it loads.
		su("UPDATE intracker_data.webhooks SET url = '$sink->{url}/fail/2/ord-b' WHERE id = '$w_ord'");
		title_updates($todo, 26, 50);
		wait_settled('order, all 50', $w_ord => 50, $w_healthy => 50);

		my $dels = deliveries_of($w_ord);
		my %seq_of = map { $_->{id} => $_->{event_seq} } @$dels;
		my @seqs = map { $_->{event_seq} } @$dels;
		is(scalar @seqs, 50, 'the webhook has 50 deliveries');
		is(scalar(grep { $_->{state} ne 'delivered' } @$dels), 0, 'all 50 delivered');
		my @arrived = map { $seq_of{ delivery_id_of($_) } } grep { $seq_of{ delivery_id_of($_) } } @{ requests() };
		is_deeply(\@arrived, [ @seqs[0 .. 24], ($seqs[25]) x 3, @seqs[26 .. 49] ],
			'the sink got the deliveries in seq order: 1..25, 26 three times (500, 500, 200), 27..50; nothing overtook the retries');
		is_deeply([ map { $_->{attempts} } @$dels ], [ (1) x 25, 3, (1) x 24 ], 'attempts in the view: 3 for the 26th, 1 for the others');
		my %h_seq = map { $_->{id} => $_->{event_seq} } @{ deliveries_of($w_healthy) };
		is_deeply([ map { $h_seq{ delivery_id_of($_) } // 'stranger' } @{ requests('/ok/ord-healthy') } ], \@seqs,
			'the healthy webhook got the same 50 events, once each, in seq order');
	});

##############################################################################
# 5. Pause, resume, delete
##############################################################################

timed(
	'part 5 (pause, resume, delete)',
	sub {
		my $S       = new_project('Pause');
		my $w_pause = webhook($S, '/slow/300/pause');
		my $w_del   = webhook($S, '/slow/300/del');
		my $w_live  = webhook($S, '/ok/live');
		as($ann, "INSERT INTO intracker.todos (project_id, title) SELECT '$S', 'p' || i FROM generate_series(1, 6) AS i");
		wait_requests('/slow/300/pause', 1);
		wait_requests('/slow/300/del', 1);
		as($ann, "SELECT FROM intracker.set_webhook_active('$w_pause', false); SELECT FROM intracker.delete_webhook('$w_del')");
		my $t_paused = Time::HiRes::time();
		my $sent_before = scalar(grep { $_->{t} <= $t_paused } @{ requests('/slow/300/pause') });
		is(as($ann, "SELECT active FROM intracker.webhooks WHERE id = '$w_pause'"), 'f', 'set_webhook_active(false): the webhook is paused');

		# Events while paused: the live webhook gets them, the paused one not.
		my $todos = as($ann, "SELECT string_agg(id::text, ',') FROM intracker.todos WHERE project_id = '$S'");
		my ($a1, $a2) = split /,/, $todos;
		as($ann, "UPDATE intracker.todos SET title = 'while paused' WHERE id IN ('$a1', '$a2')");
		wait_settled('pause: the live webhook', $w_live => 8);
		# A fixed second on purpose, room for 3 more /slow/300 requests: the
		# check is that none is started, and nothing becomes true to poll for.
		usleep(50_000) while Time::HiRes::time() < $t_paused + 1.0;
		is(su("SELECT count(*) FROM intracker_data.deliveries WHERE webhook_id = '$w_pause'"), 6,
			'paused: the 2 events published while paused made no deliveries for it');

		# The deliverer held a chain of this webhook's deliveries when it was
		# paused: it must stop it (the request in flight may finish).
		my @late = grep { $_->{t} > $t_paused } @{ requests('/slow/300/pause') };
		is(scalar @late, 0, 'paused: no request was started after set_webhook_active(false) returned');
		is(su("SELECT count(*) FILTER (WHERE state = 'pending') FROM intracker_data.deliveries WHERE webhook_id = '$w_pause'"),
			6 - $sent_before, "paused: the $sent_before sent before the pause aside, its queued deliveries wait, pending");

		# delete_webhook: the deliveries are gone, and not sent.
		is(su("SELECT count(*) FROM intracker_data.deliveries WHERE webhook_id = '$w_del'"), 0,
			'delete_webhook removed its deliveries');
		is(as($ann, "SELECT count(*) FROM intracker.webhooks WHERE id = '$w_del'"), 0, 'delete_webhook removed the webhook');
		my @late_del = grep { $_->{t} > $t_paused } @{ requests('/slow/300/del') };
		is(scalar @late_del, 0, 'deleted: none of its pending deliveries was sent after delete_webhook returned');

		# Resume: the queued ones go out, in order; then new events again.
		as($ann, "SELECT FROM intracker.set_webhook_active('$w_pause', true)");
		wait_settled('resume', $w_pause => 6);
		as($ann, "UPDATE intracker.todos SET title = 'after resume' WHERE id = '$a1'");
		wait_settled('after resume', $w_pause => 7);
		my $dels = deliveries_of($w_pause);
		is(join(',', map { $_->{state} } @$dels), join(',', ('delivered') x 7), 'resumed: all 7 deliveries delivered');
		is_deeply([ map { delivery_id_of($_) } @{ requests('/slow/300/pause') } ], [ map { $_->{id} } @$dels ],
			'resumed: the sink got the 6 queued deliveries and the new one, once each, in seq order, and nothing of the paused time');
	});

##############################################################################
# 6. redeliver()
##############################################################################

timed(
	'part 6 (redeliver)',
	sub {
		my $orig = deliveries_of($w_signed)->[0];
		my $copy = $jb->decode(as($ann, "SELECT to_jsonb(r) FROM intracker.redeliver('$orig->{id}') r"));
		isnt($copy->{id}, $orig->{id}, 'redeliver(delivered): a new delivery with a new id');
		is($copy->{redelivery_of}, $orig->{id}, 'redeliver: redelivery_of names the original');
		is_deeply([ @$copy{qw(webhook_id event_seq event_type payload)} ], [ @$orig{qw(webhook_id event_seq event_type payload)} ],
			'redeliver: same webhook, event and payload');
		wait_settled('redeliver', $w_signed => 3);
		my @r = grep { delivery_id_of($_) eq $copy->{id} } @{ requests('/ok/signed') };
		is(scalar @r, 1, 'redeliver: the sink got one request with the new X-Intracker-Delivery');
		my $r = $r[0] // { headers => {} };
		ok(body_bytes($r) eq $orig->{payload}, 'redeliver: the same body arrived again');
		is($r->{headers}{'x-intracker-signature-256'}, 'sha256=' . hmac_sha256_hex($orig->{payload}, $SECRET),
			'redeliver: signed like the original');
		is($r->{headers}{'x-intracker-event'}, $orig->{event_type}, 'redeliver: the same X-Intracker-Event');
		my $orig_now = $jb->decode(as($ann, "SELECT to_jsonb(d) FROM intracker.webhook_deliveries d WHERE id = '$orig->{id}'"));
		is("$orig_now->{state}/$orig_now->{attempts}", 'delivered/1', 'redeliver: the original is unchanged');

		# A dead one can be redelivered too (it dies again: 404).
		my $dead = deliveries_of($w_404)->[0];
		my $copy2 = as($ann, "SELECT id FROM intracker.redeliver('$dead->{id}')");
		wait_settled('redeliver dead', $w_404 => 2);
		is_deeply([ map { delivery_id_of($_) } @{ requests('/status/404/r') } ], [ $dead->{id}, $copy2 ],
			'redeliver(dead): sent again with the new id');

		# Pending and failed: 55000.
		for my $c ([ failed => $d_stuck_failed ], [ pending => $d_stuck_pending ])
		{
			my ($ret, $out, $err) = psql_as($node, $db, $ann, "SELECT intracker.redeliver('$c->[1]')");
			is_sqlstate($err, '55000', "redeliver($c->[0]): 55000", $out);
			like($err, qr/still being delivered/, "redeliver($c->[0]): says it is still being delivered");
		}
		# Non-owners.
		for my $c ([ 'bob (editor)', $bob, '42501' ], [ 'carol (viewer)', $carol, '42501' ], [ 'dave (not a member)', $dave, 'PT404' ])
		{
			my ($ret, $out, $err) = psql_as($node, $db, $c->[1], "SELECT intracker.redeliver('$orig->{id}')");
			is_sqlstate($err, $c->[2], "redeliver as $c->[0]: $c->[2]", $out);
		}
		my ($ret, $out, $err) = psql_as($node, $db, $ann, "SELECT intracker.redeliver(gen_random_uuid())");
		is_sqlstate($err, 'PT404', 'redeliver of an unknown delivery: PT404', $out);
		is(su("SELECT count(*) FROM intracker_data.deliveries WHERE webhook_id = '$w_signed'"), 3,
			'the refused redeliveries created nothing');

		# Managing webhooks: owners only.
		($ret, $out, $err) = psql_as($node, $db, $bob, "SELECT intracker.create_webhook('$P1', 'http://127.0.0.1:1/x')");
		is_sqlstate($err, '42501', 'create_webhook as an editor: 42501', $out);
		($ret, $out, $err) = psql_as($node, $db, $bob, "SELECT intracker.set_webhook_active('$w_signed', false)");
		is_sqlstate($err, '42501', 'set_webhook_active as an editor: 42501', $out);
		($ret, $out, $err) = psql_as($node, $db, $carol, "SELECT intracker.delete_webhook('$w_signed')");
		is_sqlstate($err, '42501', 'delete_webhook as a viewer: 42501', $out);
		($ret, $out, $err) = psql_as($node, $db, $dave, "SELECT intracker.delete_webhook('$w_signed')");
		is_sqlstate($err, 'PT404', 'delete_webhook as a non-member: PT404', $out);
		is(su("SELECT active FROM intracker_data.webhooks WHERE id = '$w_signed'"), 't', 'the webhook is unchanged');
		as($ann, "SELECT FROM intracker.delete_webhook('$w_stuck')");
	});

##############################################################################
# 7. At-least-once across kill -9 and kill -TERM of the deliverer
##############################################################################

my $K = new_project('Crash');
my @w_k = (webhook($K, '/slow/5/k1'), webhook($K, '/slow/5/k2'));
my @k_paths = ('/slow/5/k1', '/slow/5/k2');

sub deliverer_pid
{
	my ($pid, $by_activity) = split /\|/, su(q{
SELECT coalesce(s.pid, 0), (SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE backend_type = 'intracker deliverer')
  FROM intracker.deliverer_status s});
	return ($pid, $by_activity // '');
}

# The cut between the old deliverer's requests and the new one's: the new
# one's start (the crash restart can take less than 0.1 s, so no fixed
# delay after the kill would do; the old process may also still start a
# request between the signal and its next check for interrupts).
sub new_deliverer_start
{
	my ($t_signal, $label) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $t = su('SELECT extract(epoch FROM started_at) FROM intracker.deliverer_status');
	cmp_ok($t, '>', $t_signal, "$label: the new deliverer started after the signal")
	  and diag(sprintf('%s: the new deliverer started %.3f s after the signal', $label, $t - $t_signal));
	return $t;
}

# Check one webhook's stream after a crash at $t_cut: every delivery arrived,
# first arrivals in seq order, duplicates only for the last deliveries that
# arrived before the cut.
sub check_stream
{
	my ($label, $w, $path, $t_cut, $first_seq) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $dels = [ grep { $_->{event_seq} >= $first_seq } @{ deliveries_of($w) } ];
	my %mine = map { $_->{id} => 1 } @$dels;
	my @reqs = grep { $mine{ delivery_id_of($_) } } @{ requests($path) };
	my (%arrivals, @first);
	for my $r (@reqs)
	{
		my $id = delivery_id_of($r);
		push @first, $id unless $arrivals{$id};
		push @{ $arrivals{$id} }, $r->{t};
	}
	is(scalar(grep { $_->{state} ne 'delivered' } @$dels), 0, "$label: all " . scalar(@$dels) . ' deliveries are delivered');
	is(scalar(grep { !$arrivals{ $_->{id} } } @$dels), 0, "$label: every delivery reached the sink");
	is_deeply(\@first, [ map { $_->{id} } @$dels ], "$label: first arrivals are in seq order");

	my @dups = grep { @{ $arrivals{$_} } > 1 } @first;
	my @bad = grep {
		my @t = @{ $arrivals{$_} };
		@t > 2 || $t[0] >= $t_cut || $t[1] <= $t_cut
	} @dups;
	is(scalar @bad, 0, "$label: a duplicate arrived once before the cut and once after it, never more");
	diag("arrivals relative to the cut:\n"
		  . join("\n", map { sprintf '%s %+.4f', delivery_id_of($_), $_->{t} - $t_cut } grep { abs($_->{t} - $t_cut) < 0.5 } @reqs))
	  if @bad;
	# The duplicates are the tail of what arrived before the cut.
	my @before = grep { $arrivals{$_}[0] < $t_cut } @first;
	my @tail = @before[ @before - @dups .. $#before ];
	is_deeply(\@dups, \@tail, "$label: the duplicates are the last deliveries that arrived before the cut");
	cmp_ok(scalar @dups, '<=', $CHAIN + 1, "$label: at most a chain's worth of duplicates (" . scalar(@dups) . ')');
	diag("$label: " . scalar(@before) . ' delivered before the cut, ' . scalar(@dups) . ' sent twice');
	return scalar @dups;
}

timed(
	'part 7a (kill -9 of the deliverer)',
	sub {
		my $N = 2000;
		my $first_seq = max_seq() + 1;
		my $r0 = scalar @{ requests() };
		as($ann, "INSERT INTO intracker.todos (project_id, title) SELECT '$K', 'k' || i FROM generate_series(1, $N) AS i");
		# Let a quarter of the stream through, then kill.
		my $until = Time::HiRes::time() + 60;
		usleep(20_000) while scalar @{ requests() } < $r0 + $N / 2 && Time::HiRes::time() < $until;
		my ($pid, $by_activity) = deliverer_pid();
		is($by_activity, $pid, 'kill -9: pg_stat_activity shows the deliverer of deliverer_status');
		my $offset = -s $node->logfile;
		my $t_kill = Time::HiRes::time();
		kill 'KILL', $pid or die "could not kill $pid: $!";
		$node->wait_for_log(qr/all server processes terminated; reinitializing/, $offset);
		$node->poll_query_until($db, "SELECT pid IS NOT NULL AND pid <> $pid FROM intracker.deliverer_status")
		  or diag('deliverer_status: ' . su('SELECT * FROM intracker.deliverer_status'));
		wait_settled('kill -9', $w_k[0] => $N, $w_k[1] => $N);
		like(slurp_file($node->logfile, $offset),
			qr/background worker "intracker deliverer" \(PID $pid\) was terminated by signal 9/,
			'kill -9: the server log shows the deliverer killed and the crash restart');
		my ($new_pid, $new_by_activity) = deliverer_pid();
		isnt($new_pid, $pid, 'kill -9: a new deliverer runs');
		my $t_cut = new_deliverer_start($t_kill, 'kill -9');
		is($new_by_activity, $new_pid, 'kill -9: pg_stat_activity shows the new deliverer');
		check_stream("kill -9, webhook $_", $w_k[ $_ - 1 ], $k_paths[ $_ - 1 ], $t_cut, $first_seq) for 1, 2;
	});

timed(
	'part 7b (kill -TERM of the deliverer)',
	sub {
		my $N = 400;
		my $first_seq = max_seq() + 1;
		my $r0 = scalar @{ requests() };
		my $publisher = su('SELECT pid FROM intracker.worker_status');
		as($ann, "INSERT INTO intracker.todos (project_id, title) SELECT '$K', 'term' || i FROM generate_series(1, $N) AS i");
		my $until = Time::HiRes::time() + 60;
		usleep(20_000) while scalar @{ requests() } < $r0 + $N / 2 && Time::HiRes::time() < $until;
		my ($pid) = deliverer_pid();
		my $offset = -s $node->logfile;
		my $t_term = Time::HiRes::time();
		kill 'TERM', $pid or die "could not signal $pid: $!";
		$node->poll_query_until($db, "SELECT pid IS NOT NULL AND pid <> $pid FROM intracker.deliverer_status")
		  or diag('deliverer_status: ' . su('SELECT * FROM intracker.deliverer_status'));
		wait_settled('kill -TERM', $w_k[0] => 2000 + $N, $w_k[1] => 2000 + $N);
		my ($new_pid, $by_activity) = deliverer_pid();
		isnt($new_pid, $pid, 'kill -TERM: the supervisor started a new deliverer');
		my $t_cut = new_deliverer_start($t_term, 'kill -TERM');
		is($by_activity, $new_pid, 'kill -TERM: pg_stat_activity shows the new deliverer');
		is(su('SELECT pid FROM intracker.worker_status'), $publisher, 'kill -TERM: no crash restart (the publisher kept its pid)');
		my $log = slurp_file($node->logfile, $offset);
		like($log, qr/terminating background worker "intracker deliverer" due to administrator command/,
			'kill -TERM: the deliverer logged its termination');
		unlike($log, qr/reinitializing/, 'kill -TERM: the postmaster did not reinitialize');
		check_stream("kill -TERM, webhook $_", $w_k[ $_ - 1 ], $k_paths[ $_ - 1 ], $t_cut, $first_seq) for 1, 2;
	});

##############################################################################
# 8. intracker.http_allowed_hosts
##############################################################################

timed(
	'part 8 (allow-list)',
	sub {
		my $A       = new_project('Allow');
		my $w_allow = webhook($A, '/ok/allow');
		su(q{ALTER SYSTEM SET intracker.http_allowed_hosts = 'example.com'; SELECT pg_reload_conf()});
		$node->poll_query_until($db, q{SELECT current_setting('intracker.http_allowed_hosts') = 'example.com'})
		  or die 'the reload did not take';

		my ($ret, $out, $err) = psql_as($node, $db, $ann,
			"SELECT intracker.create_webhook('$A', '$sink->{url}/ok/denied')");
		is_sqlstate($err, '42501', 'create_webhook to 127.0.0.1 with http_allowed_hosts = example.com: 42501', $out);
		like($err, qr/not in intracker\.http_allowed_hosts/, 'the error names intracker.http_allowed_hosts');
		($ret, $out, $err) = psql_as($node, $db, $ann,
			"SELECT intracker.create_webhook('$A', 'https://api.example.com/hook')");
		is_sqlstate($err, '42501', 'a subdomain is not allowed by "example.com" alone: 42501', $out);
		my $other = new_project('Allow, no events');
		($ret, $out, $err) = psql_as($node, $db, $ann,
			"SELECT FROM intracker.delete_webhook((intracker.create_webhook('$other', 'https://example.com/hook')).id)");
		is($err, '', 'create_webhook to example.com is allowed');

		as($ann, "SELECT FROM intracker.create_todo('$A', 'denied')");
		wait_settled('allow-list', $w_allow => 1);
		my $d = deliveries_of($w_allow)->[0] // {};
		is(join('/', $d->{state} // '?', $d->{attempts} // '?', $d->{last_status} // 'null'), 'dead/1/null',
			'a webhook created before the allow-list: its delivery is dead without an HTTP status');
		is($d->{last_error}, 'host "127.0.0.1" is not in intracker.http_allowed_hosts', 'last_error is the allow-list message');
		is(scalar @{ requests('/ok/allow') }, 0, 'the sink never saw it');

		su(q{ALTER SYSTEM RESET intracker.http_allowed_hosts; SELECT pg_reload_conf()});
		$node->poll_query_until($db, q{SELECT current_setting('intracker.http_allowed_hosts') = ''})
		  or die 'the reload did not take';
		my $copy = as($ann, "SELECT id FROM intracker.redeliver('$d->{id}')");
		wait_settled('allow-list reset', $w_allow => 2);
		is_deeply([ map { delivery_id_of($_) } @{ requests('/ok/allow') } ], [$copy],
			'after RESET the redelivered delivery reaches the sink (the list is checked at request time)');
	});

##############################################################################
# The whole run
##############################################################################

is(scalar @{ requests('/ok/redirected') }, 0, 'no redirect was ever followed');
{
	my @strangers = grep { delivery_id_of($_) !~ /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/ } @{ requests() };
	is(scalar @strangers, 0, 'every request the sink got carried an X-Intracker-Delivery uuid');
	my @warnings = slurp_file($node->logfile) =~ /^(.*WARNING:\s+intracker deliverer: .*)$/mg;
	is(join("\n", @warnings), '', 'no deliverer round failed (no "intracker deliverer:" WARNING in the log)');
}
is($sink->{stop}->(), 0, 'the sink exited cleanly');
$node->stop;
diag(sprintf('011_webhook_delivery: %.1f s in all', tv_interval($t_all)));
done_testing();
