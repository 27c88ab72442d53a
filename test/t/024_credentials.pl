# 024_credentials.pl — credentials across sessions, commits and time
# (issue 14).  Every user session connects as tracker_agent, a login role
# that has only intracker_user, and proves who it is with
# intracker.authenticate(); test/pgtap/credentials.sql has the rules that fit
# in one transaction.
#
#   A. Two sessions with two tokens stay separate: each acts as its own
#      user, interleaved, and writes are attributed to it.
#   B. DISCARD ALL (what a pooler runs between clients) drops the identity.
#   C. Revoking a token, deactivating its user, or its expiry ends the
#      identity of sessions already using it, at their next transaction.
#   D. login()'s JWT checked outside PostgreSQL: the signature recomputed
#      with Perl's HMAC-SHA256, the documented claims; JWTs forged here
#      with the right secret are accepted, and refused after exp, with a
#      changed payload, with another secret, with alg none or HS512; a
#      session on a JWT ends at its exp.
#   E. Lockout: 10 failed logins of an email make login answer PT429, even
#      to the right password, until the window (4 s here) has passed; an
#      unknown email locks the same way; a success clears the count.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64 decode_base64);
use JSON::PP;
use Time::HiRes qw(usleep time);
use IntrackerTest;

my $secret = 'the-jwt-secret-of-this-test-0123456789';
my $window = 4;    # seconds, intracker.login_failure_window

my $node = new_node('credentials');
$node->append_conf('postgresql.conf',
	"intracker.jwt_secret = '$secret'\nintracker.login_failure_window = '${window}s'\n");
$node->restart;
install_extension($node, 'postgres');
create_test_roles($node);

my %user = map { $_ => $node->safe_psql('postgres',
		"SELECT id FROM intracker.create_user('$_\@example.com', '\u$_')") } qw(ann bob cid);
sub su { return $node->safe_psql('postgres', $_[0]) }

# An API token of a user, created by the user (acting as them, as the
# superuser); expires => an SQL expression.
sub new_token
{
	my ($who, %opt) = @_;
	my $expires = $opt{expires} // 'NULL';    # an SQL expression
	return su("SELECT intracker.act_as('$user{$who}') \\gset\n"
		  . "SELECT token FROM intracker.create_api_token('$who token', $expires)");
}

# psql as tracker_agent: ($ret, $stdout, $stderr)
sub as_agent
{
	my ($sql) = @_;
	return $node->psql('postgres', "\\set VERBOSITY verbose\n$sql",
		connstr => $node->connstr('postgres') . ' user=tracker_agent');
}

##############################################################################
# A. Two sessions, two tokens

my $project = safe_psql_as($node, 'postgres', $user{ann}, "SELECT id FROM intracker.create_project('Shared')");
safe_psql_as($node, 'postgres', $user{ann}, "SELECT intracker.add_member('$project', '$user{bob}', 'editor')");
my ($ann_token, $bob_token) = (new_token('ann'), new_token('bob'));
like($ann_token, qr/^itk_[0-9A-Za-z]{44}$/, 'a token as the issue describes it');

my $ann = IntrackerTest::Session->new($node, 'postgres', name => 'ann', user => $ann_token, via => 'token');
my $bob = IntrackerTest::Session->new($node, 'postgres', name => 'bob', user => $bob_token, via => 'token');
is($ann->query_safe('SELECT current_user, intracker.current_user_id()'), "tracker_agent|$user{ann}",
	'session 1: a plain login role, authenticated as ann');
is($bob->query_safe('SELECT intracker.current_user_id()'), $user{bob}, 'session 2: bob');
for my $round (1 .. 3)
{
	$ann->query_safe("SELECT intracker.create_todo('$project', 'ann $round')");
	$bob->query_safe("SELECT intracker.create_todo('$project', 'bob $round')");
}
is(su("SELECT string_agg(DISTINCT title || ' by ' || created_by, ', ' ORDER BY title || ' by ' || created_by) FROM intracker_data.todos"),
	join(', ', (map {"ann $_ by $user{ann}"} 1 .. 3), (map {"bob $_ by $user{bob}"} 1 .. 3)),
	'interleaved writes are attributed to each session\'s own user');
is($ann->query_safe('SELECT intracker.current_user_id()'), $user{ann}, 'session 1 is still ann');

##############################################################################
# B. DISCARD ALL

$bob->query_safe('DISCARD ALL');
is($bob->query_safe("SELECT coalesce(intracker.current_user_id()::text, 'none')"), 'none',
	'DISCARD ALL drops the identity');
my (undef, $err) = $bob->query("SELECT intracker.create_todo('$project', 'after discard')");
like($err, qr/PT401/, '... and the next client of the connection cannot write as bob');
is($ann->query_safe('SELECT intracker.current_user_id()'), $user{ann}, '... while the other session keeps its own');
$bob->query_safe("SELECT intracker.authenticate('$bob_token')");

##############################################################################
# C. A session's identity ends with its credential

