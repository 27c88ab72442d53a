# 030_monitoring.pl — intracker's metrics as Prometheus sees them (issue 17).
#
#   A. The shipped alert rules: `promtool check rules`, and `promtool test
#      rules` on test/monitoring/intracker-alerts-test.yml (each alert fires
#      when it should and stays silent when it should not).
#   B. Debian's prometheus-postgres-exporter, started against a test
#      cluster with the shipped queries file as a pg_monitor role, scraped
#      over HTTP after a scripted scenario: events published, deliveries to
#      a local sink (one webhook answering 200, one 500 until it dies and is
#      disabled), a stale write, a claim, an automatic assignment, a counter
#      made wrong (found by the publisher's periodic check).  The scraped
#      intracker metrics have the values the scenario implies.
#   C. health() through the same scenario: degraded by the disabled webhook,
#      ok again once it is enabled; degraded when the workers serve another
#      database, down when they cannot start in theirs.
#
# No timing is asserted; every wait is a poll.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HTTP::Tiny;
use IPC::Run;
use IntrackerTest;

my $src = $ENV{INTRACKER_SRC} // '.';

##############################################################################
# A. The alert rules
##############################################################################

my $rules = "$src/src/monitoring/intracker-alerts.yml";
command_like([ 'promtool', 'check', 'rules', $rules ], qr/SUCCESS: 7 rules found/, 'promtool check rules: the 7 rules are valid');
command_like([ 'promtool', 'test', 'rules', "$src/test/monitoring/intracker-alerts-test.yml" ], qr/SUCCESS/,
	'promtool test rules: each alert fires when it should, and only then');

##############################################################################
# B. The exporter
##############################################################################

my $db = 'tracker';
my $sink = start_http_sink();
my $node = delivery_node('monitoring', $db, <<"EOC");
intracker.http_max_attempts = 1
intracker.counter_check_interval = 1
intracker.webhook_disable_after_dead = 2
intracker.webhook_disable_after_failing = 0
EOC
sub su { return $node->safe_psql($db, $_[0]) }
su('CREATE ROLE monitor LOGIN IN ROLE pg_monitor');

my $u = create_users($node, $db, ann => 'human', bob => 'agent');
my ($ann, $bob) = @$u{qw(ann bob)};
sub as { my ($who, $sql) = @_; return safe_psql_as($node, $db, $who, $sql) }

my $P = as($ann, "SELECT id FROM intracker.create_project('Watched')");
as($ann, "SELECT FROM intracker.add_member('$P', '$bob', 'editor')");
as($ann, "SELECT FROM intracker.create_webhook('$P', '$sink->{url}/ok/hook', '{todo.*}')");
my $dying = as($ann, "SELECT id FROM intracker.create_webhook('$P', '$sink->{url}/status/500/hook', '{todo.*}')");
my $todo = as($ann, "SELECT id FROM intracker.create_todo('$P', 'First')");
as($ann, "SELECT FROM intracker.create_todo('$P', 'Second')");
as($ann, "SELECT FROM intracker.create_todo('$P', 'Third', priority => 'high')");
my ($rc, $out, $err) = psql_as($node, $db, $ann, "SELECT intracker.update_todo('$todo', '{\"title\": \"stale\"}', 9)");
like($err, qr/PT409/, 'a stale write is rejected');
as($bob, "SELECT FROM intracker.claim_next_todo('$P')");
as($ann, "SELECT FROM intracker.assign_todo('$todo')");
as($ann, "SELECT FROM intracker.assign_todo('$todo', '$bob')");	# named: no automatic assignment
wait_until_published($node, $db);
ok($node->poll_query_until($db, "SELECT disabled_at IS NOT NULL FROM intracker_data.webhooks WHERE id = '$dying'"),
	'the webhook answering 500 dies and is disabled');
ok($node->poll_query_until($db, "SELECT count(*) >= 3 FROM intracker_data.deliveries WHERE state = 'delivered'"),
	'the other one gets its deliveries');

# The publisher checks the counters every second, a project per idle
# round (two projects here): none differs; one made wrong (as a bug would)
# is found by the next sweep.
as($bob, "SELECT FROM intracker.create_project('Bob''s own')");
ok($node->poll_query_until($db, "SELECT value = 0 FROM intracker.metrics WHERE name = 'intracker_counters_drifted'"),
	'the counter check finds no drift');
su("UPDATE intracker_data.member_load SET open_points = open_points + 5 WHERE user_id = '$bob'");
ok($node->poll_query_until($db, "SELECT value > 0 FROM intracker.metrics WHERE name = 'intracker_counters_drifted'"),
	'a counter made wrong is found by the next check');

