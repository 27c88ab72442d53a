# 025_mcp_server.pl — intracker-mcp, the MCP server, driven over stdio as a
# client would (issue 15, first step).  The server connects as
# tracker_agent (only intracker_user) and proves who it is with an API token.
#
#   A. Start-up: no token, a bad token, an unreachable database: a message
#      on stderr and a non-zero exit, nothing on stdout.  A connection lost
#      while starting (a restart then): tried again, and the server starts.
#   B. initialize (the version asked for, or the latest), ping, tools/list
#      (schemas derived from the SQL functions, annotations, pagination),
#      logging/setLevel, unknown methods.
#   C. Tools: create, claim, update with a stale version (PT409 as a tool
#      error naming the current version, then the retry), errors of the SQL
#      API as isError results, bad arguments as -32602; a NOTICE forwarded
#      as notifications/message.  The resume_work prompt; resources (templates,
#      list, read, not found).
#   D. Two agents (two server processes, two tokens) claiming from one
#      project in turns never get the same todo.
#   E. Read-only: --read-only, and a read-only token, offer and run only the
#      reading tools.
#   F. A call blocked on a lock: ping is answered meanwhile, and
#      notifications/cancelled cancels the query (no response for it).
#   G. Bad input: not JSON, not an object, a batch, a 17 MB line, deep
#      nesting, invalid UTF-8: each answered, and the server goes on; end of
#      input: exit 0.
#   I. The connection is lost and cannot be made for a while: calls
#      meanwhile are tool errors at once (08006), then the server reconnects
#      and authenticates again.
#   J. The stateless revision 2026-07-28 on the wire (server/discover, the
#      per-request _meta, stamped results, -32022), subscriptions/listen and
#      resources/subscribe (announced, coalesced, cancelled), wait_for_events
#      (parked while other calls run, woken, timed out, cancelled).
#   H. A whole session under valgrind, the live parts included: no error,
#      nothing definitely lost.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run qw(start pump finish timeout);
use Time::HiRes qw(usleep);
use JSON::PP;
use IntrackerTest;

my $json = JSON::PP->new->canonical;
my $node = new_node('mcp');
install_extension($node, 'postgres');
create_test_roles($node);

# make install puts it beside psql
my $bindir = `pg_config --bindir`;
chomp($bindir);
my $binary = "$bindir/intracker-mcp";

sub su { return $node->safe_psql('postgres', $_[0]) }
my %user = map { $_ => su("SELECT id FROM intracker.create_user('$_\@example.com', '\u$_', 'agent')") } qw(ann bob);
sub token_of
{
	my ($who, $read_only) = @_;
	return su("SELECT intracker.act_as('$user{$who}') \\gset\n"
		  . "SELECT token FROM intracker.create_api_token('mcp', read_only => " . ($read_only ? 'true' : 'false') . ')');
}
my $project = safe_psql_as($node, 'postgres', $user{ann}, "SELECT id FROM intracker.create_project('Agents')");
safe_psql_as($node, 'postgres', $user{ann}, "SELECT intracker.add_member('$project', '$user{bob}', 'editor')");
my %token = (ann => token_of('ann'), bob => token_of('bob'), reader => token_of('ann', 1));
my $url = $node->connstr('postgres') . ' user=tracker_agent';

