# 026_mcp_sdk_clients.pl — intracker-mcp driven by the official MCP
# TypeScript SDKs from npm (issue 15): the 1.x client (@modelcontextprotocol/sdk,
# the initialize handshake) and the 2.x client (@modelcontextprotocol/client,
# negotiating the stateless revision 2026-07-28).  The JavaScript tests are
# in test/mcp/*.test.mjs; this file gives them a cluster (the publisher
# preloaded, so that NOTIFYs flow), users, projects and tokens, runs them
# with node's test runner, and reports each of them as one assertion.
#
# Node.js and the locked npm packages are installed by test/bin/install-deps.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run qw(run timeout);
use JSON::PP;
use IntrackerTest;

my $tests_dir = 'test/mcp';
-d "$tests_dir/node_modules/\@modelcontextprotocol"
  or BAIL_OUT("$tests_dir/node_modules is missing: run test/bin/install-deps (it runs npm ci there)");

my $node = new_node('sdk');
install_extension($node, 'postgres');
create_test_roles($node);

sub su { return $node->safe_psql('postgres', $_[0]) }
my %user = map { $_ => su("SELECT id FROM intracker.create_user('$_\@example.com', '\u$_', 'agent')") } qw(ann bob carl);
sub token_of
{
	my ($who, $read_only) = @_;
	return su("SELECT intracker.act_as('$user{$who}') \\gset\n"
		  . "SELECT token FROM intracker.create_api_token('sdk', read_only => " . ($read_only ? 'true' : 'false') . ')');
}

# One project per group of tests, so that their claims do not meet; ann owns
# them, bob is an editor.  carl's project is one ann and bob are not in.
my %projects;
for my $name (qw(tools_legacy tools_modern live_legacy live_modern claims reconnect))
{
	$projects{$name} = safe_psql_as($node, 'postgres', $user{ann}, "SELECT id FROM intracker.create_project('$name')");
	safe_psql_as($node, 'postgres', $user{ann}, "SELECT intracker.add_member('$projects{$name}', '$user{bob}', 'editor')");
}
my $foreign = safe_psql_as($node, 'postgres', $user{carl}, "SELECT id FROM intracker.create_project('Carl''s')");

my $bindir = `pg_config --bindir`;
chomp($bindir);

local $ENV{INTRACKER_MCP} = "$bindir/intracker-mcp";
local $ENV{INTRACKER_DATABASE_URL} = $node->connstr('postgres') . ' user=tracker_agent';
local $ENV{MCP_SUPERUSER_URL} = $node->connstr('postgres');
local $ENV{MCP_TOKEN_ANN} = token_of('ann');
local $ENV{MCP_TOKEN_BOB} = token_of('bob');
local $ENV{MCP_TOKEN_READER} = token_of('ann', 1);
local $ENV{MCP_USERS} = encode_json(\%user);
local $ENV{MCP_PROJECTS} = encode_json(\%projects);
local $ENV{MCP_FOREIGN_PROJECT} = $foreign;
local $ENV{PG_CTL} = "$bindir/pg_ctl";
local $ENV{PG_DATA} = $node->data_dir;
local $ENV{PG_LOG} = $node->logfile;

# The reconnect test restarts the server: the files run one at a time.
my @files = sort glob("$tests_dir/*.test.mjs");
my ($out, $err) = ('', '');
run([ 'node', '--test', '--test-concurrency=1', '--test-timeout=60000', "--test-reporter=./$tests_dir/reporter.mjs", @files ],
	'>', \$out, '2>', \$err, timeout(5 * $PostgreSQL::Test::Utils::timeout_default));
my $exit = $? >> 8;

my $reported = 0;
while ($out =~ /^(PASS|FAIL) ([^\n]*)\n((?:  [^\n]*\n)*)/mg)
{
	my ($verdict, $name, $why) = ($1, $2, $3);
	$reported++;
	ok($verdict eq 'PASS', $name) or diag($why);
}
ok($reported > 0, 'the JavaScript tests ran') or diag("node said:\n$out\n$err");
is($exit, 0, 'node --test exits 0') or diag("stderr:\n$err");

done_testing();
