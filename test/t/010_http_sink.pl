# test/t/010_http_sink.pl — the HTTP sink the webhook tests and benches talk
# to (test/helpers/http_sink.c), checked on its own, without PostgreSQL:
#
#  1. The command line: PORT line, --port-file, exit 0 on SIGTERM/SIGINT, non-zero
#     on a port in use, stderr empty, memory flat while streaming 100 MB.
#  2. Every path: /ok, /status, /retry-after, /fail, /slow, /hang, /big,
#     /redirect, unknown paths, and the fake GitHub API under /gh.
#  3. The protocol: keep-alive, pipelining, Connection: close, HTTP/1.0,
#     Expect: 100-continue, HEAD, 411, 413, malformed requests.
#  4. Concurrency: /slow and /hang never hold up other connections, nor does
#     a /big response its client does not read; 200 connections at once.
#  5. The log: valid JSON lines with t, conn, n, method, path, lower-cased
#     and joined headers, the exact body (UTF-8, control characters, invalid
#     bytes); SIGUSR1's COUNT; the start_http_sink helper without a log.
#  6. A keep-alive load from this (slow, Perl) client, with a generous bound.
#  7. --ipv6: the same port on [::1] too (where this machine has IPv6
#     loopback), both logged; without it, [::1] is not served.
#
# The client is a few lines of IO::Socket::INET so that every byte on the
# wire is under the test's control.

use strict;
use warnings;
use utf8;
use PostgreSQL::Test::Utils;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use IO::Socket::IP;
use JSON::PP ();
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(time);
use IntrackerTest;

my $json = JSON::PP->new->utf8->canonical;

#
# A minimal HTTP client.
#

sub connect_to
{
	my ($port) = @_;
	my $sock = IO::Socket::INET->new(
		PeerAddr => '127.0.0.1',
		PeerPort => $port,
		Proto => 'tcp',
		Timeout => 10) or die "could not connect to 127.0.0.1:$port: $!";
	binmode($sock);
	${*$sock}{sink_buf} = '';
	return $sock;
}

sub send_raw
{
	my ($sock, $bytes) = @_;
	my $off = 0;
	while ($off < length $bytes)
	{
		my $n = syswrite($sock, $bytes, length($bytes) - $off, $off);
		die "write failed: $!" unless defined $n;
		$off += $n;
	}
	return;
}