# The exporter, as the monitoring role, with the queries file installed
# with the extension.
my $queries = `pg_config --sharedir`;
chomp $queries;
$queries .= '/extension/intracker-exporter-queries.yml';
ok(-f $queries, 'the queries file is installed with the extension');
my $port = PostgreSQL::Test::Cluster::get_free_port();
my ($exporter_out, $exporter_err) = ('', '');
local $ENV{DATA_SOURCE_NAME} = $node->connstr($db) . ' user=monitor sslmode=disable';
my $exporter = IPC::Run::start(
	[ 'prometheus-postgres-exporter', "--web.listen-address=127.0.0.1:$port", "--extend.query-path=$queries",
		'--disable-default-metrics', '--disable-settings-metrics' ],
	'<', '/dev/null', '>', \$exporter_out, '2>', \$exporter_err);
my $http = HTTP::Tiny->new(timeout => 10);

# One scrape: { "name{labels}" => value } of the intracker metrics.
sub scrape
{
	my $response = $http->get("http://127.0.0.1:$port/metrics");
	return undef unless $response->{success};
	my %samples;
	for (split /\n/, $response->{content})
	{
		next unless /^(intracker_\w+)(?:\{([^}]*)\})?\s+(\S+)$/;
		my ($name, $labels, $value) = ($1, $2 // '', $3);
		my %l = $labels =~ /(\w+)="([^"]*)"/g;
		delete $l{server};    # the exporter's own label
		my $key = $name . (%l ? '{' . join(',', map { "$_=$l{$_}" } sort keys %l) . '}' : '');
		$samples{$key} = $value + 0;
	}
	return \%samples;
}
my $samples;
for (1 .. 200)
{
	$samples = scrape();
	last if $samples && exists $samples->{intracker_publisher_up};
	Time::HiRes::sleep(0.1);
}
ok($samples && exists $samples->{intracker_publisher_up}, 'the exporter serves the intracker metrics over HTTP')
  or diag("exporter stderr: $exporter_err");
$samples //= {};
is($samples->{intracker_publisher_up}, 1, 'intracker_publisher_up 1');
is($samples->{intracker_deliverer_up}, 1, 'intracker_deliverer_up 1');
is($samples->{intracker_events_published_total}, su('SELECT max(seq) FROM intracker_data.events'),
	'intracker_events_published_total is the last published seq');
is($samples->{intracker_events_unpublished}, 0, 'intracker_events_unpublished 0');
is($samples->{'intracker_conflicts_total{entity=todo}'}, 1, 'intracker_conflicts_total{entity="todo"} 1');
is($samples->{intracker_claims_total}, 1, 'intracker_claims_total 1');
is($samples->{intracker_automatic_assignments_total}, 1, 'intracker_automatic_assignments_total 1 (the named assignment counts none)');
is($samples->{intracker_webhooks_disabled}, 1, 'intracker_webhooks_disabled 1');
cmp_ok($samples->{'intracker_deliveries_finished_total{outcome=dead}'} // 0, '>=', 2,
	'intracker_deliveries_finished_total{outcome="dead"}: the dying webhook\'s');
cmp_ok($samples->{'intracker_deliveries_finished_total{outcome=delivered}'} // 0, '>=', 3,
	'intracker_deliveries_finished_total{outcome="delivered"}: the other one\'s');
ok(defined $samples->{'intracker_delivery_duration_seconds{quantile=0.5}'}
	  && defined $samples->{'intracker_delivery_lag_seconds{quantile=0.99}'},
	'delivery duration and lag quantiles');
cmp_ok($samples->{intracker_counters_drifted} // 0, '>', 0, 'intracker_counters_drifted: the counter made wrong');
is(scalar(grep { /[0-9a-f]{8}-[0-9a-f]{4}-/ } keys %$samples), 0, 'no label names a project or a user');

##############################################################################
# C. health()
##############################################################################

my $health = as($bob, "SELECT intracker.health()::text");
like($health, qr/"status": "degraded"/, 'health(): degraded, with a webhook disabled');
like($health, qr/"webhooks": \{"state": "degraded", "reason": "1 webhooks were disabled after failing"\}/, '... saying why');
as($ann, "SELECT FROM intracker.set_webhook_active('$dying', true)");
like(as($bob, "SELECT intracker.health()::text"), qr/"status": "ok"/, 'ok once it is enabled again');

# Without its workers: serving another database, the publisher is not this
# database's (degraded: events are published when read); meant to serve
# this one but unable to start (no background worker slot), it is down.
$exporter->signal('TERM');
$exporter->finish;
$node->append_conf('postgresql.conf', "intracker.database = 'elsewhere'\n");
$node->restart;
my $checks = as($bob, "SELECT intracker.health()::text");
like($checks, qr/"status": "degraded"/, 'serving another database: degraded');
like($checks, qr/events are published when read/, '... saying so');
$node->append_conf('postgresql.conf', "intracker.database = '$db'\nmax_worker_processes = 0\n");
$node->restart;
$checks = as($bob, "SELECT intracker.health()::text");
like($checks, qr/"status": "down"/, 'no publisher where there should be one: down');
like($checks, qr/the publisher is not running/, '... saying so');

$node->stop;
done_testing();
