# 021_http_private_networks.pl — intracker.http_allow_private_networks (0.6):
# no webhook and no GitHub call reaches the server's own network unless a
# superuser allows it, whatever form the address takes.
#
# One server preloads intracker with intracker.database = 'tracker'; the
# HTTP sink (test/helpers/http_sink.c) listens on 127.0.0.1 and, where the
# machine has IPv6 loopback, on [::1], the same port.  Every API call is
# made by a non-superuser acting as an intracker user (tracker_admin,
# act_as); the superuser changes the setting (ALTER SYSTEM + reload) and
# reads intracker_data for the checks.  A webhook per form of a local
# address, each on its own path of the sink:
#
#     127.0.0.1, 2130706433, 0x7f.1, 127.1, 017700000001, 0.0.0.0,
#     [::ffff:127.0.0.1], localhost (a name), and with IPv6 [::1], [::]
#
# plus 127.0.0.1:<a closed port>.
#
#   1. Switch on: every form reaches the sink (the closed port fails to
#      connect, and says so).
#   2. Switch off: the next event's deliveries to every form are dead at the
#      first attempt without an HTTP status, last_error exactly "refused by
#      policy (...)" for all of them, the closed port included (no
#      difference between an open and a closed port, no connect error), and
#      the sink receives nothing.  The libcurl connections of part 1 are
#      still open and are not reused.  localhost is a name: create_webhook
#      accepts it, the deliverer refuses the address it resolves to (the
#      connect-time check).  A literal local address in any of the forms is
#      refused by create_webhook (42501, "refused by policy").  Listing
#      localhost in intracker.http_allowed_hosts does not let it through
#      (the allow-list is checked as well, not instead).
#   3. GitHub calls likewise: intracker.github_api_url at the sink
#      (127.0.0.1, and localhost): create_github_issue's call is dead,
#      refused by policy, the sink sees nothing; switched on, redelivered,
#      the issue is created.
#   4. Switch on again: a new event reaches every form.
#
# Waits are polls with generous timeouts; nothing timed is asserted.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IO::Socket::IP;
use IO::Socket::INET;
use Time::HiRes qw(usleep);
use IntrackerTest;

my $db = 'tracker';
my $REFUSED = 'refused by policy (intracker.http_allow_private_networks is off)';

my $ipv6 = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0, Listen => 1);
close($ipv6) if $ipv6;
my $sink = start_http_sink(log => 1, ipv6 => $ipv6 ? 1 : 0);
my $port = $sink->{port};

# A port nothing listens on: bound and closed again.
my $closed_port = do {
	my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die "no port: $!";
	my $p = $s->sockport;
	close($s);
	$p;
};

my $node = delivery_node('private_networks', $db, <<"EOC");
intracker.http_retry_base_delay = '100ms'
intracker.http_max_attempts = 2
intracker.http_timeout = '2s'
EOC

sub su { return $node->safe_psql($db, $_[0]) }

my $u = create_users($node, $db, ann => 'human', ed => 'human');
my ($ann, $ed) = @$u{qw(ann ed)};

sub as { my ($who, $sql) = @_; return safe_psql_as($node, $db, $who, $sql) }

sub requests_to
{
	my ($path) = @_;
	return scalar grep { $_->{path} eq $path } @{ $sink->{requests}->() };
}

# The forms of a local address, each with the path its webhook posts to.
my @forms = (
	[ '127.0.0.1',          'dotted' ],
	[ '2130706433',         'one-number' ],
	[ '0x7f.1',             'hex' ],
	[ '127.1',              'short' ],
	[ '017700000001',       'octal' ],
	[ '0.0.0.0',            'unspecified' ],
	[ '[::ffff:127.0.0.1]', 'ipv4-mapped' ],
	[ 'localhost',          'name' ]);
push @forms, [ '[::1]', 'ipv6-loopback' ], [ '[::]', 'ipv6-unspecified' ] if $ipv6;
diag('no IPv6 loopback here: [::1] and [::] are not tried') unless $ipv6;

my $P = as($ann, "SELECT id FROM intracker.create_project('Local')");
wait_until_published($node, $db);
my %hook;
for my $f (@forms)
{
	my ($host, $name) = @$f;
	$hook{$name} = as($ann,
		"SELECT id FROM intracker.create_webhook('$P', 'http://$host:$port/ok/$name', '{todo.*}')");
}
my $closed = as($ann, "SELECT id FROM intracker.create_webhook('$P', 'http://127.0.0.1:$closed_port/ok/closed', '{todo.*}')");

# One todo event; wait until every webhook's delivery for it is finished.
my $round = 0;
sub todo_event
{
	my $title = 'event ' . ++$round;
	my $todo = as($ann, "SELECT id FROM intracker.create_todo('$P', '$title')");
	wait_until_published($node, $db);
	my $seq = su("SELECT max(seq) FROM intracker_data.events WHERE entity_id = '$todo'");
	$node->poll_query_until($db, qq{
SELECT count(*) = 0 FROM intracker_data.deliveries
 WHERE project_id = '$P' AND event_seq = $seq AND state IN ('pending', 'failed')})
	  or die "the deliveries of $title did not finish";
	return $seq;
}