# The request's bytes.  Options: headers => [[name, value], ...],
# body => bytes (adds Content-Length), version => '1.0'.
sub request_bytes
{
	my ($method, $path, %o) = @_;
	my $r = "$method $path HTTP/" . ($o{version} // '1.1') . "\r\nHost: 127.0.0.1\r\n";
	$r .= "$_->[0]: $_->[1]\r\n" for @{ $o{headers} // [] };
	$r .= 'Content-Length: ' . length($o{body}) . "\r\n" if defined $o{body};
	return $r . "\r\n" . ($o{body} // '');
}

# Read more bytes into the socket's buffer: false on timeout, EOF or error.
sub fill_buffer
{
	my ($sock, $deadline) = @_;
	my $left = $deadline - time;
	return 0 if $left <= 0 || !IO::Select->new($sock)->can_read($left);
	my $n = sysread($sock, ${*$sock}{sink_buf}, 1 << 20, length ${*$sock}{sink_buf});
	return $n ? 1 : 0;
}

# The next response: { status, reason, headers => {lc name => value}, body },
# or undef if none arrived completely within $timeout seconds (or the
# connection ended first).  Options: no_body => 1 for a HEAD request.
sub read_response
{
	my ($sock, $timeout, %o) = @_;
	my $deadline = time + ($timeout // 10);
	my $buf = \${*$sock}{sink_buf};
	my $end;
	until (($end = index($$buf, "\r\n\r\n")) >= 0)
	{
		return undef unless fill_buffer($sock, $deadline);
	}
	my ($status_line, @lines) = split /\r\n/, substr($$buf, 0, $end);
	my ($status, $reason) = $status_line =~ m{^HTTP/1\.1 (\d{3}) (.*)$}
	  or die "bad status line: $status_line";
	my %headers;
	for (@lines)
	{
		my ($name, $value) = /^([^:]+):\s*(.*)$/ or die "bad header line: $_";
		$headers{ lc $name } = $value;
	}
	my $length = 0;
	$length = $headers{'content-length'} // 0
	  unless $o{no_body} || $status < 200 || $status == 204 || $status == 304;
	while (length($$buf) < $end + 4 + $length)
	{
		return undef unless fill_buffer($sock, $deadline);
	}
	my $body = substr($$buf, $end + 4, $length);
	substr($$buf, 0, $end + 4 + $length) = '';
	return { status => $status, reason => $reason, headers => \%headers, body => $body };
}

# True if the connection ends (EOF) within $timeout seconds, with nothing
# else arriving.
sub closed_within
{
	my ($sock, $timeout) = @_;
	my $deadline = time + $timeout;
	while (1)
	{
		my $left = $deadline - time;
		return 0 if $left <= 0 || !IO::Select->new($sock)->can_read($left);
		my $n = sysread($sock, my $chunk, 65536);
		return 1 if defined $n && $n == 0;
		return 1 if !defined $n && $!{ECONNRESET};
		return 0 if !defined $n || $n > 0;
	}
}

# One request on a new connection.
sub request
{
	my ($port, $method, $path, %o) = @_;
	my $sock = connect_to($port);
	send_raw($sock, request_bytes($method, $path, %o));
	my $r = read_response($sock, $o{timeout}, no_body => $method eq 'HEAD');
	close($sock);
	return $r // { status => 'no response', headers => {}, body => '' };
}

#
# 1. The command line, run by hand.
#
my $bin = build_http_sink();
ok(-x $bin, 'build_http_sink compiles the sink');
my $tmp = PostgreSQL::Test::Utils::tempdir();
my ($port, $pid);
{
	my $port_file = "$tmp/port";
	my $stderr = "$tmp/stderr";
	$pid = open(my $out, '-|', qq{exec '$bin' --port-file '$port_file' 2>'$stderr'})
	  or die "could not start $bin: $!";
	my $line = <$out> // 'nothing';
	chomp $line;
	($port) = ($line // '') =~ /^PORT (\d+)$/;
	ok($port, "it prints 'PORT n' once listening (got: $line)");
	is(slurp_file($port_file), "$port\n", '--port-file holds the same port and a newline');
	ok(!-e "$port_file.tmp", 'the temporary port file was renamed');

	is(request($port, 'GET', '/ok/cli')->{status}, 200, 'it answers on that port');

	my $clash = `'$bin' --port $port 2>&1`;
	my $code = $? >> 8;
	isnt($code, 0, 'a second sink on the same port exits non-zero');
	like($clash, qr/could not listen on 127\.0\.0\.1:$port/, '... with a message naming the address');
	`'$bin' --no-such-option 2>&1`;
	is($? >> 8, 2, 'an unknown option exits 2');

	# Streaming: 100 MB while the sink's peak memory stays small.
	my $sock = connect_to($port);
	send_raw($sock, request_bytes('GET', '/big/104857600/x'));
	my $head = '';
	until ($head =~ /\r\n\r\n/) { sysread($sock, $head, 4096, length $head) or last }
	my ($headers, $rest) = split /\r\n\r\n/, $head, 2;
	my $got = length $rest;
	my $only_x = $rest !~ /[^x]/;
	while ($got < 104857600)
	{
		my $n = sysread($sock, my $chunk, 1 << 20);
		last unless $n;
		$got += $n;
		$only_x &&= $chunk !~ /[^x]/;
	}
	like($headers, qr/^Content-Length: 104857600\r?$/m, '/big/104857600: Content-Length 104857600');
	is($got, 104857600, '... and that many bytes arrive');
	ok($only_x, "... all of them 'x'");
	close($sock);
  SKIP:
	{
		skip 'no /proc', 1 unless -r "/proc/$pid/status";
		my ($hwm) = slurp_file("/proc/$pid/status") =~ /^VmHWM:\s+(\d+) kB/m;
		cmp_ok($hwm, '<', 40 * 1024, "... streamed: the sink's peak RSS stays under 40 MB (${hwm} kB)");
	}

	# A client that sends half a request and resets is not an error.
	my $rude = connect_to($port);
	send_raw($rude, "POST /ok/rude HTTP/1.1\r\nContent-Length: 100\r\n\r\nhalf");
	setsockopt($rude, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
	close($rude);
	is(request($port, 'GET', '/ok/after-reset')->{status}, 200, 'a connection reset mid-request does not disturb the sink');

	kill 'TERM', $pid;
	waitpid($pid, 0);
	is($?, 0, 'SIGTERM: exit status 0');
	is(slurp_file($stderr), '', 'nothing was written to stderr');
	close($out);

	$pid = open($out, '-|', $bin) or die "could not start $bin: $!";
	like(scalar <$out>, qr/^PORT \d+$/, 'a sink on port 0 (the default) starts too');
	kill 'INT', $pid;
	waitpid($pid, 0);
	is($?, 0, 'SIGINT: exit status 0');
	close($out);
}

#
# 2. Every path, on a sink started by the helper, with a log.
#
my $t_start = time;
my $sink = start_http_sink(log => 1);
$port = $sink->{port};
like($port, qr/^\d+$/, 'start_http_sink returns the port');
is($sink->{url}, "http://127.0.0.1:$port", '... and the URL');

my $r = request($port, 'GET', '/ok/a?x=1');
is($r->{status}, 200, '/ok/a?x=1: 200');
is($r->{body}, 'ok', '... body "ok"');
is($r->{headers}{'content-type'}, 'text/plain', '... Content-Type text/plain');
is($r->{headers}{'content-length'}, 2, '... Content-Length 2');
ok(!exists $r->{headers}{connection}, '... no Connection: close (keep-alive)');
is(request($port, 'POST', '/ok', body => 'x')->{status}, 200, '/ok without a trailing segment: 200');

for my $status (200, 201, 202, 301, 404, 409, 422, 500, 503, 599)
{
	$r = request($port, 'POST', "/status/$status/x?y=1", body => '{}');
	is("$r->{status} $r->{body}", "$status status $status", "/status/$status: status $status, body \"status $status\"");
}
for my $bad (qw(100 199 600 999 abc 20))
{
	$r = request($port, 'GET', "/status/$bad");
	is($r->{status}, 400, "/status/$bad: 400");
}
is(request($port, 'GET', '/status')->{status}, 400, '/status without a code: 400');
{
	# 204 has no body: the next response on the connection must parse.
	my $sock = connect_to($port);
	send_raw($sock, request_bytes('GET', '/status/204') . request_bytes('GET', '/ok/after-204'));
	my $r1 = read_response($sock, 5);
	my $r2 = read_response($sock, 5);
	is($r1 && $r1->{status}, 204, '/status/204: 204');
	ok($r1 && !exists $r1->{headers}{'content-length'}, '... without Content-Length');
	is($r2 && "$r2->{status} $r2->{body}", '200 ok', '... and no body: the next response on the connection follows it');
	close($sock);
}

$r = request($port, 'GET', '/retry-after/7/x');
is($r->{status}, 429, '/retry-after/7: 429');
is($r->{headers}{'retry-after'}, '7', '... Retry-After: 7');
is($r->{body}, 'slow down', '... body "slow down"');
$r = request($port, 'GET', '/retry-after/Wed%2C%2021%20Oct%202015%2007%3A28%3A00%20GMT');
is($r->{headers}{'retry-after'}, 'Wed, 21 Oct 2015 07:28:00 GMT',
	'/retry-after/<percent-encoded date>: Retry-After is the date');
is(request($port, 'GET', '/retry-after/a%0Db')->{status}, 400, '/retry-after with a control character: 400');

is(join(' ', map { request($port, 'POST', '/fail/2/a', body => 'x')->{status} } 1 .. 4),
	'500 500 200 200', '/fail/2/a: 500 twice, then 200');
is(join(' ', map { request($port, 'POST', '/fail/2/b')->{status} } 1 .. 3),
	'500 500 200', '/fail/2/b: counted apart from /fail/2/a');
is(join(' ', map { request($port, 'GET', "/fail/1/c?attempt=$_")->{status} } 1 .. 3),
	'500 200 200', '/fail/1/c: the query string does not make a new path');
is(request($port, 'GET', '/fail/0/d')->{status}, 200, '/fail/0: 200 at once');
is(request($port, 'GET', '/fail/2/a')->{body}, 'ok', '/fail/2/a later: body "ok"');
is(request($port, 'GET', '/fail/x/a')->{status}, 400, '/fail/x: 400');

$r = request($port, 'GET', '/redirect/x');
is($r->{status}, 302, '/redirect: 302');
is($r->{headers}{location}, '/ok/redirected', '... Location: /ok/redirected');

for my $path ('/', '/nope', '/okay', '/OK', '/slowly/1')
{
	$r = request($port, 'GET', $path);
	is("$r->{status} $r->{body}", '404 not found', "$path: 404 \"not found\"");
}

$r = request($port, 'GET', '/big/1000000/y');
is($r->{status}, 200, '/big/1000000: 200');
is(length $r->{body}, 1000000, '... a body of 1,000,000 bytes');
ok($r->{body} !~ /[^x]/, "... all 'x'");
is(request($port, 'GET', '/big/0')->{body}, '', '/big/0: an empty body');
is(request($port, 'GET', '/big/104857601')->{status}, 400, '/big over 100 MB: 400');
{
	my $sock = connect_to($port);
	send_raw($sock, request_bytes('HEAD', '/big/5000') . request_bytes('GET', '/ok/after-head'));
	my $r1 = read_response($sock, 5, no_body => 1);
	my $r2 = read_response($sock, 5);
	is($r1 && $r1->{headers}{'content-length'}, 5000, 'HEAD /big/5000: Content-Length 5000');
	is($r2 && "$r2->{status} $r2->{body}", '200 ok', '... and no body: the next response follows the headers');
	close($sock);
}

# The fake GitHub API.
my $issue = sub {
	my ($method, $path, $body) = @_;
	my $r = request($port, $method, $path, body => $body // '{}',
		headers => [ [ 'Content-Type', 'application/json' ] ]);
	my $doc = eval { $json->decode($r->{body}) };
	return ($r, $doc);
};
my ($gh, $doc) = $issue->('POST', '/gh/repos/octo/apollo/issues', '{"title": "one"}');
is($gh->{status}, 201, 'POST /gh/repos/o/r/issues: 201');
is($gh->{headers}{'content-type'}, 'application/json', '... application/json');
is_deeply($doc, { number => 1, html_url => 'https://github.example/octo/apollo/issues/1', state => 'open' },
	'... number 1, its html_url, state open');
($gh, $doc) = $issue->('POST', '/gh/repos/octo/apollo/issues');
is($doc->{number}, 2, '... the next issue of that repository is number 2');
is($doc->{html_url}, 'https://github.example/octo/apollo/issues/2', '... with its html_url');
($gh, $doc) = $issue->('POST', '/gh/repos/octo/zeta/issues?per_page=1');
is($doc->{number}, 1, '... another repository counts from 1');

my @patches = (
	[ '{"state":"closed"}', 'closed' ],
	[ qq({"title": "t", "state" :\n "closed", "labels": []}), 'closed' ],
	[ '{"state": "open"}', 'open' ],
	[ '{"title": "no state"}', 'open' ],
	[ '{"state_reason": "completed", "title": "\"state\": \"closed\" is in the title"}', 'open' ],
	[ '', 'open' ]);
for my $p (@patches)
{
	($gh, $doc) = $issue->('PATCH', '/gh/repos/octo/apollo/issues/7', $p->[0]);
	(my $shown = $p->[0]) =~ s/\n/\\n/g;
	is_deeply([ $gh->{status}, $doc ],
		[ 200, { number => 7, html_url => 'https://github.example/octo/apollo/issues/7', state => $p->[1] } ],
		"PATCH issues/7 with '$shown': 200, state $p->[1]");
}
for my $p ([ 'GET', '/gh/repos/octo/apollo/issues' ], [ 'POST', '/gh/repos/octo/apollo/pulls' ],
	[ 'PATCH', '/gh/repos/octo/apollo/issues/x' ], [ 'POST', '/gh' ], [ 'POST', '/gh/repos/octo/issues' ])
{
	($gh, $doc) = $issue->(@$p);
	is_deeply([ $gh->{status}, $gh->{headers}{'content-type'}, $doc ],
		[ 404, 'application/json', { message => 'Not Found' } ], "$p->[0] $p->[1]: 404 {\"message\": \"Not Found\"}");
}
my @gh_fail = map { [ $issue->('POST', '/gh/fail/2/repos/octo/flaky/issues') ] } 1 .. 4;
is(join(' ', map { $_->[0]{status} } @gh_fail), '500 500 201 201', '/gh/fail/2/repos/o/r/issues: 500 twice, then 201');
is($gh_fail[0][0]{headers}{'content-type'}, 'application/json', '... the 500 is JSON too');
is(join(' ', map { $_->[1]{number} } @gh_fail[ 2, 3 ]), '1 2', '... then issues 1 and 2 of that repository');
($gh, $doc) = $issue->('PATCH', '/gh/fail/1/repos/octo/flaky/issues/5', '{"state": "closed"}');
is($gh->{status}, 500, 'PATCH /gh/fail/1/.../issues/5: 500 first');
($gh, $doc) = $issue->('PATCH', '/gh/fail/1/repos/octo/flaky/issues/5', '{"state": "closed"}');
is("$gh->{status} $doc->{number} $doc->{state}", '200 5 closed', '... then 200, issue 5 closed');

#
# 3. The protocol.
#
{
	my $sock = connect_to($port);
	my @statuses;
	for my $i (1 .. 3)
	{
		send_raw($sock, request_bytes('POST', "/ok/keepalive/$i", body => "k$i"));
		my $r = read_response($sock, 5);
		push @statuses, $r ? "$r->{status} $r->{body}" : 'none';
	}
	is_deeply(\@statuses, [ ('200 ok') x 3 ], 'keep-alive: three requests on one connection, three answers');
	close($sock);
}
{
	my $sock = connect_to($port);
	send_raw($sock, join '', map { request_bytes('GET', $_) } '/status/201', '/ok/p', '/status/202/p');
	my @got = map { my $r = read_response($sock, 5); $r ? "$r->{status} $r->{body}" : 'none' } 1 .. 3;
	is_deeply(\@got, [ '201 status 201', '200 ok', '202 status 202' ],
		'pipelining: three requests in one write, answered in order');

	my $t0 = time;
	send_raw($sock, request_bytes('GET', '/slow/300') . request_bytes('GET', '/status/203'));
	@got = map { my $r = read_response($sock, 5); $r ? $r->{status} : 'none' } 1 .. 2;
	my $elapsed = time - $t0;
	is_deeply(\@got, [ 200, 203 ], 'pipelined behind /slow/300: both answered, in order');
	cmp_ok($elapsed, '>=', 0.29, "... after the delay ($elapsed s)");
	close($sock);
}
{
	my $sock = connect_to($port);
	send_raw($sock, request_bytes('GET', '/ok/bye', headers => [ [ 'Connection', 'close' ] ]));
	my $r = read_response($sock, 5);
	is($r && $r->{status}, 200, 'Connection: close: 200');
	is($r && $r->{headers}{connection}, 'close', '... with Connection: close');
	ok(closed_within($sock, 5), '... and the sink closes the connection');
}
{
	my $sock = connect_to($port);
	send_raw($sock, request_bytes('GET', '/ok/old', version => '1.0'));
	my $r = read_response($sock, 5);
	is($r && $r->{status}, 200, 'HTTP/1.0: 200');
	ok(closed_within($sock, 5), '... and the connection is closed after it');

	$sock = connect_to($port);
	my $req = request_bytes('GET', '/ok/old-keep', version => '1.0', headers => [ [ 'Connection', 'keep-alive' ] ]);
	send_raw($sock, $req);
	$r = read_response($sock, 5);
	is($r && $r->{headers}{connection}, 'keep-alive', 'HTTP/1.0 with Connection: keep-alive: answered keep-alive');
	send_raw($sock, $req);
	$r = read_response($sock, 5);
	is($r && $r->{status}, 200, '... and a second request on the connection is answered');
	close($sock);
}
{
	my $body = join '', map { chr(32 + $_ % 90) } 1 .. 2000;
	my $sock = connect_to($port);
	send_raw($sock, "POST /ok/expect HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
		  . "Content-Length: 2000\r\n\r\n");
	my $r = read_response($sock, 5);
	is($r && "$r->{status} $r->{reason}", '100 Continue', 'Expect: 100-continue: "100 Continue" before the body is sent');
	send_raw($sock, $body);
	$r = read_response($sock, 5);
	is($r && "$r->{status} $r->{body}", '200 ok', '... then the response once the body is in');
	close($sock);
	my @logged = grep { $_->{path} eq '/ok/expect' } @{ $sink->{requests}->() };
	is(scalar @logged, 1, '... logged once');
	is($logged[0]{body}, $body, '... with the whole body');

	$sock = connect_to($port);
	send_raw($sock, "POST /ok/expect-big HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 9000000\r\n\r\n");
	$r = read_response($sock, 5);
	is($r && $r->{status}, 413, 'Expect: 100-continue with a body over 8 MB: 413 at once (no 100)');
	ok(closed_within($sock, 5), '... and the connection is closed');
}
{
	my $sock = connect_to($port);
	send_raw($sock, "POST /ok/chunked HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
	my $r = read_response($sock, 5);
	is($r && $r->{status}, 411, 'Transfer-Encoding without Content-Length: 411');
	is($r && $r->{headers}{connection}, 'close', '... with Connection: close');
	ok(closed_within($sock, 5), '... and the connection is closed');

	my $big = 'b' x 1_000_000;
	$r = request($port, 'PUT', '/ok/large', body => $big);
	is($r->{status}, 200, 'a 1 MB body: 200');
	my ($logged) = grep { $_->{path} eq '/ok/large' } @{ $sink->{requests}->() };
	ok($logged && $logged->{body} eq $big, '... logged whole');

	$sock = connect_to($port);
	send_raw($sock, "POST /ok/too-large HTTP/1.1\r\nContent-Length: " . (8 * 1024 * 1024) . "\r\n\r\n");
	$r = read_response($sock, 5);
	is($r && $r->{status}, 413, 'a request over 8 MB (headers + body): 413');
	ok(closed_within($sock, 5), '... and the connection is closed');

	for my $bad ("GARBAGE\r\n\r\n", "GET nothing HTTP/1.1\r\n\r\n", "GET / HTTP/2.0\r\n\r\n",
		"GET /ok HTTP/1.1\r\nNo colon here\r\n\r\n", "GET /ok HTTP/1.1\r\nContent-Length: -1\r\n\r\n")
	{
		$sock = connect_to($port);
		send_raw($sock, $bad);
		$r = read_response($sock, 5);
		(my $shown = $bad) =~ s/\r\n/\\r\\n/g;
		is($r && $r->{status}, 400, "malformed request '$shown': 400");
	}
	$r = request($port, 'GET', '/ok/after-errors');
	is($r->{status}, 200, 'the sink still answers after the malformed requests');
}

#
# 4. Concurrency.
#
{
	my $t0 = time;
	my @socks = map { my $s = connect_to($port); send_raw($s, request_bytes('GET', "/slow/500/$_")); $s } 1 .. 20;
	my $quick = request($port, 'GET', '/ok/while-slow');
	my $quick_elapsed = time - $t0;
	is($quick->{status}, 200, '20 /slow/500 in flight: another connection is answered');
	cmp_ok($quick_elapsed, '<', 0.4, "... before they are ($quick_elapsed s)");
	my @got = map { my $r = read_response($_, 10); $r ? "$r->{status} $r->{body}" : 'none' } @socks;
	my $elapsed = time - $t0;
	is_deeply(\@got, [ ('200 ok') x 20 ], '... and all 20 get 200 "ok"');
	cmp_ok($elapsed, '>=', 0.49, "... not before 500 ms ($elapsed s)");
	cmp_ok($elapsed, '<', 3, '... and together, not one after the other (that would take 10 s)');
	close($_) for @socks;
}
{
	my $before = scalar @{ $sink->{requests}->() };
	my $t0 = time;
	my $slow = connect_to($port);
	send_raw($slow, request_bytes('POST', '/slow/1500/logged', body => 'slow body'));
	is($sink->{wait_for_requests}->($before + 1, 1), $before + 1, '/slow/1500 is logged at once');
	my $early = IO::Select->new($slow)->can_read(0);
	ok(!$early && time - $t0 < 1.4, '... before its response is sent');
	my $r = read_response($slow, 5);
	is($r && $r->{status}, 200, '... which comes later');
	close($slow);
}
{
	my $before = scalar @{ $sink->{requests}->() };
	my $hang = connect_to($port);
	send_raw($hang, request_bytes('POST', '/hang/x', body => 'hanging'));
	my $t0 = time;
	my $r = request($port, 'GET', '/ok/while-hanging');
	is($r->{status}, 200, '/hang: another connection is answered meanwhile');
	cmp_ok(time - $t0, '<', 0.5, '... at once');
	ok(!IO::Select->new($hang)->can_read(1), '... and nothing arrives on the hanging connection within 1 s');
	$sink->{wait_for_requests}->($before + 2, 2);
	my @hung = grep { $_->{path} eq '/hang/x' } @{ $sink->{requests}->() };
	is_deeply([ map { $_->{body} } @hung ], ['hanging'], '... though the request was logged');
	send_raw($hang, request_bytes('GET', '/ok/behind-hang'));
	ok(!IO::Select->new($hang)->can_read(0.3), '... a request pipelined behind it is not answered either');
	close($hang);
	is(request($port, 'GET', '/ok/after-hang')->{status}, 200, 'the client closing a hanging connection disturbs nothing');
}
{
	my $before = scalar @{ $sink->{requests}->() };
	my $big = connect_to($port);
	send_raw($big, request_bytes('GET', '/big/50000000'));
	# The sink logs a request and sends its answer until the socket is full in
	# the same step (progress() in http_sink.c): once /big is logged, the sink
	# is writing 50 MB to a client that does not read.
	$sink->{wait_for_requests}->($before + 1, 10);
	my $t0 = time;
	my $r = request($port, 'GET', '/ok/while-big');
	is($r->{status}, 200, 'a /big/50000000 client that does not read: another connection is answered');
	cmp_ok(time - $t0, '<', 0.5, '... at once');
	$r = read_response($big, 30);
	is($r && length $r->{body}, 50000000, '... and the /big body arrives whole when read');
	close($big);
}
{
	my @socks = map { connect_to($port) } 1 .. 200;
	send_raw($socks[$_], request_bytes('POST', "/ok/many/$_", body => "c$_")) for 0 .. $#socks;
	my $answered = grep { my $r = read_response($_, 10); $r && $r->{status} == 200 } @socks;
	is($answered, 200, '200 connections open at once: each is answered');
	close($_) for @socks;
}

#
# 5. The log.
#
{
	my $body = qq(Zoë's "quoted" \\ back\\slash — ✓ 日本語 🚀 tab\there nl\n nul\0 ctl\x01\x1f del\x7f end);
	my $bytes = $body;
	utf8::encode($bytes);
	$bytes .= " bad\xff\xc3(";
	$r = request($port, 'POST', '/ok/logged?q=1&r=%C3%A9',
		headers => [
			[ 'X-Custom-Header', 'A' ], [ 'Content-Type', 'application/json; charset=utf-8' ],
			[ 'x-CUSTOM-header', 'B' ], [ 'X-Spaces', "  padded\t " ], [ 'X-Utf8', "\xc3\xa9t\xc3\xa9" ],
		],
		body => $bytes);
	is($r->{status}, 200, 'a request with awkward headers and body: 200');

	my $requests = $sink->{requests}->();
	my ($entry) = grep { $_->{path} =~ m{^/ok/logged} } @$requests;
	ok($entry, 'it is logged');
	is($entry->{method}, 'POST', '... method');
	is($entry->{path}, '/ok/logged?q=1&r=%C3%A9', '... path with the query string');
	is_deeply($entry->{headers}, {
		'host' => '127.0.0.1',
		'x-custom-header' => 'A, B',
		'content-type' => 'application/json; charset=utf-8',
		'x-spaces' => 'padded',
		'x-utf8' => 'été',
		'content-length' => length $bytes,
	}, '... headers: names lower-cased, a repeated one joined with ", ", values trimmed, UTF-8 kept');
	is($entry->{body}, $body . " bad\x{ff}\x{c3}(",
		'... body: UTF-8, quotes, backslashes and control characters round-trip; invalid bytes read as U+00XX');

	my @raw = split /\n/, slurp_file($sink->{log_file});
	my ($line) = grep { m{"/ok/logged} } @raw;
	like($line, qr/ctl\\u0001\\u001f del\\u007f end/, '... control characters written as \u00XX');
	my $utf8 = '✓ 日本語 🚀';
	utf8::encode($utf8);
	ok(index($line, $utf8) >= 0, '... UTF-8 passed through as is');
	my @bad = grep { !eval { $json->decode($_); 1 } } @raw;
	is(scalar @bad, 0, 'every log line is valid JSON') or diag("invalid: $bad[0]");
	is(scalar @raw, scalar @$requests, '... one line per request');

	my @n = map { $_->{n} } @$requests;
	is_deeply(\@n, [ 1 .. scalar @n ], 'n numbers the requests from 1, in log order');
	my @not_logged = grep { $_->{path} =~ m{/ok/(chunked|too-large|expect-big)} } @$requests;
	is(scalar @not_logged, 0, 'rejected (411, 413) and incomplete requests are not logged');
	my $t_end = time;
	my @bad_t = grep { $_->{t} < $t_start - 1 || $_->{t} > $t_end + 1 } @$requests;
	is(scalar @bad_t, 0, 't is the time of the request, in seconds since the epoch');
	ok(!grep({ !/^\{"t": \d+\.\d{6}, "conn": \d+, "n": \d+, "method": / } @raw),
		'... written with microseconds, then conn, n, method');
	my @t = map { $_->{t} } @$requests;
	ok(!grep({ $t[$_] < $t[ $_ - 1 ] } 1 .. $#t), '... never decreasing');

	my @keepalive = grep { $_->{path} =~ m{^/ok/keepalive/} } @$requests;
	is(scalar @keepalive, 3, 'the three keep-alive requests are logged');
	is(scalar(keys %{ { map { $_->{conn} => 1 } @keepalive } }), 1, '... with the same conn');
	is_deeply([ map { $_->{body} } @keepalive ], [qw(k1 k2 k3)], '... and their bodies');
	my @many = grep { $_->{path} =~ m{^/ok/many/} } @$requests;
	is(scalar(keys %{ { map { $_->{conn} => 1 } @many } }), 200, 'the 200 concurrent connections have 200 conn numbers');
	my ($first_ok) = grep { $_->{path} eq '/ok/a?x=1' } @$requests;
	ok($first_ok && $first_ok->{conn} < $keepalive[0]{conn}, 'conn numbers grow with each connection');

	is($sink->{count}->(), scalar @$requests, 'SIGUSR1: COUNT is the number of requests logged');
}

#
# 6. A keep-alive load: 16 connections, one request in flight on each, for
# a second.  This Perl client is the bottleneck; the bound only catches a
# sink that stalls (Nagle, a blocking call, a busy loop).
#
{
	my $nolog = start_http_sink();
	my @socks = map { connect_to($nolog->{port}) } 1 .. 16;
	my $req = request_bytes('POST', '/ok/load', body => '{"type": "todo.updated"}');
	send_raw($_, $req) for @socks;
	my ($done, $errors) = (0, 0);
	my $t0 = time;
	while (time - $t0 < 1)
	{
		my @ready = IO::Select->new(@socks)->can_read(1);
		for my $s (@ready)
		{
			my $r = read_response($s, 5);
			$errors++ unless $r && $r->{status} == 200;
			$done++;
			send_raw($s, $req);
		}
	}
	my $rate = $done / (time - $t0);
	$_->close for @socks;
	is($errors, 0, 'keep-alive load: every response is 200');
	cmp_ok($rate, '>', 1000, sprintf('... more than 1,000 requests/s from this Perl client (%.0f/s)', $rate));
	ok(!eval { $nolog->{requests}->(); 1 }, 'a sink started without log => 1: requests() dies');
	cmp_ok($nolog->{count}->(), '>=', $done, '... yet it counts its requests');
	is($nolog->{stop}->(), 0, '... and exits 0 on stop');
}

#
# 7. --ipv6 (the tests of webhooks to IPv6 loopback forms use it).
#
SKIP:
{
	my $probe = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0, Listen => 1);
	skip 'no IPv6 loopback on this machine', 5 unless $probe;
	close($probe);
	my $v6 = start_http_sink(log => 1, ipv6 => 1);
	my $get = sub {
		my ($host) = @_;
		my $sock = IO::Socket::IP->new(PeerHost => $host, PeerPort => $v6->{port}, Timeout => 10)
		  or return 'no connection';
		binmode($sock);
		${*$sock}{sink_buf} = '';
		send_raw($sock, request_bytes('GET', "/ok/from/$host"));
		my $r = read_response($sock, 5);
		close($sock);
		return $r ? "$r->{status} $r->{body}" : 'no response';
	};
	is($get->('::1'), '200 ok', '--ipv6: [::1] is answered on the same port');
	is($get->('127.0.0.1'), '200 ok', '--ipv6: ... and 127.0.0.1 still is');
	is_deeply([ map { $_->{path} } @{ $v6->{requests}->() } ], [ '/ok/from/::1', '/ok/from/127.0.0.1' ],
		'--ipv6: both requests are logged');
	is($v6->{stop}->(), 0, '--ipv6: exits 0 on stop');
	ok(!IO::Socket::IP->new(PeerHost => '::1', PeerPort => $port, Timeout => 5),
		'without --ipv6 nothing listens on [::1]');
}

my $before_stop = scalar @{ $sink->{requests}->() };
is($sink->{stop}->(), 0, 'stop: SIGTERM, exit status 0');
is(scalar @{ $sink->{requests}->() }, $before_stop, '... with the log complete');
ok(!IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp'),
	'... and the port is closed');

done_testing();
