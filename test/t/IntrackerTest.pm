# test/t/IntrackerTest.pm — shared helpers for intracker's Perl TAP tests.
#
# The tests in test/t/*.pl use PostgreSQL::Test::Cluster for anything that
# needs real servers, real commits or several concurrent sessions.  This
# module keeps their common setup in one place:
#
#   new_node($name, preload => 0|1, archiving => 0|1)
#                                       initdb + start a throwaway server (archiving:
#                                       WAL archiving and base backups)
#   install_extension($node, $db)       CREATE DATABASE (unless postgres) + CREATE EXTENSION
#   create_test_roles($node)            the login roles the tests connect as (see below)
#   psql_as / safe_psql_as              one-shot psql acting as an intracker user
#   sqlstate_of($stderr)                the SQLSTATE of the first error psql printed
#   sample_team($node, $db)             users, projects, members, features, todos,
#                                       dependencies and sessions; returns their ids
#   IntrackerTest::Session->new(...)    a background psql session acting as a user,
#                                       with send()/wait_until_blocked()/wait_result()
#                                       for statements that block on another session
#   create_users($node, $db, key => kind, ...)   users created by the superuser
#   rand_of(@list), rand_uuid()         a random element / uuid from Perl's
#                                       generator (seed it with srand for
#                                       reproducible workloads)
#   build_listener()                    compile test/helpers/listen.c (a libpq
#                                       LISTEN client); returns the binary's path
#   start_listener($node, $db, @channels)  run it in the background; returns
#                                       { lines => sub, wait_for => sub, stop => sub }
#   build_http_sink()                   compile test/helpers/http_sink.c (the HTTP
#                                       server webhooks are delivered to); returns
#                                       the binary's path
#   start_http_sink(log => 0|1, ipv6 => 0|1)  run it in the background on 127.0.0.1
#                                       (and [::1] with ipv6); returns
#                                       { port, url, requests => sub, wait_for_requests
#                                       => sub, count => sub, log_file, stop => sub }
#   run_together($node, [$session, $script], ...)  start scripts in several sessions
#                                       at the same moment (advisory-lock barrier)
#                                       and collect each one's output and errors
#   error_counts($stderr)               SQLSTATE => number of errors psql printed
#   counter_drift / load_mismatches($node, $db [, $projects])
#   open_work_of_inactive_users($node, $db)
#                                       the 0.2 counters and rules checked from
#                                       scratch ('' when consistent);
#                                       counters_consistent() asserts the first two
#   served_node($name, $db, $conf)      a node whose publisher and deliverer serve $db
#                                       (extension and test roles created), with the
#                                       lines $conf; returns once the publisher is idle
#   delivery_node($name, $db, $conf)    a node whose publisher and deliverer serve $db
#                                       (extension and test roles created), with
#                                       intracker.http_allow_private_networks on (the
#                                       sink is on 127.0.0.1) and the lines $conf;
#                                       returns once the deliverer is idle
#   wait_until_published($node, $db)    wait until the publisher drained the outbox
#   reload_setting($node, $db, $name, $value)  ALTER SYSTEM SET (RESET for undef)
#                                       and reload; returns once the deliverer
#                                       of $db has run a round with it
#   timed($label, sub { ... })          run the sub, report its wall time with diag
#                                       (information only, never asserted);
#                                       returns what the sub returned
#
# Login roles (cluster-wide, created by create_test_roles):
#   tracker_admin   LOGIN, member of intracker_admin: acts as users with act_as()
#   authenticator   LOGIN NOINHERIT, like PostgREST's: identity from request.jwt.claims
#   web_user        NOLOGIN, member of intracker_user, granted to authenticator
#   tracker_agent   LOGIN, member of intracker_user only: proves who it is
#                   with intracker.authenticate(token)
# None is a superuser, so row-level security applies to their sessions.
#
# Every psql call here uses \set VERBOSITY verbose, so errors carry their
# SQLSTATE, DETAIL and HINT ("ERROR:  PT409: todo ... was changed ...").

package IntrackerTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();
use IPC::Run ();
use JSON::PP ();

our @EXPORT = qw(new_node install_extension create_test_roles psql_as
  build_listener start_listener build_http_sink start_http_sink rand_of rand_uuid
  safe_psql_as sqlstate_of is_sqlstate sample_team q_lit create_users
  run_together error_counts counter_drift load_mismatches
  open_work_of_inactive_users counters_consistent timed reload_setting
  served_node delivery_node wait_until_published);

# Run $code and report how long it took with diag (information only, never
# asserted); returns what $code returned.
sub timed
{
	my ($label, $code) = @_;
	my $t0 = [Time::HiRes::gettimeofday];
	my @r  = $code->();
	diag(sprintf('%-58s %6.1f s', $label, Time::HiRes::tv_interval($t0)));
	return wantarray ? @r : $r[0];
}