# The delivery of event $seq to webhook $w: "state/attempts/status/error".
sub outcome
{
	my ($w, $seq) = @_;
	return su(qq{SELECT concat_ws('/', state, attempts, coalesce(last_status::text, 'none'), last_error)
                   FROM intracker_data.deliveries WHERE webhook_id = '$w' AND event_seq = $seq});
}

##############################################################################
# 1. Switch on: every form arrives
##############################################################################

my $seq = todo_event();
for my $f (@forms)
{
	my ($host, $name) = @$f;
	is(outcome($hook{$name}, $seq), 'delivered/1/200', "switch on: $host is delivered");
	is(requests_to("/ok/$name"), 1, "switch on: the sink got the request to $host");
}
like(outcome($closed, $seq), qr{^dead/2/none/Couldn't connect to server},
	'switch on: a closed port fails to connect, and the error says so');

##############################################################################
# 2. Switch off: refused by policy, the sink gets nothing
##############################################################################

reload_setting($node, $db, 'intracker.http_allow_private_networks', 'off');
my $before = scalar @{ $sink->{requests}->() };
$seq = todo_event();
for my $f (@forms)
{
	my ($host, $name) = @$f;
	is(outcome($hook{$name}, $seq), "dead/1/none/$REFUSED",
		"switch off: $host is dead at once, refused by policy" . ($name eq 'name' ? ' (the address it resolves to)' : ''));
}
is(outcome($closed, $seq), "dead/1/none/$REFUSED",
	'switch off: a closed port gets exactly the same error (nothing tells open from closed)');
is(scalar @{ $sink->{requests}->() }, $before, 'switch off: the sink received nothing (not even on the connections still open)');

# create_webhook: literal local addresses are refused, a name is not.
for my $f (grep { $_->[1] ne 'name' } @forms)
{
	my ($host) = @$f;
	my ($ret, $out, $err) = psql_as($node, $db, $ann,
		"SELECT intracker.create_webhook('$P', 'http://$host:$port/ok/new')");
	is_sqlstate($err, '42501', "switch off: create_webhook to $host is 42501", $out);
	like($err, qr/refused by policy/, "... refused by policy");
}
my $late = as($ann, "SELECT id FROM intracker.create_webhook('$P', 'http://localhost:$port/ok/late', '{todo.*}')");
ok($late, 'switch off: create_webhook to localhost (a name) is accepted');

# The allow-list is checked as well, not instead.
reload_setting($node, $db, 'intracker.http_allowed_hosts', 'localhost');
$seq = todo_event();
is(outcome($late, $seq), "dead/1/none/$REFUSED",
	'switch off, localhost in intracker.http_allowed_hosts: still refused by policy');
is(requests_to('/ok/late'), 0, '... and the sink got nothing');
reload_setting($node, $db, 'intracker.http_allowed_hosts', undef);

##############################################################################
# 3. GitHub calls
##############################################################################

my $G = as($ann, "SELECT id FROM intracker.create_project('Sync', github_repo => 'o/r')");
as($ann, "SELECT FROM intracker.add_member('$G', '$ed', 'editor')");
as($ann, "SELECT FROM intracker.set_github_token('$G', 'ghp_token')");
my $call_state = sub {
	my ($call) = @_;
	$node->poll_query_until($db, "SELECT state IN ('delivered', 'dead') FROM intracker.github_calls WHERE id = '$call'")
	  or die "call $call did not finish";
	return su(qq{SELECT concat_ws('/', state, attempts, coalesce(last_status::text, 'none'), last_error)
                   FROM intracker.github_calls WHERE id = '$call'});
};
my %call;
for my $api ([ '127.0.0.1', "http://127.0.0.1:$port/gh" ], [ 'localhost', "http://localhost:$port/gh" ])
{
	reload_setting($node, $db, 'intracker.github_api_url', $api->[1]);
	my $before_gh = scalar @{ $sink->{requests}->() };
	my $todo = as($ed, "SELECT id FROM intracker.create_todo('$G', 'Issue via $api->[0]')");
	$call{ $api->[0] } = as($ed, "SELECT id FROM intracker.create_github_issue('$todo')");
	is($call_state->($call{ $api->[0] }), "dead/1/none/$REFUSED",
		"switch off, github_api_url at $api->[0]: the create_issue call is dead, refused by policy");
	is(scalar @{ $sink->{requests}->() }, $before_gh, '... and the sink got nothing');
}
reload_setting($node, $db, 'intracker.http_allow_private_networks', 'on');
my $copy = as($ed, "SELECT id FROM intracker.redeliver('$call{localhost}')");
is($call_state->($copy), 'delivered/1/201', 'switch on: the redelivered call creates the issue (201)');
is(scalar(grep { $_->{path} eq '/gh/repos/o/r/issues' } @{ $sink->{requests}->() }), 1,
	'... the sink got it once');

##############################################################################
# 4. Switch on again: every form arrives
##############################################################################

$seq = todo_event();
for my $f (@forms)
{
	my ($host, $name) = @$f;
	is(outcome($hook{$name}, $seq), 'delivered/1/200', "switch on again: $host is delivered");
	is(requests_to("/ok/$name"), 2, "switch on again: the sink got its second request to $host");
}

my @warnings = slurp_file($node->logfile) =~ /^(.*WARNING:\s+intracker deliverer: .*)$/mg;
is(join("\n", @warnings), '', 'no deliverer round failed');
is($sink->{stop}->(), 0, 'the sink exited cleanly');
$node->stop;
done_testing();