my $ann_token_id = su("SELECT id FROM intracker_data.api_tokens WHERE user_id = '$user{ann}'");
$ann->query_safe('BEGIN');
$ann->query_safe('SELECT count(*) FROM intracker.todos');
safe_psql_as($node, 'postgres', $user{ann}, "SELECT intracker.revoke_api_token('$ann_token_id')");
is($ann->query_safe('SELECT intracker.current_user_id()'), $user{ann},
	'a transaction that began before the revocation keeps its identity');
$ann->query_safe('COMMIT');
(undef, $err) = $ann->query('SELECT count(*) FROM intracker.todos');
like($err, qr/PT401: the API token this session authenticated with is no longer valid/,
	'revoked: the session\'s next transaction is refused (PT401)');
(undef, $err) = $ann->query('SELECT intracker.team_context(' . q_lit($project) . ')');
like($err, qr/PT401/, '... every next one, until it authenticates again');
is($ann->query_safe("SELECT intracker.authenticate(NULL) IS NULL, coalesce(intracker.current_user_id()::text, 'none')"),
	't|none', '... or signs out');
(undef, $err) = $ann->query("SELECT intracker.authenticate('$ann_token')");
like($err, qr/PT401: invalid credentials/, 'the revoked token itself is refused');

su("SELECT intracker.set_user_active('$user{bob}', false)");
(undef, $err) = $bob->query('SELECT 1 FROM intracker.todos LIMIT 1');
like($err, qr/PT401/, 'deactivating the user ends the identity of their token\'s session');
su("SELECT intracker.set_user_active('$user{bob}', true)");
is($bob->query_safe('SELECT intracker.current_user_id()'), $user{bob}, '... and reactivating brings it back');

my $short_token = new_token('cid', expires => 'now() + interval \'3 seconds\'');
my $cid = IntrackerTest::Session->new($node, 'postgres', name => 'cid', user => $short_token, via => 'token');
is($cid->query_safe('SELECT intracker.current_user_id()'), $user{cid}, 'a token that expires soon works until then');
ok(poll_error($cid, 'SELECT intracker.current_user_id()', qr/PT401/),
	'... and its session is refused once it has expired');
$cid->quit;

# Poll $session with $sql until its error matches $pattern (hang guard: 60 s).
sub poll_error
{
	my ($session, $sql, $pattern) = @_;
	my $deadline = time + 60;
	while (time < $deadline)
	{
		my (undef, $e) = $session->query($sql);
		return 1 if $e =~ $pattern;
		usleep(200_000);
	}
	return 0;
}

##############################################################################
# D. login's JWT, checked outside PostgreSQL