# A running server: { run, in, out, err, next_id }.
sub start_server
{
	my (%opt) = @_;
	my $server = { in => '', out => '', err => '', next_id => 1, notes => [] };
	local $ENV{INTRACKER_DATABASE_URL} = $opt{url} // $url;
	local $ENV{INTRACKER_TOKEN} = $opt{token} // $token{ann};
	my @command = (@{ $opt{wrapper} // [] }, $binary, @{ $opt{args} // [] });
	$server->{run} = start(\@command, '<', \$server->{in}, '>', \$server->{out}, '2>', \$server->{err},
		timeout(10 * $PostgreSQL::Test::Utils::timeout_default));
	return $server;
}

# Send one raw line (written by this pump and the next ones: pump waits
# for output, and a notification has none).
sub send_line
{
	my ($server, $line) = @_;
	$server->{in} .= "$line\n";
	$server->{run}->pump_nb;
	return;
}

# The next message with this id (notifications met on the way are kept in
# notes); undef if the server ends first.
sub response_to
{
	my ($server, $id) = @_;
	while (1)
	{
		while ($server->{out} =~ s/^([^\n]*)\n//)
		{
			my $message = $json->decode($1);
			return $message if defined $message->{id} && $message->{id} eq $id;
			push @{ $server->{notes} }, $message;
		}
		return undef unless $server->{run}->pumpable;
		pump $server->{run};
	}
}

# Send a request; return its response.
sub request
{
	my ($server, $method, $params) = @_;
	my $id = $server->{next_id}++;
	send_line($server, $json->encode({ jsonrpc => '2.0', id => $id, method => $method,
				defined $params ? (params => $params) : () }));
	return response_to($server, $id);
}

sub call_tool
{
	my ($server, $tool, $arguments) = @_;
	return request($server, 'tools/call', { name => $tool, arguments => $arguments });
}

# Close its input, wait for it to exit; its exit code.
sub stop_server
{
	my ($server) = @_;
	$server->{in} = '';    # all of it was delivered: the answers came
	$server->{run}->finish;
	return ($server->{run}->full_results)[0] >> 8;
}

##############################################################################
# A. Start-up failures

for my $case ([ 'no token', { token => '' }, qr/INTRACKER_TOKEN is not set/ ],
	[ 'a bad token', { token => 'itk_' . ('x' x 44) }, qr/authentication failed: .*invalid credentials/ ],
	[ 'an unreachable database', { url => 'host=/nonexistent port=1 dbname=none' }, qr/cannot connect to the database/ ])
{
	my ($label, $opt, $pattern) = @$case;
	my $server = start_server(%$opt);
	my $exit = stop_server($server);
	isnt($exit, 0, "$label: non-zero exit");
	like($server->{err}, $pattern, "$label: says why on stderr");
	is($server->{out}, '', "$label: nothing on stdout");
}

# The connection is lost while the server starts (a restart at that
# moment): it tries again instead of exiting.  Its authentication is held
# on a lock, its backend terminated, then the lock released.
{
	my $holder = $node->background_psql('postgres');
	$holder->query_safe('BEGIN; LOCK TABLE intracker_data.api_tokens IN ACCESS EXCLUSIVE MODE');
	my $starting = start_server();
	my $waiting = q{SELECT pid FROM pg_stat_activity WHERE application_name = 'intracker-mcp' AND wait_event_type = 'Lock'};
	ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($waiting) w"),
		'lost at start-up: the starting server waits for its authentication');
	my $first = su($waiting);
	su("SELECT pg_terminate_backend($first)");
	ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($waiting) w WHERE pid <> $first"),
		'... it connects again (and waits again)');
	$holder->query_safe('COMMIT');
	$holder->quit;
	my $answer = call_tool($starting, 'list_projects', {});
	is_deeply([ map { $_->{name} } @{ $answer->{result}{structuredContent}{rows} // [] } ], ['Agents'],
		'... then it starts and answers') or diag($starting->{err});
	like($starting->{err}, qr/the connection was lost: .*\n.*trying again in \d+ ms/s, '... having said why it tried again');
	is(stop_server($starting), 0, '... and ends cleanly with its input');
}

##############################################################################
# B. Protocol

my $ann = start_server();
my $init = request($ann, 'initialize', { protocolVersion => '2025-06-18', capabilities => {},
		clientInfo => { name => 'test', version => '1' } });
is($init->{result}{protocolVersion}, '2025-06-18', 'initialize: the version the client asks for, when spoken');
is($init->{result}{serverInfo}{name}, 'intracker-mcp', '... serverInfo');
ok($init->{result}{capabilities}{tools}, '... tools capability');
send_line($ann, '{"jsonrpc":"2.0","method":"notifications/initialized"}');
is(request($ann, 'initialize', { protocolVersion => '1999-01-01' })->{result}{protocolVersion}, '2025-11-25',
	'an unknown version: the latest this server speaks');
is_deeply(request($ann, 'ping')->{result}, {}, 'ping');

my $list = request($ann, 'tools/list')->{result};
is(scalar @{ $list->{tools} }, 20, 'tools/list: a page of 20');
ok(defined $list->{nextCursor}, '... and a cursor to the next');
my $rest = request($ann, 'tools/list', { cursor => $list->{nextCursor} })->{result};
ok(@{ $rest->{tools} } && !exists $rest->{nextCursor}, '... which is the last');
my %tools = map { $_->{name} => $_ } @{ $list->{tools} }, @{ $rest->{tools} };
is(scalar keys %tools, scalar(@{ $list->{tools} }) + scalar(@{ $rest->{tools} }), '... no tool twice');
ok($tools{$_}, "tool $_ is listed") for qw(list_projects list_features list_todos get_my_todos get_todo
  get_team_context get_resume_context claim_next_todo assign_todo assign_feature create_todo update_todo
  set_todo_status create_feature update_feature add_dependency remove_dependency start_session end_session
  get_events wait_for_events create_github_issue search get_history list_comments add_comment update_comment
  delete_comment get_my_notifications mark_notifications_read list_documents get_document create_document
  update_document delete_document);
is_deeply($tools{create_todo}{inputSchema}{required}, [ 'project_id', 'title' ],
	'create_todo: the arguments without SQL defaults are required');
is_deeply($tools{create_todo}{inputSchema}{properties}{tags}, { type => 'array', items => { type => 'string' } },
	'... text[] is an array of strings');
is_deeply($tools{create_todo}{inputSchema}{properties}{project_id}, { type => 'string', format => 'uuid' },
	'... uuid a string of format uuid');
like($tools{claim_next_todo}{description}, qr/\w/, 'descriptions are the SQL functions\' comments');
ok($tools{get_team_context}{annotations}{readOnlyHint} && !$tools{create_todo}{annotations}{readOnlyHint},
	'readOnlyHint on reading tools only');
ok($tools{remove_dependency}{annotations}{destructiveHint}, 'destructiveHint on remove_dependency');
is_deeply($tools{create_todo}{outputSchema}{properties}{id}, { type => [ 'string', 'null' ], format => 'uuid' },
	'outputSchema of a row: its columns, from the SQL row type');
is_deeply([ sort keys %{ $tools{list_todos}{outputSchema}{properties}{rows}{items}{properties} } ],
	[ sort keys %{ $tools{create_todo}{outputSchema}{properties} } ], 'outputSchema of rows: {"rows": [the row type]}');
ok(exists $tools{claim_next_todo}{outputSchema}{properties}{rows}{items}{properties}{claim_reason},
	'... RETURNS TABLE columns included');
is_deeply($tools{get_team_context}{outputSchema}, { type => 'object' }, 'outputSchema of a jsonb document: an object');
is(request($ann, 'tools/list', { cursor => 'x' })->{error}{code}, -32602, 'an invalid cursor: -32602');
is(request($ann, 'logging/setLevel', { level => 'loud' })->{error}{code}, -32602, 'an unknown log level: -32602');
is_deeply(request($ann, 'logging/setLevel', { level => 'info' })->{result}, {}, 'logging/setLevel info');
is(request($ann, 'resources/teleport')->{error}{code}, -32601, 'an unknown method: -32601');

##############################################################################
# C. Tools

my $created = call_tool($ann, 'create_todo', { project_id => $project, title => 'Write the MCP server', tags => [ 'mcp', 'c' ] });
my $todo = $created->{result}{structuredContent};
ok(!$created->{result}{isError}, 'create_todo works') or diag(explain($created));
is_deeply($todo->{tags}, [ 'mcp', 'c' ], '... arrays arrive as arrays');
is($json->decode($created->{result}{content}[0]{text})->{id}, $todo->{id}, '... the text content is the same JSON');
is_deeply([ grep { !exists $tools{create_todo}{outputSchema}{properties}{$_} } keys %$todo ], [],
	'... and structuredContent has only the columns its outputSchema names');
my $stale = call_tool($ann, 'update_todo', { todo_id => $todo->{id}, changes => { title => 'x' }, expected_version => 7 });
ok($stale->{result}{isError}, 'a stale version: a tool error');
is($stale->{result}{_meta}{'intracker/error'}{sqlstate}, 'PT409', '... PT409');
like($stale->{result}{content}[0]{text}, qr/^PT409: .*\nDETAIL: .*the current version is 1\./s, '... whose text names the current version');
my $retry = call_tool($ann, 'update_todo', { todo_id => $todo->{id}, changes => { title => 'Write the MCP server in C' },
		expected_version => 1 });
is($retry->{result}{structuredContent}{version}, 2, 'the retry with the current version works');
my $missing = call_tool($ann, 'create_todo', { title => 'no project' });
is($missing->{error}{code}, -32602, 'a missing required argument: -32602');
is(call_tool($ann, 'create_todo', { project_id => $project, title => 'x', colour => 'red' })->{error}{code}, -32602,
	'an unknown argument: -32602');
is(call_tool($ann, 'create_todo', { project_id => $project, title => 'x', tags => 'mcp' })->{error}{code}, -32602,
	'an argument of the wrong type: -32602');
is(call_tool($ann, 'teleport', {})->{error}{code}, -32602, 'an unknown tool: -32602');
my $bad = call_tool($ann, 'create_todo', { project_id => $project, title => 'x', estimate => 0 });
is($bad->{result}{_meta}{'intracker/error'}{sqlstate}, '22023', 'the SQL API\'s own errors are tool errors (22023)');
like($bad->{result}{content}[0]{text}, qr/DETAIL: /, '... with their DETAIL');
my $context = call_tool($ann, 'get_resume_context', { project_id => $project });
is($context->{result}{structuredContent}{project}{name}, 'Agents', 'get_resume_context: the document as structuredContent');
is_deeply([ map { $_->{name} } @{ call_tool($ann, 'list_projects', {})->{result}{structuredContent}{rows} } ], ['Agents'],
	'list_projects: a tool without arguments, rows as {"rows": [...]}');
is(call_tool($ann, 'get_todo', { todo_id => $todo->{id} })->{result}{structuredContent}{title}, 'Write the MCP server in C',
	'get_todo: a jsonb function\'s object as structuredContent');
is(call_tool($ann, 'list_todos', { project_id => $project, max_rows => 5000 })->{result}{_meta}{'intracker/error'}{sqlstate}, '22023',
	'list_todos: the SQL function\'s bounds are tool errors');

# The resume_work prompt
my $prompts = request($ann, 'prompts/list')->{result}{prompts};
is_deeply([ map { $_->{name} } @$prompts ], ['resume_work'], 'prompts/list: resume_work');
is_deeply($prompts->[0]{arguments}, [ { name => 'project_id', description => 'The project\'s id (uuid).', required => JSON::PP::true } ],
	'... with its required project_id');
my $prompt = request($ann, 'prompts/get', { name => 'resume_work', arguments => { project_id => $project } })->{result};
is($prompt->{messages}[0]{role}, 'user', 'prompts/get resume_work: a user message');
like($prompt->{messages}[0]{content}{text}, qr/project "Agents".*Next action: .*"your_open_todos"/s,
	'... naming the project, the next action, and the resume context');
is(request($ann, 'prompts/get', { name => 'resume_work', arguments => { project_id => '00000000-0000-4000-8000-000000000000' } })
	  ->{error}{data}{sqlstate}, 'PT404', 'a project you are not in: a JSON-RPC error carrying PT404');
is(request($ann, 'prompts/get', { name => 'resume_work', arguments => {} })->{error}{code}, -32602,
	'a missing project_id: -32602');
is(request($ann, 'prompts/get', { name => 'teleport' })->{error}{code}, -32602, 'an unknown prompt: -32602');

# Resources
my $templates = request($ann, 'resources/templates/list')->{result}{resourceTemplates};
is_deeply([ map { $_->{uriTemplate} } @$templates ],
	[ 'intracker://projects/{project_id}/team-context', 'intracker://projects/{project_id}/resume-context' ],
	'resources/templates/list: the two project documents');
my $resources = request($ann, 'resources/list')->{result}{resources};
is_deeply([ sort map { $_->{uri} } @$resources ],
	[ sort("intracker://projects/$project/team-context", "intracker://projects/$project/resume-context", 'intracker://me/todos') ],
	'resources/list: the documents of your projects, and your todos');
my $read = request($ann, 'resources/read', { uri => "intracker://projects/$project/team-context" })->{result};
is($read->{contents}[0]{uri}, "intracker://projects/$project/team-context", 'resources/read: the contents name their URI');
is($json->decode($read->{contents}[0]{text})->{project}{name}, 'Agents', '... and are the team context');
is(ref $json->decode(request($ann, 'resources/read', { uri => 'intracker://me/todos' })->{result}{contents}[0]{text}), 'ARRAY',
	'resources/read intracker://me/todos: a list');
for my $uri ('intracker://projects/00000000-0000-4000-8000-000000000000/team-context',
	'intracker://projects/not-a-uuid/resume-context', 'intracker://elsewhere', 'https://example.com/')
{
	is_deeply(request($ann, 'resources/read', { uri => $uri })->{error}, { code => -32602, message => 'resource not found', data => { uri => $uri } },
		"resources/read $uri: resource not found (-32602 with the URI, as 2026-07-28 has it)");
}

##############################################################################
# D. Two agents claim in turns: never the same todo

safe_psql_as($node, 'postgres', $user{ann},
	"SELECT count(*) FROM (SELECT intracker.create_todo('$project', 'task ' || g) FROM generate_series(1, 10) g) s");
call_tool($ann, 'set_todo_status', { todo_id => $todo->{id}, status => 'done', expected_version => 2 });
my $bob = start_server(token => $token{bob});
my (%claimed_by, @overlap);
for my $round (1 .. 6)
{
	for my $agent ([ ann => $ann ], [ bob => $bob ])
	{
		my ($who, $server) = @$agent;
		my $claim = call_tool($server, 'claim_next_todo', { project_id => $project });
		my $rows = $claim->{result}{structuredContent}{rows} // [];
		next unless @$rows;
		my $id = $rows->[0]{id};
		push @overlap, $id if exists $claimed_by{$id} && $claimed_by{$id} ne $who;
		$claimed_by{$id} = $who;
		call_tool($server, 'set_todo_status', { todo_id => $id, status => 'done', expected_version => $rows->[0]{version} });
	}
}
is(scalar(keys %claimed_by), 10, 'the two agents claimed and finished all 10 todos');
is_deeply(\@overlap, [], '... never the same one');
my $nothing = call_tool($bob, 'claim_next_todo', { project_id => $project });
is_deeply($nothing->{result}{structuredContent}{rows}, [], 'nothing left: no row');
ok((grep { ($_->{method} // '') eq 'notifications/message' && $_->{params}{level} eq 'info' } @{ $bob->{notes} }),
	'... and the NOTICE came as notifications/message');

##############################################################################
# E. Read-only

for my $case ([ '--read-only', start_server(args => ['--read-only']) ],
	[ 'a read-only token', start_server(token => $token{reader}) ])
{
	my ($label, $server) = @$case;
	my @names = map { $_->{name} } @{ request($server, 'tools/list')->{result}{tools} };
	is_deeply([ sort @names ],
		[qw(get_document get_events get_history get_my_notifications get_my_todos get_resume_context get_team_context get_todo
			list_comments list_documents list_features list_projects list_todos search wait_for_events)],
		"$label: only the reading tools");
	is(call_tool($server, 'create_todo', { project_id => $project, title => 'x' })->{error}{code}, -32602,
		"$label: a writing tool is unknown");
	ok(!call_tool($server, 'get_team_context', { project_id => $project })->{result}{isError}, "$label: reading works");
	stop_server($server);
}

##############################################################################
# F. Ping while a call waits for a lock; cancellation

my $locker = IntrackerTest::Session->new($node, 'postgres', name => 'locker', via => 'superuser');
$locker->query_safe("BEGIN; SELECT 1 FROM intracker_data.todos WHERE id = '$todo->{id}' FOR UPDATE;");
my $blocked_id = $ann->{next_id}++;
send_line($ann, $json->encode({ jsonrpc => '2.0', id => $blocked_id, method => 'tools/call',
			params => { name => 'update_todo', arguments => { todo_id => $todo->{id}, changes => { title => 'y' },
					expected_version => 3 } } }));
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'intracker-mcp' AND wait_event_type = 'Lock'}),
	'the call waits for the lock');
is_deeply(request($ann, 'ping')->{result}, {}, 'ping is answered meanwhile');
send_line($ann, $json->encode({ jsonrpc => '2.0', method => 'notifications/cancelled',
			params => { requestId => $blocked_id, reason => 'test' } }));
my $after = request($ann, 'tools/call', { name => 'get_resume_context', arguments => { project_id => $project } });
ok(!$after->{result}{isError}, 'after notifications/cancelled the next call runs (the query was cancelled)');
ok(!(grep { defined $_->{id} && $_->{id} eq $blocked_id } @{ $ann->{notes} }), '... and the cancelled call got no response');
$locker->query_safe('ROLLBACK');
$locker->quit;

##############################################################################
# G. Bad input

my %bad_lines = (
	'not JSON' => [ 'garbage', -32700 ],
	'a string' => [ '"hello"', -32600 ],
	'a batch' => [ '[{"jsonrpc":"2.0","id":1,"method":"ping"}]', -32600 ],
	'no jsonrpc' => [ '{"id":1,"method":"ping"}', -32600 ],
	'deep nesting' => [ '[' x 100000, -32700 ],
	'invalid UTF-8' => [ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}", -32700 ],
	'a 17 MB line' => [ '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"' . ('a' x (17 * 1024 * 1024)) . '"}}', -32700 ]);
for my $label (sort keys %bad_lines)
{
	my ($line, $code) = @{ $bad_lines{$label} };
	$ann->{out} = '';
	send_line($ann, $line);
	pump $ann->{run} until $ann->{out} =~ /\n/ || !$ann->{run}->pumpable;
	my ($first) = split /\n/, $ann->{out};
	my $answer = eval { $json->decode($first // '') } // {};
	is($answer->{error}{code}, $code, "$label: answered with $code");
	is_deeply(request($ann, 'ping')->{result}, {}, "$label: the server goes on");
}

# Generated cases: valid requests of every method, mutated at random (bytes
# flipped, cut short, values replaced by odd JSON, odd ids and methods).
# Every line the server writes must be JSON-RPC, and it must still answer.
my $seed = $ENV{INTRACKER_FUZZ_SEED} // time;
srand($seed);
note("fuzz seed $seed (INTRACKER_FUZZ_SEED reproduces it)");
my @bases = (
	[ 'initialize', { protocolVersion => '2025-11-25', capabilities => {} } ],
	[ 'server/discover', { _meta => { 'io.modelcontextprotocol/protocolVersion' => '2026-07-28', 'io.modelcontextprotocol/clientCapabilities' => {} } } ],
	[ 'tools/list', { cursor => '20' } ],
	[ 'tools/call', { name => 'get_todo', arguments => { todo_id => $todo->{id} } } ],
	[ 'tools/call', { name => 'create_todo', arguments => { project_id => $project, title => 'fuzz', tags => ['a'] } } ],
	[ 'tools/call', { name => 'wait_for_events', arguments => { project_id => $project, after_seq => 0, timeout_seconds => 0 } } ],
	[ 'prompts/get', { name => 'resume_work', arguments => { project_id => $project } } ],
	[ 'resources/read', { uri => "intracker://projects/$project/team-context" } ],
	[ 'resources/subscribe', { uri => 'intracker://me/todos' } ],
	[ 'subscriptions/listen', { notifications => { resourceSubscriptions => ["intracker://projects/$project/resume-context"] } } ],
	[ 'logging/setLevel', { level => 'debug' } ]);
my @odd_values = (undef, JSON::PP::true, 0, -1, 1e308, 9223372036854775807, '', "\x{0}", "\x{1F600}", 'x' x 100_000,
	[ ('[') x 1 ], [ [ [ [ [] ] ] ] ], {}, { a => { b => { c => [] } } }, '00000000-0000-0000-0000-000000000000', "' OR 1=1 --");
sub odd_value { return $odd_values[ int(rand(@odd_values)) ] }
sub mutate_values
{
	my ($value) = @_;
	return odd_value() if rand() < 0.15;
	return { map { $_ => mutate_values($value->{$_}) } keys %$value } if ref $value eq 'HASH';
	return [ map { mutate_values($_) } @$value ] if ref $value eq 'ARRAY';
	return $value;
}
my $fuzz_json = JSON::PP->new->canonical->allow_nonref;
my @fuzz_lines;
for my $n (1 .. 1500)
{
	my ($method, $params) = @{ $bases[ int(rand(@bases)) ] };
	my %message = (jsonrpc => '2.0', id => "f$n", method => $method, params => mutate_values($params));
	my $kind = int(rand(5));
	$message{id} = odd_value() if $kind == 1;
	$message{method} = (odd_value() // 'x') . '/' . $method if $kind == 2;
	my $line = $fuzz_json->encode(\%message);
	if ($kind == 3)    # flip a few bytes (never into a newline)
	{
		for (1 .. 1 + int(rand(4)))
		{
			substr($line, int(rand(length $line)), 1) = chr(int(rand(256)) || 32);
		}
		$line =~ tr/\n/ /;
	}
	$line = substr($line, 0, int(rand(length $line))) if $kind == 4;
	push @fuzz_lines, $line;
}
my $fuzzed = start_server();
$fuzzed->{in} .= "$_\n" for @fuzz_lines;
my $after_fuzz = request($fuzzed, 'ping');
is_deeply($after_fuzz->{result}, {}, '1,500 generated bad requests: the server still answers');
my @written = @{ $fuzzed->{notes} };
my @not_rpc = grep { ($_->{jsonrpc} // '') ne '2.0' || !(exists $_->{result} || exists $_->{error} || exists $_->{method}) } @written;
is(scalar @not_rpc, 0, '... and wrote nothing but JSON-RPC (' . scalar(@written) . ' messages)')
  or diag($json->encode($not_rpc[0]));
is(stop_server($fuzzed), 0, '... and ends cleanly with its input') or diag($fuzzed->{err});
is(stop_server($ann), 0, 'end of input: exit 0');
stop_server($bob);

##############################################################################
# I. The connection is lost and the database refuses connections for a
#    while: calls meanwhile are tool errors at once, then the server
#    reconnects and authenticates again by itself.  (The server's backend
#    is terminated rather than the cluster restarted: a restarted postmaster
#    would inherit this script's end of the server's stdin and keep it open.)

my $survivor = start_server();
ok(!call_tool($survivor, 'list_projects', {})->{result}{isError}, 'lost connection: a call before');
su('ALTER ROLE tracker_agent NOLOGIN');
su(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'intracker-mcp'});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'intracker-mcp'}),
	'lost connection: its backend is gone');
my $during = call_tool($survivor, 'list_projects', {});
ok($during->{result}{isError}, 'lost connection: a call while no connection can be made is a tool error (no hang)');
is($during->{result}{_meta}{'intracker/error'}{sqlstate}, '08006', '... 08006, the connection is lost');
su('ALTER ROLE tracker_agent LOGIN');
my $back;
for (1 .. 120)
{
	$back = call_tool($survivor, 'list_projects', {});
	last unless $back->{result}{isError};
	usleep(250_000);
}
is_deeply([ map { $_->{name} } @{ $back->{result}{structuredContent}{rows} // [] } ], ['Agents'],
	'lost connection: once connections are accepted again, calls work again, as the same user');
like($survivor->{err}, qr/reconnected to the database/, '... the server says it reconnected');
is(stop_server($survivor), 0, '... and it still ends cleanly with its input');

##############################################################################
# J. The stateless revision 2026-07-28 on the wire, and the live parts:
#    server/discover; a request's _meta (its version, the client's
#    capabilities, its log level); stamped results; subscriptions/listen
#    acknowledged, announcing, cancelled; a burst coalesced; wait_for_events
#    parked while other requests run, woken by an event, ended by its
#    timeout or a cancellation.

# The next notification of this method (kept ones first); undef after $seconds.
sub next_note
{
	my ($server, $method, $seconds) = @_;
	my $deadline = time + $seconds;
	while (1)
	{
		for my $i (0 .. $#{ $server->{notes} })
		{
			return splice(@{ $server->{notes} }, $i, 1) if ($server->{notes}[$i]{method} // '') eq $method;
		}
		while ($server->{out} =~ s/^([^\n]*)\n//)
		{
			push @{ $server->{notes} }, $json->decode($1);
		}
		next if grep { ($_->{method} // '') eq $method } @{ $server->{notes} };
		return undef if time > $deadline || !$server->{run}->pumpable;
		$server->{run}->pump_nb;
		usleep(20_000);
	}
}

my %envelope = ('io.modelcontextprotocol/protocolVersion' => '2026-07-28',
	'io.modelcontextprotocol/clientCapabilities' => {});
sub modern { my ($params) = @_; return { %{ $params // {} }, _meta => {%envelope} } }

my $mod = start_server();
my $discover = request($mod, 'server/discover', { _meta => {%envelope} })->{result};
is_deeply($discover->{supportedVersions}, ['2026-07-28'], 'server/discover: the stateless revision');
ok($discover->{capabilities}{resources}{subscribe}, '... resources can be subscribed to');
is($discover->{resultType}, 'complete', '... a stamped result: resultType');
is($discover->{_meta}{'io.modelcontextprotocol/serverInfo'}{name}, 'intracker-mcp', '... and serverInfo in _meta');
ok(defined $discover->{ttlMs} && $discover->{cacheScope} eq 'private', '... with cache hints');

my $unsupported = request($mod, 'tools/list', { _meta => { %envelope, 'io.modelcontextprotocol/protocolVersion' => '2099-01-01' } });
is($unsupported->{error}{code}, -32022, 'a version this server does not speak: -32022');
is_deeply([ $unsupported->{error}{data}{supported}, $unsupported->{error}{data}{requested} ], [ ['2026-07-28'], '2099-01-01' ],
	'... naming the supported versions and the one requested');
is(request($mod, 'tools/list', { _meta => { 'io.modelcontextprotocol/protocolVersion' => '2026-07-28' } })->{error}{code},
	-32602, 'no client capabilities in _meta: -32602');

my $modern_list = request($mod, 'tools/list', modern())->{result};
ok($modern_list->{resultType} eq 'complete' && $modern_list->{ttlMs} > 0, 'tools/list (2026-07-28): stamped, cacheable');
my $modern_call = request($mod, 'tools/call', modern({ name => 'list_projects', arguments => {} }))->{result};
is($modern_call->{resultType}, 'complete', 'tools/call (2026-07-28): a raw JSON result is stamped too');
is_deeply([ map { $_->{name} } @{ $modern_call->{structuredContent}{rows} } ], ['Agents'], '... and still whole');
ok(!exists $modern_call->{ttlMs}, '... a tool result has no cache hint');
my $legacy_call = call_tool($mod, 'list_projects', {})->{result};
ok(!exists $legacy_call->{resultType}, 'without _meta (2025 era) the same call is not stamped');
$mod->{out} = '';
send_line($mod, $json->encode({ jsonrpc => '2.0', id => 'stale', method => 'tools/call',
			params => modern({ name => 'update_todo', arguments => { todo_id => $todo->{id}, changes => {}, expected_version => 1 } }) }));
pump $mod->{run} until $mod->{out} =~ /"id":"stale"[^\n]*\n/;
my ($stale_line) = $mod->{out} =~ /^([^\n]*"id":"stale"[^\n]*)$/m;
my $meta_keys = () = $stale_line =~ /"_meta"/g;
is($meta_keys, 1, 'a tool error (2026-07-28): one _meta, not two');
my $stale_meta = $json->decode($stale_line)->{result}{_meta};
ok($stale_meta->{'intracker/error'}{sqlstate} eq 'PT409' && $stale_meta->{'io.modelcontextprotocol/serverInfo'},
	'... holding both the error and the server\'s identity');
is(request($mod, 'resources/read', modern({ uri => "intracker://projects/$project/team-context" }))->{result}{ttlMs}, 0,
	'resources/read (2026-07-28): live, ttlMs 0');

# log messages only when the request asks, at its level
my $claimer = safe_psql_as($node, 'postgres', $user{ann}, "SELECT id FROM intracker.create_project('Empty')");
$mod->{notes} = [];
request($mod, 'tools/call', modern({ name => 'claim_next_todo', arguments => { project_id => $claimer } }));
ok(!(grep { ($_->{method} // '') eq 'notifications/message' } @{ $mod->{notes} }), 'a NOTICE, and no logLevel in _meta: no log message');
my $asking = modern({ name => 'claim_next_todo', arguments => { project_id => $claimer } });
$asking->{_meta}{'io.modelcontextprotocol/logLevel'} = 'info';
request($mod, 'tools/call', $asking);
ok((grep { ($_->{method} // '') eq 'notifications/message' } @{ $mod->{notes} }), '... with logLevel info: the NOTICE as a log message');

# subscriptions/listen
my $team_uri = "intracker://projects/$project/team-context";
sub bob_creates { safe_psql_as($node, 'postgres', $user{bob}, "SELECT intracker.create_todo('$project', '$_[0]')") }
is(request($mod, 'subscriptions/listen', modern({ notifications => 'all' }))->{error}{code}, -32602,
	'subscriptions/listen with a filter that is not an object: -32602');
my $foreign_uri = 'intracker://projects/00000000-0000-4000-8000-000000000000/team-context';
is_deeply(request($mod, 'subscriptions/listen', modern({ notifications => { resourceSubscriptions => [ $team_uri, $foreign_uri ] } }))->{error},
	{ code => -32602, message => 'resource not found', data => { uri => $foreign_uri } },
	'... naming a project the caller is not in: resource not found, as a whole');
send_line($mod, $json->encode({ jsonrpc => '2.0', id => 'stream-1', method => 'subscriptions/listen',
			params => modern({ notifications => { resourceSubscriptions => [$team_uri] } }) }));
my $ack = next_note($mod, 'notifications/subscriptions/acknowledged', 10);
is_deeply([ $ack->{params}{notifications}{resourceSubscriptions}, $ack->{params}{_meta}{'io.modelcontextprotocol/subscriptionId'} ],
	[ [$team_uri], 'stream-1' ], 'subscriptions/listen: acknowledged at once, with the stream\'s id');
bob_creates('Heard');
my $updated = next_note($mod, 'notifications/resources/updated', 10);
is_deeply([ $updated->{params}{uri}, $updated->{params}{_meta}{'io.modelcontextprotocol/subscriptionId'} ], [ $team_uri, 'stream-1' ],
	'... the other agent\'s change announced on the stream');

# a burst: 30 changes in one go are announced once or twice, not 30 times
$mod->{notes} = [];
safe_psql_as($node, 'postgres', $user{bob},
	"SELECT intracker.create_todo('$project', 'Burst ' || i) FROM generate_series(1, 30) AS i");
wait_until_published($node, 'postgres');
usleep(600_000);
next_note($mod, 'none', 0);
my $announced = grep { ($_->{method} // '') eq 'notifications/resources/updated' } @{ $mod->{notes} };
ok($announced >= 1 && $announced <= 2, "a burst of 30 events: announced $announced time(s)");

send_line($mod, $json->encode({ jsonrpc => '2.0', method => 'notifications/cancelled', params => { requestId => 'stream-1' } }));
is_deeply(request($mod, 'ping')->{result}, {}, 'the stream is cancelled');
$mod->{notes} = [];
bob_creates('Unheard');
wait_until_published($node, 'postgres');
ok(!defined next_note($mod, 'notifications/resources/updated', 1), '... and announces nothing more');

# resources/subscribe (2025 era) follows the same way; unsubscribe stops it
is_deeply(request($mod, 'resources/subscribe', { uri => 'intracker://me/todos' })->{result}, {}, 'resources/subscribe intracker://me/todos');
bob_creates('For everyone');
ok(defined next_note($mod, 'notifications/resources/updated', 10), '... announced after a change in one of the caller\'s projects');
request($mod, 'resources/unsubscribe', { uri => 'intracker://me/todos' });

# wait_for_events: parked, other requests meanwhile, woken by an event
my $last_seq = call_tool($mod, 'get_events', { after_seq => 0, project_id => $project, max_events => 10000 })
  ->{result}{structuredContent}{rows}[-1]{seq};
send_line($mod, $json->encode({ jsonrpc => '2.0', id => 'wait-1', method => 'tools/call',
			params => { name => 'wait_for_events', arguments => { project_id => $project, after_seq => $last_seq, timeout_seconds => 60 } } }));
ok(!call_tool($mod, 'get_team_context', { project_id => $project })->{result}{isError}, 'a tool call is answered while a wait is on');
ok(!(grep { defined $_->{id} && $_->{id} eq 'wait-1' } @{ $mod->{notes} }), '... and the wait is not answered yet');
bob_creates('Wake up');
my $woken = response_to($mod, 'wait-1');
is($woken->{result}{structuredContent}{rows}[0]{type}, 'todo.created', 'the wait answers with the other agent\'s event');
my $started = time;
my $timed_out = call_tool($mod, 'wait_for_events', { project_id => $project, after_seq => $last_seq + 100000, timeout_seconds => 1 });
is_deeply($timed_out->{result}{structuredContent}{rows}, [], 'a wait with nothing new ends at its timeout, with no events');
send_line($mod, $json->encode({ jsonrpc => '2.0', id => 'wait-2', method => 'tools/call',
			params => { name => 'wait_for_events', arguments => { project_id => $project, after_seq => $last_seq + 100000, timeout_seconds => 2 } } }));
send_line($mod, $json->encode({ jsonrpc => '2.0', method => 'notifications/cancelled', params => { requestId => 'wait-2' } }));
usleep(2_500_000);
is_deeply(request($mod, 'ping')->{result}, {}, 'a cancelled wait: the server goes on');
ok(!(grep { defined $_->{id} && $_->{id} eq 'wait-2' } @{ $mod->{notes} }), '... and the wait gets no answer, even after its timeout');
# at most 16 waits at once (each runs a query at each event of its project)
for my $n (1 .. 16)
{
	send_line($mod, $json->encode({ jsonrpc => '2.0', id => "many-$n", method => 'tools/call',
				params => { name => 'wait_for_events', arguments => { project_id => $project, after_seq => $last_seq + 100000 } } }));
}
my $seventeenth = call_tool($mod, 'wait_for_events', { project_id => $project, after_seq => 0 });
is_deeply([ $seventeenth->{error}{code}, $seventeenth->{error}{data}{max_waits} ], [ -32600, 16 ],
	'a 17th wait at once: refused (-32600), naming the limit');
send_line($mod, $json->encode({ jsonrpc => '2.0', method => 'notifications/cancelled', params => { requestId => 'many-1' } }));
ok(!call_tool($mod, 'wait_for_events', { project_id => $project, after_seq => 0 })->{result}{isError},
	'... once one ends, another can start');
is(stop_server($mod), 0, 'with streams, subscriptions and waits open, the end of input still ends the server');

##############################################################################
# H. A session under valgrind

SKIP:
{
	skip 'valgrind is not installed', 3 unless system('valgrind --version >/dev/null 2>&1') == 0;
	my $log = $PostgreSQL::Test::Utils::tmp_check . '/mcp-valgrind.log';
	my $server = start_server(wrapper => [ 'valgrind', '--leak-check=full', "--log-file=$log", '--error-exitcode=99' ]);
	request($server, 'initialize', { protocolVersion => '2025-11-25' });
	request($server, 'tools/list');
	call_tool($server, 'create_todo', { project_id => $project, title => 'under valgrind', tags => ['v'] });
	call_tool($server, 'update_todo', { todo_id => $todo->{id}, changes => {}, expected_version => 99 });
	call_tool($server, 'create_todo', { title => 'x' });
	send_line($server, 'garbage');
	call_tool($server, 'get_team_context', { project_id => $project });
	request($server, 'prompts/get', { name => 'resume_work', arguments => { project_id => $project } });
	request($server, 'prompts/get', { name => 'resume_work', arguments => { project_id => 'not a uuid' } });
	request($server, 'resources/list');
	request($server, 'resources/read', { uri => "intracker://projects/$project/resume-context" });
	request($server, 'resources/read', { uri => 'intracker://projects/x/team-context' });
	# the stateless revision and the live parts
	request($server, 'server/discover', { _meta => {%envelope} });
	request($server, 'tools/call', modern({ name => 'get_team_context', arguments => { project_id => $project } }));
	request($server, 'tools/list', { _meta => { %envelope, 'io.modelcontextprotocol/protocolVersion' => 'x' } });
	request($server, 'resources/subscribe', { uri => $team_uri });
	request($server, 'resources/subscribe', { uri => $foreign_uri });
	send_line($server, $json->encode({ jsonrpc => '2.0', id => 's', method => 'subscriptions/listen',
				params => modern({ notifications => { resourceSubscriptions => [ $team_uri, 'intracker://me/todos' ] } }) }));
	bob_creates('Under valgrind');
	ok(defined next_note($server, 'notifications/resources/updated', 30), 'valgrind: an announcement');
	send_line($server, $json->encode({ jsonrpc => '2.0', method => 'notifications/cancelled', params => { requestId => 's' } }));
	request($server, 'resources/unsubscribe', { uri => $team_uri });
	call_tool($server, 'wait_for_events', { project_id => $project, after_seq => 0, timeout_seconds => 1 });
	call_tool($server, 'wait_for_events', { project_id => $project, after_seq => 1 << 40, timeout_seconds => 1 });
	send_line($server, $json->encode({ jsonrpc => '2.0', id => 'w', method => 'tools/call',
				params => { name => 'wait_for_events', arguments => { project_id => $project, after_seq => 1 << 40 } } }));
	send_line($server, $json->encode({ jsonrpc => '2.0', method => 'notifications/cancelled', params => { requestId => 'w' } }));
	is(stop_server($server), 0, 'valgrind: a whole session, no error reported');
	my $report = slurp_file($log);
	like($report, qr/definitely lost: 0 bytes|no leaks are possible/, 'valgrind: nothing definitely lost')
	  or diag($report);
}

$node->stop;
done_testing();