# A node whose publisher and deliverer serve $db (extension and test roles
# created, the lines $conf appended to postgresql.conf); returns once the
# publisher is idle.
sub served_node
{
	my ($name, $db, $conf) = @_;
	my $node = new_node($name);
	$node->append_conf('postgresql.conf',
		"# added by IntrackerTest::served_node\nintracker.database = '$db'\n" . ($conf // ''));
	install_extension($node, $db);
	create_test_roles($node);
	# The extension exists before the restart: the processes find it at once.
	$node->restart;
	$node->poll_query_until($db, q{SELECT state = 'idle' FROM intracker.worker_status})
	  or die 'the publisher did not become idle: '
	  . $node->safe_psql($db, q{SELECT concat_ws(' | ', state, last_error) FROM intracker.worker_status});
	return $node;
}

# A served_node for tests that send webhooks and GitHub calls to the HTTP
# sink: the sink listens on 127.0.0.1, a loopback address, so
# intracker.http_allow_private_networks is on (it is off by default);
# returns once the deliverer is idle too.
sub delivery_node
{
	my ($name, $db, $conf) = @_;
	my $node = served_node($name, $db, "intracker.http_allow_private_networks = on\n" . ($conf // ''));
	$node->poll_query_until($db, q{SELECT state = 'idle' FROM intracker.deliverer_status})
	  or die 'the deliverer did not become idle: '
	  . $node->safe_psql($db, q{SELECT concat_ws(' | ', state, last_error) FROM intracker.deliverer_status});
	return $node;
}

# Wait until the publisher has published (and so fanned out) every event.
sub wait_until_published
{
	my ($node, $db) = @_;
	$node->poll_query_until($db, 'SELECT NOT EXISTS (SELECT FROM intracker_data.outbox)')
	  or die 'the publisher did not drain the outbox';
	return;
}

# Change a setting of the running server: ALTER SYSTEM SET $name = $value
# (RESET when $value is undef) and pg_reload_conf().  Returns once a new
# session sees the reload and the deliverer serving $db has run a round
# after it: a new session's pg_conf_load_time() is when the postmaster
# reloaded, just before it signalled its children, and the deliverer reads
# its SIGHUP at the top of its loop and then always runs a round, which
# sets its query_start.
sub reload_setting
{
	my ($node, $db, $name, $value) = @_;
	my $before = $node->safe_psql($db, 'SELECT pg_conf_load_time()');
	$node->safe_psql($db,
		defined $value ? "ALTER SYSTEM SET $name = " . q_lit($value) : "ALTER SYSTEM RESET $name");
	$node->safe_psql($db, 'SELECT pg_reload_conf()');
	$node->poll_query_until($db, 'SELECT pg_conf_load_time() > ' . q_lit($before) . '::timestamptz')
	  or die "the server did not reload after setting $name";
	$node->poll_query_until($db, q{
SELECT query_start > pg_conf_load_time() FROM pg_stat_activity WHERE backend_type = 'intracker deliverer'})
	  or die "the deliverer ran no round after $name changed";
	return;
}

# A SQL string literal for $s (dollar quoting would break on '$q$' inside).
sub q_lit
{
	my ($s) = @_;
	return 'NULL' unless defined $s;
	$s =~ s/'/''/g;
	return "'$s'";
}

# Create and start a node.  TEMP_CONFIG (test/bin/run-all points it at
# test/regress.conf) may already preload the library; the explicit setting
# appended last wins, so preload => 0 really means "not preloaded".
sub new_node
{
	my ($name, %opt) = @_;
	my $preload = exists $opt{preload} ? $opt{preload} : 1;
	my $node = PostgreSQL::Test::Cluster->new($name);

	# UTF8 whatever the caller's locale: the tests store non-ASCII text.
	# archiving => 1: WAL archiving and base backups (PostgreSQL::Test::Cluster's).
	$node->init(extra => [ '--encoding=UTF8', '--no-locale' ],
		($opt{archiving} ? (has_archiving => 1, allows_streaming => 1) : ()));
	$node->append_conf('postgresql.conf',
		    "# added by IntrackerTest::new_node\n"
		  . "shared_preload_libraries = '"
		  . ($preload ? 'intracker' : '') . "'\n"
		  . "max_connections = 40\n"
		  . "lc_messages = 'C'\n");
	$node->start;
	return $node;
}

sub install_extension
{
	my ($node, $db) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db") if $db ne 'postgres';
	$node->safe_psql($db, 'CREATE EXTENSION intracker');
	return;
}

# Idempotent: roles are cluster-wide and outlive DROP EXTENSION.
sub create_test_roles
{
	my ($node) = @_;
	$node->safe_psql(
		'postgres', q{
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tracker_admin') THEN
        CREATE ROLE tracker_admin LOGIN NOSUPERUSER;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticator') THEN
        CREATE ROLE authenticator LOGIN NOINHERIT NOSUPERUSER;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'web_user') THEN
        CREATE ROLE web_user NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tracker_agent') THEN
        CREATE ROLE tracker_agent LOGIN NOSUPERUSER;
    END IF;
    GRANT intracker_admin TO tracker_admin;
    GRANT intracker_user TO tracker_agent;
    GRANT intracker_user TO web_user;
    GRANT web_user TO authenticator;
END
$roles$;
});
	return;
}

# The psql script prefix that gives a session its identity.
#   via => 'act_as' (default): connected as tracker_admin, SELECT intracker.act_as(uid)
#   via => 'jwt':  connected as authenticator, SET ROLE web_user, claims {"sub": uid}
#   via => 'superuser': the node's superuser, act_as(uid) if uid is defined
#   via => 'none': tracker_admin without identity
#   via => 'token': connected as tracker_agent, SELECT intracker.authenticate(token)
#                   (then $user_id is the token: an API token or a JWT)
# Returns (login role or undef for the superuser, script prefix).
sub identity_prefix
{
	my ($user_id, $via) = @_;
	$via //= 'act_as';
	my $prefix = "\\set VERBOSITY verbose\n";
	if ($via eq 'jwt')
	{
		return (
			'authenticator',
			$prefix
			  . "SET ROLE web_user;\n"
			  . "SELECT set_config('request.jwt.claims', "
			  . q_lit(qq({"sub": "$user_id"}))
			  . ", false) \\gset\n");
	}
	my $act_as =
	  defined $user_id
	  ? "SELECT intracker.act_as(" . q_lit($user_id) . ") \\gset\n"
	  : '';
	return (undef, $prefix . $act_as) if $via eq 'superuser';
	return ('tracker_admin', $prefix) if $via eq 'none';
	return ('tracker_agent', $prefix . "SELECT intracker.authenticate(" . q_lit($user_id) . ") \\gset\n")
	  if $via eq 'token';
	die "unknown identity path '$via'" unless $via eq 'act_as';
	return ('tracker_admin', $prefix . $act_as);
}

# Run $sql acting as $user_id; returns ($ret, $stdout, $stderr) like
# $node->psql in list context.  Options: via => (see identity_prefix).
sub psql_as
{
	my ($node, $db, $user_id, $sql, %opt) = @_;
	my ($login, $prefix) = identity_prefix($user_id, $opt{via});
	my $connstr = $node->connstr($db) . (defined $login ? " user=$login" : '');
	my ($ret, $out, $err) = $node->psql($db, $prefix . $sql, connstr => $connstr);
	return ($ret, $out, $err);
}

# Like psql_as, but a failure ends the test with the statement and the error.
sub safe_psql_as
{
	my ($node, $db, $user_id, $sql, %opt) = @_;
	my ($ret, $out, $err) = psql_as($node, $db, $user_id, $sql, %opt);
	if ($ret != 0)
	{
		diag("statement failed (psql exit $ret) acting as "
			  . ($user_id // 'nobody') . ":\n$sql\n$err");
		die "safe_psql_as failed: $err\n";
	}
	return $out;
}

# SQLSTATE of the first ERROR/FATAL in psql's stderr (VERBOSITY verbose),
# or '' when there is none.
sub sqlstate_of
{
	my ($stderr) = @_;
	return '' unless defined $stderr;
	return $stderr =~ /(?:ERROR|FATAL):\s+([0-9A-Z]{5}):/ ? $1 : '';
}

# Test that psql's stderr reports SQLSTATE $code; on failure show the whole
# error (message, DETAIL, HINT) and the output.
sub is_sqlstate
{
	my ($err, $code, $name, $out) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $ok = is(sqlstate_of($err), $code, $name);
	diag("stderr was:\n" . ($err // '') . "\nstdout was:\n" . ($out // ''))
	  unless $ok;
	return $ok;
}

# Build a sample team in $db and return its ids:
#   users    alice (owner of apollo, viewer of zeta), bob (editor of apollo,
#            owner of zeta), carol (viewer of apollo), erin (owner of zeta),
#            robot (agent, editor of apollo), dave (no project)
#   projects apollo (resume_context with unicode and quotes), zeta
#   features apollo: login, billing (in_progress); zeta: search (done)
#   todos    apollo: t_design (done), t_api (in_progress, blocked by t_design),
#            t_docs (todo, blocked by t_api), t_old (cancelled),
#            t_review (review, assigned to bob), t_stuck (blocked, blocked_reason);
#            zeta: t_index (done), t_query (todo, blocked by t_index)
#   sessions alice in apollo (ended), bob in zeta (ended), robot in apollo (open)
# Everything is created through the API, acting as the right user, so the
# versions are what real use produces (several rows have version > 1).
sub sample_team
{
	my ($node, $db) = @_;
	my %t;

	# The node's superuser is a member of every role, intracker_admin included.
	my $sql = sub {
		my ($as, $stmt) = @_;
		my $out = safe_psql_as($node, $db, $as, $stmt, via => 'superuser');
		return $out;
	};

	my @users = (
		[ alice => 'alice@example.com', q{Alice O'Hara},   'human', 'alice-o' ],
		[ bob   => 'Bob@Example.com',   'Bob "the builder"', 'human', undef ],
		[ carol => 'carol@example.com', 'Carol Zoë Ångström', 'human', undef ],
		[ dave  => 'dave@example.com',  'Dave',            'human', undef ],
		[ erin  => 'erin@example.com',  'Erin',            'human', 'erin42' ],
		[ robot => 'robot@agents.example.com', 'Claude (agent)', 'agent', undef ],
	);
	for my $u (@users)
	{
		my ($key, $email, $name, $kind, $gh) = @$u;
		$t{$key} = $sql->(undef,
			    "SELECT id FROM intracker.create_user(email => "
			  . q_lit($email)
			  . ", name => "
			  . q_lit($name)
			  . ", kind => "
			  . q_lit($kind)
			  . ", github_username => "
			  . q_lit($gh) . ")");
	}

	$t{resume_context} =
	  q[{"notes": "Zoë's \"quoted\" note — ✓ 日本語 🚀", "constraints": ["don't break the API", "back\\\\slash"], "nested": {"a": [1, 2.5, null, true], "empty": {}}}];

	$t{apollo} = $sql->($t{alice},
		    "SELECT id FROM intracker.create_project(name => 'Apollo', "
		  . "description => 'Moon landing; \"quotes\" and ''apostrophes''', "
		  . "github_repo => 'octocat/apollo-11', tags => ARRAY['space', 'nasa'])");
	$sql->($t{alice},
		    "SELECT version FROM intracker.update_project('$t{apollo}', "
		  . "jsonb_build_object('resume_context', "
		  . q_lit($t{resume_context})
		  . "::jsonb), 1)");
	$t{zeta} = $sql->($t{bob},
		"SELECT id FROM intracker.create_project(name => 'Zeta', status => 'paused')");

	$sql->($t{alice}, <<"SQL");
SELECT FROM intracker.add_member('$t{apollo}', '$t{bob}', 'editor');
SELECT FROM intracker.add_member('$t{apollo}', '$t{carol}', 'viewer');
SELECT FROM intracker.add_member('$t{apollo}', '$t{robot}', 'editor');
SQL
	$sql->($t{bob}, <<"SQL");
SELECT FROM intracker.add_member('$t{zeta}', '$t{erin}', 'owner');
SELECT FROM intracker.add_member('$t{zeta}', '$t{alice}', 'viewer');
SQL

	$t{f_login} = $sql->($t{alice},
		"SELECT id FROM intracker.create_feature('$t{apollo}', 'Login', priority => 'high', assigned_to => '$t{bob}')");
	$t{f_billing} = $sql->($t{bob},
		"SELECT id FROM intracker.create_feature('$t{apollo}', 'Billing', description => 'Invoices in €')");
	$t{f_search} = $sql->($t{erin},
		"SELECT id FROM intracker.create_feature('$t{zeta}', 'Search')");

	my $todo = sub {
		my ($as, $project, $title, $extra) = @_;
		return $sql->($as,
			    "SELECT id FROM intracker.create_todo('$project', "
			  . q_lit($title)
			  . ($extra ? ", $extra" : '') . ")");
	};
	$t{t_design} = $todo->($t{alice}, $t{apollo}, 'Design schema',
		"feature_id => '$t{f_login}', priority => 'critical', estimate => 3, tags => ARRAY['db']");
	$t{t_api} = $todo->($t{bob}, $t{apollo}, 'Implement API',
		"feature_id => '$t{f_login}', assigned_to => '$t{bob}', due_date => '2030-01-31'");
	$t{t_docs} = $todo->($t{robot}, $t{apollo}, 'Write "docs"',
		"description => 'Line one\nline two, tab\there'");
	$t{t_old}    = $todo->($t{alice}, $t{apollo}, 'Old idea');
	$t{t_review} = $todo->($t{bob}, $t{apollo}, 'Review billing',
		"feature_id => '$t{f_billing}', assigned_to => '$t{bob}'");
	$t{t_stuck} = $todo->($t{alice}, $t{apollo}, 'Stuck on legal');
	$t{t_index} = $todo->($t{erin}, $t{zeta}, 'Build index',
		"feature_id => '$t{f_search}'");
	$t{t_query} = $todo->($t{bob}, $t{zeta}, 'Query parser');

	# Dependencies first (t_api needs t_design done before it may start).
	$sql->($t{bob}, <<"SQL");
SELECT FROM intracker.add_dependency('$t{t_api}', '$t{t_design}');
SELECT FROM intracker.add_dependency('$t{t_docs}', '$t{t_api}');
SQL
	$sql->($t{erin},
		"SELECT FROM intracker.add_dependency('$t{t_query}', '$t{t_index}')");

	# Statuses, each based on the version just read.
	my $status = sub {
		my ($as, $todo_id, $new_status, $changes) = @_;
		my $c = $changes // qq({"status": "$new_status"});
		$sql->($as,
			    "SELECT version FROM intracker.update_todo('$todo_id', "
			  . q_lit($c)
			  . "::jsonb, (SELECT version FROM intracker.todos WHERE id = '$todo_id'))");
	};
	$status->($t{alice}, $t{t_design}, 'in_progress');
	$status->($t{alice}, $t{t_design}, 'done');
	$status->($t{bob},   $t{t_api},    'in_progress');
	$status->($t{alice}, $t{t_old},    'cancelled');
	$status->($t{bob},   $t{t_review}, 'review');
	$status->($t{alice}, $t{t_stuck}, undef,
		q[{"status": "blocked", "blocked_reason": "waiting on \"legal\" — ✓"}]);
	$status->($t{erin}, $t{t_index}, 'done');
	$sql->($t{alice},
		"SELECT FROM intracker.update_feature('$t{f_billing}', '{\"status\": \"in_progress\"}', 1)");
	$sql->($t{erin},
		"SELECT FROM intracker.update_feature('$t{f_search}', '{\"status\": \"done\"}', 1)");

	$t{s_alice} = $sql->($t{alice},
		"SELECT id FROM intracker.start_session('$t{apollo}', goal => 'Ship login')");
	$sql->($t{alice},
		    "SELECT FROM intracker.end_session('$t{s_alice}', 'Schema done; API started', "
		  . "next_steps => ARRAY['finish API', 'write \"docs\"'], blockers => ARRAY['legal review'], "
		  . "todo_ids => ARRAY['$t{t_design}', '$t{t_api}']::uuid[])");
	$t{s_bob} = $sql->($t{bob},
		"SELECT id FROM intracker.start_session('$t{zeta}')");
	$sql->($t{bob},
		"SELECT FROM intracker.end_session('$t{s_bob}', 'Nothing yet')");
	$t{s_robot} = $sql->($t{robot},
		"SELECT id FROM intracker.start_session('$t{apollo}', goal => 'Write the docs')");

	return \%t;
}

# Create users as the node's superuser (a member of intracker_admin) and
# return { key => id }.  Emails are <key>@example.com, names "User <key>";
# kind is 'human' or 'agent'.
sub create_users
{
	my ($node, $db, %kind_of) = @_;
	my $values = join(', ',
		map { '(' . q_lit($_) . ', ' . q_lit($kind_of{$_}) . ')' }
		  sort keys %kind_of);
	my $out = $node->safe_psql($db, qq{
SELECT v.k, u.id
  FROM (VALUES $values) AS v (k, kind)
 CROSS JOIN LATERAL intracker.create_user(v.k || '\@example.com', 'User ' || v.k, v.kind) AS u
 ORDER BY v.k});
	my %id = map { split /\|/ } split /\n/, $out;
	die "create_users: expected " . scalar(keys %kind_of) . " users, got:\n$out"
	  unless keys %id == keys %kind_of;
	return \%id;
}

# Run scripts in several sessions so that they start at the same moment:
# the node's superuser holds an advisory lock, every session first waits for
# it (pg_advisory_xact_lock_shared, released at once by autocommit), and only
# when all of them are waiting is it released.  Then wait for all scripts to
# finish, draining every session's output meanwhile.  All sessions must be
# connected to the same database (advisory locks are per database).
#
#   my ($results, $seconds) = run_together($node, [$s1, $script1], [$s2, $script2], ...);
#   $results->[i]{out}, $results->[i]{err}   stdout and stderr of script i
#
# The scripts are saved as tmp_check/run_together_<n>_<session name>.sql.
#
# Dies if a session does not reach the barrier.
my $barrier_key = 0;

sub run_together
{
	my ($node, @jobs) = @_;
	my $key = ++$barrier_key;
	# Advisory locks are per database: hold it in the sessions' database.
	my $controller = $node->background_psql($jobs[0][0]{db});
	$controller->query_safe("SELECT pg_advisory_lock(4242, $key)");
	for my $job (@jobs)
	{
		# psql reads the script from a file (\i): IPC::Run fails on large
		# writes to a busy psql's stdin.  The files stay in tmp_check, so a
		# failing run can be replayed by hand; psql's error messages name
		# the file and line.
		my ($session, $script) = @$job;
		(my $file = "$PostgreSQL::Test::Utils::tmp_check/run_together_${key}_$session->{name}.sql") =~ s/[^\w\/.-]/_/g;
		open my $fh, '>', $file or die "cannot write $file: $!";
		print $fh "$script\n";
		close $fh;
		$session->send("SELECT pg_advisory_xact_lock_shared(4242, $key) \\gset\n\\i $file");
	}
	for my $job (@jobs)
	{
		my $state = $job->[0]->wait_until_blocked;
		die "[$job->[0]{name}] did not wait at the barrier (state '$state')"
		  unless $state eq 'blocked:advisory';
	}
	my $t0 = [Time::HiRes::gettimeofday()];
	$controller->query_safe("SELECT pg_advisory_unlock(4242, $key)");
	my @results = IntrackerTest::Session::wait_all(map { $_->[0] } @jobs);
	my $seconds = Time::HiRes::tv_interval($t0);
	$controller->quit;
	return (\@results, $seconds);
}

# SQLSTATE => count of the errors in psql's stderr (VERBOSITY verbose).
sub error_counts
{
	my ($stderr) = @_;
	my %count;
	$count{$1}++ while $stderr =~ /(?:ERROR|FATAL):\s+([0-9A-Z]{5}):/g;
	return \%count;
}

# SQL for a list of project ids: $projects is undef (all projects), one id
# or an array reference of ids.
sub project_filter
{
	my ($projects) = @_;
	return 'NULL' unless defined $projects;
	my @ids = ref $projects ? @$projects : ($projects);
	return 'ARRAY[' . join(', ', map { q_lit($_) } @ids) . ']::uuid[]';
}

# The rows of intracker.verify_counters(), one line each ('' when none), as
# the superuser so that every project is checked; optionally only for the
# given project(s).
sub counter_drift
{
	my ($node, $db, $projects) = @_;
	my $filter = project_filter($projects);
	return $node->safe_psql($db, qq{
SELECT string_agg(format('%s (project %s, entity %s): stored %s, actual %s',
                         v.counter, v.project, v.entity, v.stored, v.actual), E'\\n')
  FROM (SELECT unnest(coalesce($filter, ARRAY[NULL]::uuid[])) AS p) AS ps
 CROSS JOIN LATERAL intracker.verify_counters(ps.p) AS v});
}

# An independent recomputation of every member's load from the todos and
# features (not using verify_counters), compared with intracker.member_load
# and intracker_data.member_load: one line per difference, '' when none.
# Also catches a membership without its load row and a load row without a
# membership.  Optionally only for the given project(s).
sub load_mismatches
{
	my ($node, $db, $projects) = @_;
	my $filter = project_filter($projects);
	return $node->safe_psql($db, qq{
WITH actual AS (
    SELECT m.project_id, m.user_id,
           count(t.id) AS open_todos, coalesce(sum(t.estimate), 0) AS open_points,
           (SELECT count(*) FROM intracker_data.features f
             WHERE f.project_id = m.project_id AND f.assigned_to = m.user_id
               AND f.status <> 'done') AS open_features
      FROM intracker_data.project_members m
      LEFT JOIN intracker_data.todos t
             ON t.project_id = m.project_id AND t.assigned_to = m.user_id
            AND t.status NOT IN ('done', 'cancelled')
     GROUP BY m.project_id, m.user_id
), stored AS (
    SELECT l.project_id, l.user_id, l.open_todos, l.open_points, l.open_features,
           v.open_todos AS view_todos, v.open_points AS view_points, v.open_features AS view_features
      FROM intracker_data.member_load l
      FULL JOIN intracker.member_load v USING (project_id, user_id)
)
SELECT string_agg(format('member %s of project %s: actual %s todos/%s points/%s features, '
                         'member_load %s/%s/%s, view %s/%s/%s',
                         coalesce(a.user_id, s.user_id), coalesce(a.project_id, s.project_id),
                         a.open_todos, a.open_points, a.open_features,
                         s.open_todos, s.open_points, s.open_features,
                         s.view_todos, s.view_points, s.view_features), E'\\n')
  FROM actual a
  FULL JOIN stored s USING (project_id, user_id)
 WHERE ($filter IS NULL OR coalesce(a.project_id, s.project_id) = ANY ($filter))
   AND ((a.open_todos, a.open_points, a.open_features)
        IS DISTINCT FROM (s.open_todos, s.open_points, s.open_features)
     OR (a.open_todos, a.open_points, a.open_features)
        IS DISTINCT FROM (s.view_todos, s.view_points, s.view_features))});
}

# Open todos and features assigned to an inactive user ('' when none): a
# deactivated user's open work must be unassigned.
sub open_work_of_inactive_users
{
	my ($node, $db) = @_;
	return $node->safe_psql($db, q{
SELECT string_agg(format('%s %s (%s) is assigned to inactive user %s', w.kind, w.id, w.status, w.assigned_to), E'\n')
  FROM (SELECT 'todo' AS kind, t.id, t.status, t.assigned_to FROM intracker_data.todos t
         WHERE t.status NOT IN ('done', 'cancelled')
        UNION ALL
        SELECT 'feature', f.id, f.status, f.assigned_to FROM intracker_data.features f
         WHERE f.status <> 'done') w
  JOIN intracker_data.users u ON u.id = w.assigned_to
 WHERE NOT u.is_active});
}

# Assert that verify_counters() finds no drift and that member_load equals
# the from-scratch aggregate, in all projects or only the given one(s).
sub counters_consistent
{
	my ($node, $db, $label, $projects) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $drift = counter_drift($node, $db, $projects);
	my $ok = is($drift, '', "$label: verify_counters() returns no row");
	diag("verify_counters():\n$drift") if !$ok;
	my $mismatch = load_mismatches($node, $db, $projects);
	$ok = is($mismatch, '', "$label: member_load equals a from-scratch aggregate") && $ok;
	diag("member_load differences:\n$mismatch") if $mismatch ne '';
	return $ok;
}

##############################################################################
# Randomized workloads: draws from Perl's generator, so srand($seed) in the
# test makes the data and scripts reproducible.

sub rand_of { return $_[ int(rand(@_)) ] }

sub rand_uuid
{
	return sprintf('%08x-%04x-4%03x-%04x-%04x%08x',
		int(rand(2**32)), int(rand(2**16)), int(rand(2**12)),
		0x8000 + int(rand(2**14)), int(rand(2**16)), int(rand(2**32)));
}

##############################################################################
# A real libpq listener (test/helpers/listen.c), for the event tests.

my $listener_binary;

sub build_listener
{
	return $listener_binary if defined $listener_binary;
	my $src = ($ENV{INTRACKER_SRC} // '.') . '/test/helpers/listen.c';
	my $out = PostgreSQL::Test::Utils::tempdir() . '/listen';
	my $inc = `pg_config --includedir`;
	my $lib = `pg_config --libdir`;
	chomp($inc, $lib);
	system('cc', '-O2', '-Wall', '-Werror', '-o', $out, $src, "-I$inc", "-L$lib", '-lpq') == 0
	  or die "could not compile $src";
	return $listener_binary = $out;
}

# Start a listener on @channels and wait until its LISTENs are in place.
# Returns a hash of closures:
#   lines()                 every notification line so far, as
#                           [ epoch_us, channel, payload ] array refs
#   wait_for($n, $timeout)  wait until at least $n notifications arrived;
#                           returns how many did
#   stop()                  end the listener (closes its stdin)
sub start_listener
{
	my ($node, $db, @channels) = @_;
	my ($in, $out, $err) = ('', '', '');
	my $conninfo = $node->connstr($db);
	my $h = IPC::Run::start([ build_listener(), $conninfo, @channels ],
		'<', \$in, '>', \$out, '2>', \$err);
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	until ($out =~ /^READY\n/ || time > $deadline)
	{
		$h->pump_nb;
		Time::HiRes::sleep(0.01);
	}
	die "listener did not start: $err" unless $out =~ /^READY\n/;
	my $parse = sub {
		$h->pump_nb;
		my @lines = grep { $_ ne 'READY' } split /\n/, $out;
		return [ map { [ split /\t/, $_, 3 ] } @lines ];
	};
	return {
		lines => $parse,
		wait_for => sub {
			my ($n, $timeout) = @_;
			my $until = time + ($timeout // $PostgreSQL::Test::Utils::timeout_default);
			my $got;
			while (1)
			{
				$got = scalar @{ $parse->() };
				last if $got >= $n || time > $until;
				Time::HiRes::sleep(0.01);
			}
			return $got;
		},
		stop => sub { $h->finish; return; },
	};
}

##############################################################################
# An HTTP server for the webhook tests and benches (test/helpers/http_sink.c;
# its header comment lists what each path answers and the log format).

my $http_sink_binary;
my $http_sink_count = 0;

sub build_http_sink
{
	return $http_sink_binary if defined $http_sink_binary;
	my $src = ($ENV{INTRACKER_SRC} // '.') . '/test/helpers/http_sink.c';
	my $out = PostgreSQL::Test::Utils::tempdir() . '/http_sink';
	system('cc', '-O2', '-Wall', '-Wextra', '-Werror', '-o', $out, $src) == 0
	  or die "could not compile $src";
	return $http_sink_binary = $out;
}

# Start a sink on a free port of 127.0.0.1 and wait until it listens.
# Options: log => 1 to have it log every request (to a file in a temp dir).
# Returns a hash:
#   port, url                   its port and "http://127.0.0.1:PORT"
#   requests()                  the requests logged so far, oldest first, as the
#                               decoded JSON lines ({t, conn, n, method, path,
#                               headers, body}; strings are Perl character
#                               strings); dies without log => 1
#   wait_for_requests($n, $timeout)  wait until at least $n requests are logged;
#                               returns how many are
#   count()                     the sink's count of complete requests (SIGUSR1),
#                               with or without a log
#   log_file                    the log's path (undef without log => 1)
#   stop()                      SIGTERM, wait for the exit; returns the wait
#                               status ($?-like: 0 is a clean exit)
# A test that dies or bails out must not leave its sinks running.
my @running_http_sinks;
END
{
	for my $h (@running_http_sinks)
	{
		eval { $h->kill_kill(grace => 1) if $h->pumpable; };
	}
}

sub start_http_sink
{
	my (%opt) = @_;
	my ($out, $err) = ('', '');
	my @cmd = (build_http_sink(), '--quiet');
	push @cmd, '--ipv6' if $opt{ipv6};
	my $log;
	if ($opt{log})
	{
		$log = PostgreSQL::Test::Utils::tempdir() . '/http_sink_' . ++$http_sink_count . '.log';
		push @cmd, '--log', $log;
	}
	my $h = IPC::Run::start(\@cmd, '<', '/dev/null', '>', \$out, '2>', \$err);
	push @running_http_sinks, $h;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	until ($out =~ /^PORT (\d+)\n/ || time > $deadline || !$h->pumpable)
	{
		$h->pump_nb;
		Time::HiRes::sleep(0.01);
	}
	die "http_sink did not start: $err" unless $out =~ /^PORT (\d+)\n/;
	my $port = $1;

	# The log is read on from where the last call stopped.
	my @requests;
	my ($offset, $partial) = (0, '');
	my $json = JSON::PP->new->utf8;
	my $requests = sub {
		die "start_http_sink: requests() needs log => 1\n" unless defined $log;
		open(my $fh, '<:raw', $log) or die "could not open $log: $!";
		seek($fh, $offset, 0) or die "could not seek $log: $!";
		my $chunk = do { local $/; <$fh> } // '';
		close($fh);
		$offset += length $chunk;
		$partial .= $chunk;
		my $end = rindex($partial, "\n");
		if ($end >= 0)
		{
			push @requests, map { $json->decode($_) } split /\n/, substr($partial, 0, $end);
			$partial = substr($partial, $end + 1);
		}
		return [@requests];
	};
	my $stopped;
	return {
		port => $port,
		url => "http://127.0.0.1:$port",
		log_file => $log,
		requests => $requests,
		wait_for_requests => sub {
			my ($n, $timeout) = @_;
			my $until = Time::HiRes::time() + ($timeout // $PostgreSQL::Test::Utils::timeout_default);
			my $got;
			while (1)
			{
				$got = scalar @{ $requests->() };
				last if $got >= $n || Time::HiRes::time() > $until;
				Time::HiRes::sleep(0.01);
			}
			return $got;
		},
		count => sub {
			my $seen = () = $out =~ /^COUNT \d+\n/mg;
			$h->signal('USR1');
			my $until = time + $PostgreSQL::Test::Utils::timeout_default;
			while (time <= $until)
			{
				$h->pump_nb;
				my @counts = $out =~ /^COUNT (\d+)\n/mg;
				return $counts[-1] if @counts > $seen;
				Time::HiRes::sleep(0.01);
			}
			die "http_sink did not answer SIGUSR1: $err";
		},
		stop => sub {
			return $stopped if defined $stopped;
			$h->kill_kill(grace => $PostgreSQL::Test::Utils::timeout_default);
			$h->finish;
			$stopped = $h->full_result(0);
			Test::More::diag("http_sink stderr: $err") if $err ne '';
			return $stopped;
		},
	};
}

##############################################################################
# The 0.3 progress counters (project_stats, project_daily_done,
# feature_stats) checked from scratch, for team_dashboard and team_context.
# Added for 005_context.pl.
#
#   progress_from_scratch_sql($project_sql [, $schema])
#   dashboard_json_sql($project_sql)
#   context_progress_json_sql($document_sql)
#                 SQL expressions yielding the same jsonb object
#                 {members, todos_total, todos_open, todos_done,
#                  completion_rate, todos_completed_today,
#                  points_done_last_7_days, features_in_progress,
#                  todos_blocked} computed from the todos themselves, read
#                 from intracker.team_dashboard, or read from a
#                 team_context document.  $schema is intracker_data (the
#                 tables, for the superuser) or intracker (the views, under
#                 the caller's RLS).  Embed them in one statement to compare
#                 them in one snapshot.
#   feature_progress_mismatches($node, $db, $project)
#                 intracker.features todos_total / todos_done / progress
#                 against a count of the todos ('' when equal)
#   progress_consistent($node, $db, $label, $project [, $member])
#                 asserts that team_dashboard and intracker.features equal
#                 the from-scratch counts; with $member (a user id), also
#                 team_dashboard and team_context read by that member
#                 (non-superuser, act_as)
##############################################################################

sub progress_from_scratch_sql
{
	my ($project, $schema) = @_;
	$schema //= 'intracker_data';
	return qq{(SELECT jsonb_build_object(
        'members', (SELECT count(*) FROM $schema.project_members m WHERE m.project_id = x.p),
        'todos_total', c.total, 'todos_open', c.open, 'todos_done', c.done,
        'completion_rate', round(CASE WHEN c.total = 0 THEN 0 ELSE c.done::numeric / c.total END, 3),
        'todos_completed_today', c.today, 'points_done_last_7_days', c.points_7d,
        'features_in_progress', (SELECT count(*) FROM $schema.features f
                                  WHERE f.project_id = x.p AND f.status = 'in_progress'),
        'todos_blocked', c.blocked)
   FROM (SELECT ($project)::uuid AS p) x
  CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE t.status <> 'cancelled') AS total,
               count(*) FILTER (WHERE t.status NOT IN ('done', 'cancelled')) AS open,
               count(*) FILTER (WHERE t.status = 'done') AS done,
               count(*) FILTER (WHERE t.status = 'done'
                                  AND (t.completed_at AT TIME ZONE 'UTC')::date = (now() AT TIME ZONE 'UTC')::date) AS today,
               coalesce(sum(t.estimate) FILTER (WHERE t.status = 'done'
                                  AND (t.completed_at AT TIME ZONE 'UTC')::date > (now() AT TIME ZONE 'UTC')::date - 7), 0) AS points_7d,
               count(*) FILTER (WHERE t.status NOT IN ('done', 'cancelled')
                                  AND (t.status = 'blocked'
                                       OR EXISTS (SELECT FROM $schema.todo_dependencies d
                                                    JOIN $schema.todos b ON b.id = d.blocked_by
                                                   WHERE d.todo_id = t.id AND b.status NOT IN ('done', 'cancelled')))) AS blocked
          FROM $schema.todos t WHERE t.project_id = x.p) c)};
}

sub dashboard_json_sql
{
	my ($project) = @_;
	return qq{(SELECT jsonb_build_object(
        'members', d.members, 'todos_total', d.todos_total, 'todos_open', d.todos_open,
        'todos_done', d.todos_done, 'completion_rate', round(d.completion_rate, 3),
        'todos_completed_today', d.todos_completed_today,
        'points_done_last_7_days', d.points_done_last_7_days,
        'features_in_progress', d.features_in_progress, 'todos_blocked', d.todos_blocked)
   FROM intracker.team_dashboard d WHERE d.project_id = ($project)::uuid)};
}

sub context_progress_json_sql
{
	my ($doc) = @_;
	return qq{(SELECT jsonb_build_object(
        'members', jsonb_array_length(c.d -> 'team_members'),
        'todos_total', c.d -> 'team_progress' -> 'todos_total',
        'todos_open', c.d -> 'team_progress' -> 'todos_open',
        'todos_done', c.d -> 'team_progress' -> 'todos_done',
        'completion_rate', round((c.d -> 'team_progress' ->> 'completion_rate')::numeric, 3),
        'todos_completed_today', c.d -> 'team_progress' -> 'todos_completed_today',
        'points_done_last_7_days', c.d -> 'team_progress' -> 'points_done_last_7_days',
        'features_in_progress', c.d -> 'team_progress' -> 'features_in_progress_count',
        'todos_blocked', c.d -> 'team_progress' -> 'todos_blocked_count')
   FROM (SELECT ($doc)::jsonb AS d) c)};
}

# SQL listing the features_in_progress entries of a team_context document
# whose numbers differ from a count of the todos (as rows of text).
sub context_feature_mismatches_sql
{
	my ($doc, $schema) = @_;
	$schema //= 'intracker_data';
	return qq{(SELECT string_agg(format('feature %s: context %s/%s %s%%, actual %s/%s',
                                    e ->> 'id', e ->> 'todos_done', e ->> 'todos_total', e ->> 'progress',
                                    a.done, a.total), E'\\n')
   FROM jsonb_array_elements(($doc)::jsonb -> 'team_progress' -> 'features_in_progress') AS e
  CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE t.status <> 'cancelled') AS total,
                             count(*) FILTER (WHERE t.status = 'done') AS done
                        FROM $schema.todos t WHERE t.feature_id = (e ->> 'id')::uuid) a
  WHERE ((e ->> 'todos_total')::bigint, (e ->> 'todos_done')::bigint, (e ->> 'progress')::bigint)
        IS DISTINCT FROM (a.total, a.done, CASE WHEN a.total = 0 THEN 0 ELSE 100 * a.done / a.total END))};
}

sub feature_progress_mismatches
{
	my ($node, $db, $project) = @_;
	return $node->safe_psql($db, qq{
SELECT string_agg(format('feature %s (%s): intracker.features %s/%s %s%%, actual %s/%s %s%%',
                         f.id, f.status, v.todos_done, v.todos_total, v.progress, a.done, a.total, a.progress), E'\\n')
  FROM intracker_data.features f
  JOIN intracker.features v ON v.id = f.id
 CROSS JOIN LATERAL (SELECT c.total, c.done,
                            CASE WHEN c.total = 0 THEN CASE WHEN f.status = 'done' THEN 100 ELSE 0 END
                                 ELSE 100 * c.done / c.total END AS progress
                       FROM (SELECT count(*) FILTER (WHERE t.status <> 'cancelled') AS total,
                                    count(*) FILTER (WHERE t.status = 'done') AS done
                               FROM intracker_data.todos t WHERE t.feature_id = f.id) c) a
 WHERE f.project_id = '$project'
   AND (v.todos_total, v.todos_done, v.progress) IS DISTINCT FROM (a.total, a.done, a.progress)});
}

sub progress_consistent
{
	my ($node, $db, $label, $project, $member) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $scratch = progress_from_scratch_sql(q_lit($project));
	my ($dash, $actual) = split /\n/, $node->safe_psql($db,
		'SELECT ' . dashboard_json_sql(q_lit($project)) . "::text UNION ALL SELECT $scratch\::text");
	my $ok = is($dash, $actual, "$label: team_dashboard equals a count of the todos");
	my $features = feature_progress_mismatches($node, $db, $project);
	$ok = is($features, '', "$label: intracker.features progress equals a count of the todos") && $ok;
	diag("feature progress differences:\n$features") if $features ne '';
	return $ok unless defined $member;

	# As a member (not a superuser): RLS applies to the dashboard and the
	# context; the count is made in the same statement, so in one snapshot.
	my $doc = 'intracker.team_context(' . q_lit($project) . ')';
	my $out = safe_psql_as($node, $db, $member, qq{
SELECT x.dash::text, x.ctx::text, x.scratch::text, coalesce(x.features, '')
  FROM (SELECT @{[ dashboard_json_sql(q_lit($project)) ]} AS dash,
               @{[ context_progress_json_sql('c.doc') ]} AS ctx,
               @{[ progress_from_scratch_sql(q_lit($project), 'intracker') ]} AS scratch,
               @{[ context_feature_mismatches_sql('c.doc', 'intracker') ]} AS features
          FROM (SELECT $doc AS doc) c) x});
	my ($m_dash, $m_ctx, $m_scratch, $m_features) = split /\|/, $out, 4;
	$m_features //= '';
	$ok = is($m_dash, $m_scratch, "$label: team_dashboard read by a member equals a count of the todos") && $ok;
	$ok = is($m_ctx, $m_scratch, "$label: team_context team_progress equals a count of the todos") && $ok;
	$ok = is($m_features, '', "$label: team_context feature progress equals a count of the todos") && $ok;
	return $ok;
}

push @EXPORT, qw(progress_from_scratch_sql dashboard_json_sql
  context_progress_json_sql context_feature_mismatches_sql
  feature_progress_mismatches progress_consistent);

##############################################################################
# IntrackerTest::Session: a background psql session acting as an intracker
# user, for tests that interleave transactions of several sessions.
#
#   my $s = IntrackerTest::Session->new($node, $db, name => 'A', user => $id,
#                                       via => 'act_as' | 'jwt' | 'token');
#   $s->query_safe($sql)      run, die with diagnostics on any error; returns stdout
#   ($out, $err) = $s->query($sql)   run, return output and stderr (no dying)
#   $s->send($sql)            start a statement that may block; returns at once
#   $s->wait_until_blocked    'blocked:<wait_event>' | 'done' | 'timeout'
#   ($out, $err) = $s->wait_result   output and stderr of the sent statement
#   $r = $a->race($b, $first, $second, end => 'COMMIT', b_begin => 0, timeout => 60)
#                             $a holds $first open while $b's $second waits for it;
#                             returns { a_out, b_state, b_out, b_err }
#   $s->become($id)           act as another user from now on
#   $s->quit
##############################################################################

package IntrackerTest::Session;

use strict;
use warnings;
use Test::More ();
use Time::HiRes qw(usleep);

sub new
{
	my ($class, $node, $db, %opt) = @_;
	my $self = bless {
		node  => $node,
		db    => $db,
		name  => $opt{name} // 'session',
		via   => $opt{via} // 'act_as',
		nsent => 0,
	}, $class;
	my ($login, $prefix) =
	  IntrackerTest::identity_prefix($opt{user}, $self->{via});
	# on_error_stop => 0: an error ends the statement, not the session.
	$self->{bg} = $node->background_psql(
		$db,
		on_error_stop => 0,
		extra_params => [ defined $login ? ('-U', $login) : () ]);
	$self->{bg}->set_query_timer_restart;
	$self->{pid} = $self->query_safe('SELECT pg_backend_pid()');
	$self->query_safe($prefix);
	return $self;
}

sub pid { return $_[0]{pid} }

# Run $sql; return (stdout, stderr).  BackgroundPsql keeps stderr across
# queries, so it is taken and cleared here: each call sees its own errors.
sub query
{
	my ($self, $sql) = @_;
	my ($out) = $self->{bg}->query($sql);
	my $err = $self->{bg}{stderr};
	$self->{bg}{stderr} = '';
	return ($out, $err);
}

sub query_safe
{
	my ($self, $sql) = @_;
	my ($out, $err) = $self->query($sql);
	if ($err ne '')
	{
		Test::More::diag("[$self->{name}] unexpected error in:\n$sql\n$err");
		die "[$self->{name}] query failed: $err\n";
	}
	return $out;
}

sub become
{
	my ($self, $user_id) = @_;
	if ($self->{via} eq 'jwt')
	{
		$self->query_safe("SELECT set_config('request.jwt.claims', "
			  . IntrackerTest::q_lit(qq({"sub": "$user_id"}))
			  . ", false) \\gset");
	}
	else
	{
		$self->query_safe("SELECT intracker.act_as('$user_id') \\gset");
	}
	return;
}

# Send $sql without waiting for it to finish.  The statement is tagged with a
# comment so wait_until_blocked can tell it from the previous statement in
# pg_stat_activity.
sub send
{
	my ($self, $sql) = @_;
	my $tag = "intracker_send_" . ++$self->{nsent};
	$self->{tag} = $tag;
	my $out = $self->{bg}->query_until(qr/$tag\n/,
		"\\echo $tag\n/* $tag */ $sql\n;\n");
	$out =~ s/\A.*?$tag\n//s;
	$self->{pending} = $out;
	return;
}

# Wait (at most $timeout seconds) until the sent statement either waits for
# a lock ('blocked:<wait_event>') or has finished ('done').
sub wait_until_blocked
{
	my ($self, $timeout) = @_;
	$timeout //= 60;
	my $tag = $self->{tag};
	my $query = qq{
SELECT CASE WHEN position('$tag' IN query) = 0 THEN 'not started'
            WHEN wait_event_type = 'Lock' THEN 'blocked:' || wait_event
            WHEN state <> 'active' THEN 'done'
            ELSE 'running' END
  FROM pg_stat_activity WHERE pid = $self->{pid}};
	my $state = '';
	for (my $waited = 0; $waited < $timeout * 10; $waited++)
	{
		$state = $self->{node}->safe_psql('postgres', $query);
		return $state if $state =~ /^(blocked|done)/;
		usleep(100_000);
	}
	Test::More::diag("[$self->{name}] still '$state' after ${timeout}s: $tag");
	return 'timeout';
}

# Two sessions in the order a lock test needs: $self runs $first in an open
# transaction; $other (in a transaction of its own first, with b_begin) is
# sent $second, which should wait for $self; once it waits or has finished
# (wait_until_blocked, at most timeout seconds), $self ends its transaction
# with end (COMMIT by default).  Returns { a_out => $self's output of $first,
# b_state => $other's wait_until_blocked state, b_out, b_err => $other's
# result }; ending $other's transaction is left to the caller.
sub race
{
	my ($self, $other, $first, $second, %o) = @_;
	my %r;
	$self->query_safe('BEGIN');
	$r{a_out} = $self->query_safe($first);
	$other->query_safe('BEGIN') if $o{b_begin};
	$other->send($second);
	$r{b_state} = $other->wait_until_blocked($o{timeout});
	$self->query_safe($o{end} // 'COMMIT');
	($r{b_out}, $r{b_err}) = $other->wait_result;
	return \%r;
}

# Output and stderr of the statement started by send().
sub wait_result
{
	my ($self) = @_;
	my ($out, $err) = $self->query('');
	$out = ($self->{pending} // '') . $out;
	$self->{pending} = '';
	$out =~ s/\n\z//;
	return ($out, $err);
}

sub quit
{
	my ($self) = @_;
	$self->{bg}->quit;
	return;
}

# Wait until every session has finished what it was sent (send(), or
# run_together), pumping all of them in turn: a session whose output nobody
# reads would otherwise stall (psql blocks on a full pipe, its backend on a
# full socket, possibly while holding locks the others wait for).
# Returns ({ out => stdout, err => stderr }, ...) in the order given.
my $wait_all_count = 0;

sub wait_all
{
	my (@sessions) = @_;
	my (%banner, %done);
	for my $s (@sessions)
	{
		my $bg = $s->{bg};
		my $banner = "intracker_wait_all_" . ++$wait_all_count;
		$banner{$s} = $banner;
		$bg->{timeout}->start() if defined $bg->{query_timer_restart};
		$bg->{stdin} .= "\n;\n\\echo '$banner'\n\\warn '$banner'\n";
	}
	while (keys %done < @sessions)
	{
		my $progress = 0;
		for my $s (@sessions)
		{
			next if $done{$s};
			my $bg = $s->{bg};
			die "[$s->{name}] timed out waiting for its script to finish"
			  if $bg->{timeout}->is_expired;
			my $before = join ':', map { length $bg->{$_} } qw(stdin stdout stderr);
			$bg->{run}->pump_nb();
			$progress++
			  if $before ne join ':', map { length $bg->{$_} } qw(stdin stdout stderr);
			$done{$s} = 1
			  if $bg->{stdout} =~ /$banner{$s}\r?\n/
			  && $bg->{stderr} =~ /$banner{$s}\r?\n/;
		}
		usleep(5_000) unless $progress;
	}
	my @results;
	for my $s (@sessions)
	{
		my $bg = $s->{bg};
		my ($out, $err) = ($bg->{stdout}, $bg->{stderr});
		$out =~ s/\r?\n?$banner{$s}\r?\n//;
		$err =~ s/$banner{$s}\r?\n//;
		$out = ($s->{pending} // '') . $out;
		$out =~ s/\n\z//;
		$s->{pending} = '';
		$bg->{stdout} = '';
		$bg->{stderr} = '';
		push @results, { out => $out, err => $err };
	}
	return @results;
}

1;