sub b64url { my $s = encode_base64($_[0], ''); $s =~ tr{+/}{-_}; $s =~ s/=+$//; return $s }
sub b64url_decode { my $s = $_[0]; $s =~ tr{-_}{+/}; $s .= '=' x ((4 - length($s) % 4) % 4); return decode_base64($s) }
sub sign_jwt
{
	my ($header, $claims, $key) = @_;
	my $signing_input = b64url($header) . '.' . b64url($claims);
	return $signing_input . '.' . b64url(hmac_sha256($signing_input, $key));
}

su("SELECT intracker.act_as('$user{ann}') \\gset\nSELECT intracker.set_password('purple otter meadow 17')");
my ($ret, $out, $stderr) = as_agent("SELECT intracker.login('ann\@example.com', 'purple otter meadow 17')");
is($ret, 0, 'a plain login role logs in') or diag($stderr);
my $answer = decode_json($out);
my ($h64, $p64, $s64) = split /\./, $answer->{token};
is(b64url(hmac_sha256("$h64.$p64", $secret)), $s64,
	'the JWT\'s signature is the HMAC-SHA256 of its first two segments with intracker.jwt_secret (computed by Perl)');
my $claims = decode_json(b64url_decode($p64));
is_deeply(decode_json(b64url_decode($h64)), { alg => 'HS256', typ => 'JWT' }, 'header: HS256 JWT');
is($claims->{sub}, $user{ann}, 'claim sub: the user id');
is($claims->{role}, 'web_user', 'claim role: intracker.jwt_role');
is($claims->{exp} - $claims->{iat}, 3600, 'claims iat and exp: one hour apart (intracker.jwt_lifetime)');
ok(abs($claims->{iat} - time) < 120, 'iat is now');
is($answer->{user_id}, $user{ann}, 'the answer names the user');
ok(su("SELECT last_login_at > now() - interval '1 minute' FROM intracker_data.users WHERE id = '$user{ann}'") eq 't',
	'login set last_login_at');

my $now = int(time);
my %forged = (
	'signed here with the right secret' => [ 'ok', sign_jwt('{"alg":"HS256","typ":"JWT"}',
			qq({"sub":"$user{bob}","role":"web_user","iat":$now,"exp":@{[$now + 600]}}), $secret) ],
	'expired' => [ 'PT401', sign_jwt('{"alg":"HS256","typ":"JWT"}',
			qq({"sub":"$user{ann}","role":"web_user","iat":@{[$now - 7200]},"exp":@{[$now - 3600]}}), $secret) ],
	'another secret' => [ 'PT401', sign_jwt('{"alg":"HS256","typ":"JWT"}',
			qq({"sub":"$user{ann}","iat":$now,"exp":@{[$now + 600]}}), $secret . 'x') ],
	'a changed payload' => [ 'PT401', "$h64." . b64url(qq({"sub":"$user{bob}","role":"web_user","iat":$claims->{iat},"exp":$claims->{exp}})) . ".$s64" ],
	'alg none' => [ 'PT401', b64url('{"alg":"none","typ":"JWT"}') . ".$p64." ],
	'alg none, signed anyway' => [ 'PT401', sign_jwt('{"alg":"none","typ":"JWT"}', b64url_decode($p64), $secret) ],
	'alg HS512' => [ 'PT401', sign_jwt('{"alg":"HS512","typ":"JWT"}', b64url_decode($p64), $secret) ],
	'not yet valid (nbf)' => [ 'PT401', sign_jwt('{"alg":"HS256"}',
			qq({"sub":"$user{ann}","iat":$now,"nbf":@{[$now + 600]},"exp":@{[$now + 1200]}}), $secret) ],
	'no exp' => [ 'PT401', sign_jwt('{"alg":"HS256"}', qq({"sub":"$user{ann}","iat":$now}), $secret) ],
	'login\'s own' => [ 'ok', $answer->{token} ]);
for my $case (sort keys %forged)
{
	my ($expect, $jwt) = @{ $forged{$case} };
	($ret, $out, $stderr) = as_agent("SELECT intracker.authenticate(" . q_lit($jwt) . ")");
	if ($expect eq 'ok')
	{
		like($out, qr/^[0-9a-f-]{36}$/, "a JWT $case is accepted") or diag($stderr);
	}
	else
	{
		like($stderr, qr/ERROR:  $expect: invalid credentials/, "a JWT $case is refused with $expect");
	}
}

my $brief = sign_jwt('{"alg":"HS256","typ":"JWT"}', qq({"sub":"$user{cid}","role":"web_user","iat":$now,"exp":@{[int(time) + 5]}}), $secret);
my $jwt_session = IntrackerTest::Session->new($node, 'postgres', name => 'jwt', user => $brief, via => 'token');
is($jwt_session->query_safe('SELECT intracker.current_user_id()'), $user{cid}, 'a session on a JWT acts as its sub');
ok(poll_error($jwt_session, 'SELECT intracker.current_user_id()', qr/PT401: the JWT this session authenticated with has expired/),
	'... until its exp');
$jwt_session->quit;

##############################################################################
# E. Lockout

sub login_state
{
	my ($email, $password) = @_;
	my ($r, undef, $e) = as_agent("SELECT intracker.login(" . q_lit($email) . ', ' . q_lit($password) . ')');
	return $r == 0 ? 'ok' : (sqlstate_of($e) // "?: $e");
}

su("SELECT intracker.act_as('$user{bob}') \\gset\nSELECT intracker.set_password('silver kettle winter 42')");
# The window runs from the first failure (at most this late).
my $first_failure = time;
my @failures = map { login_state('bob@example.com', "wrong guess $_") } 1 .. 10;
is_deeply(\@failures, [ ('PT401') x 10 ], '10 wrong passwords: PT401 each');
is(login_state('bob@example.com', "silver kettle winter 42"), 'PT429', 'then even the right password gets PT429');
is(login_state('BOB@example.com', "silver kettle winter 42"), 'PT429', '... whatever the case of the email');
is(login_state('ann@example.com', "purple otter meadow 17"), 'ok', '... while other emails log in');
($ret, $out, $stderr) = as_agent("SELECT intracker.login('bob\@example.com', 'x')");
like($stderr, qr/DETAIL:  Logins for this email are refused until/, 'PT429 says until when');

is_deeply([ map { login_state('nobody@example.com', "guess $_") } 1 .. 11 ], [ ('PT401') x 10, 'PT429' ],
	'an unknown email is locked the same way (locking tells nothing about which emails exist)');

my @after;
while (time < $first_failure + $window + 30)
{
	my $state = login_state('bob@example.com', "silver kettle winter 42");
	@after = ($state, time - $first_failure);
	last if $state eq 'ok';
	usleep(250_000);
}
is($after[0], 'ok', 'once the window has passed, the right password works again');
cmp_ok($after[1], '>=', $window, "... not before the window (${window}s from the first failure) has passed");

login_state('ann@example.com', "wrong $_") for 1 .. 9;
is(login_state('ann@example.com', "purple otter meadow 17"), 'ok', '9 failures, then the right password: ok');
login_state('ann@example.com', "wrong again $_") for 1 .. 9;
is(login_state('ann@example.com', "purple otter meadow 17"), 'ok', '... which cleared the count: 9 more are not a lockout');

$ann->quit;
$bob->quit;
$node->stop;
done_testing();
