--
-- Webhooks and GitHub sync (0.5), the SQL side: creating and managing
-- webhooks (and every error), the fan-out of published events into
-- deliveries (json and slack payloads), pausing, deleting, redelivering;
-- GitHub token and webhook secret, linking and creating issues, the close
-- and reopen calls queued for linked todos, and inbound GitHub webhooks
-- (signatures, issues, pull requests, every outcome).
--
-- This server's worker serves another database (intracker.database is
-- 'postgres'): nothing is sent.  intracker.events_since() publishes pending
-- events itself, and publishing fans them out into deliveries in the same
-- transaction, so after events_since() the deliveries are there, pending.
-- The Perl TAP tests cover the deliverer (HTTP, signatures, retries).
--
-- The user-facing parts run as regress_admin (not a superuser: RLS applies)
-- acting as a user, and as the plain API role regress_plain; ids become
-- names, timestamps are left out or masked.
--
\set ECHO none
\i sql/fixture/setup.sql
\set ECHO all

-- Helpers.  The inbound GitHub signature, computed the way GitHub does it
-- (HMAC-SHA256 of the payload with the webhook secret) with pgcrypto; the
-- payload's text is its jsonb text, what github_webhook() verifies.
-- pgcrypto goes into schema regress, so the fixture drops it with the rest.
CREATE EXTENSION pgcrypto SCHEMA regress;
CREATE FUNCTION regress.github_signature(payload jsonb, secret text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT 'sha256=' || encode(regress.hmac(payload::text, secret, 'sha256'), 'hex')
$$;
-- regress.try, plus the column an error names (22023 from a CHECK).
CREATE FUNCTION regress.try_column(statement text) RETURNS SETOF text
LANGUAGE sql AS $$
    SELECT regress.try(statement, show_column => true)
$$;
-- Read events: events_since() publishes what is pending first (and so fans
-- it out into deliveries).
CREATE FUNCTION regress.read_events() RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    SELECT count(*) FROM intracker.events_since(0)
$$;
-- The deliveries of a project's webhooks after an event seq, one line each:
-- webhook, event (seq relative to after), state, attempts.
CREATE FUNCTION regress.deliveries_of(project uuid, after bigint) RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    SELECT format('%s #%s %s %s attempts %s', regress.named(d.webhook_id::text), d.event_seq - after, d.event_type,
                  d.state, d.attempts)
      FROM intracker.webhook_deliveries d
     WHERE d.project_id = project AND d.event_seq > after
     ORDER BY d.event_seq, regress.named(d.webhook_id::text)
$$;
-- The current version of a todo (for expected_version).
CREATE FUNCTION regress.v(todo uuid) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT version FROM intracker.todos WHERE id = todo
$$;
-- A project's GitHub calls: action, todo, state, request body.
CREATE FUNCTION regress.github_calls_of(project uuid) RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    SELECT regress.named(format('%s %s %s %s%s', c.action, c.todo_id, c.state, c.request_body,
                                CASE WHEN c.redelivery_of IS NOT NULL THEN ' (redelivery of ' || c.redelivery_of || ')' ELSE '' END))
      FROM intracker.github_calls c
     WHERE c.project_id = project
     ORDER BY c.event_seq NULLS FIRST, c.created_at, c.action
$$;

------------------------------------------------------------------------------
-- The team: Ann owns "Hooks & <Co>" (acme/hooks), Vic edits, Builder Bot
-- views, Outsider is no member.
------------------------------------------------------------------------------
-- Outsider owns a project of their own (08_context makes it), so what they
-- see of github_settings below is a list of one, not nothing.
SET intracker.acting_user = '00000000-0000-0000-0000-00000000000d';
INSERT INTO intracker.projects (name) VALUES ('Solo');
RESET intracker.acting_user;
SET ROLE regress_admin;
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT id AS p FROM intracker.create_project('Hooks & <Co>', github_repo => 'acme/hooks') \gset
SELECT id AS norepo FROM intracker.create_project('No repo') \gset
INSERT INTO regress.names VALUES (:'p', 'hooks'), (:'norepo', 'norepo');
SELECT role FROM intracker.add_member(:'p', '00000000-0000-0000-0000-00000000000c', 'editor');
SELECT role FROM intracker.add_member(:'p', '00000000-0000-0000-0000-00000000000b', 'viewer');
-- Publish what is pending: those events were published before any webhook
-- existed, so they go nowhere.
SELECT regress.read_events() > 0 AS published;
SELECT max(seq) AS base FROM intracker.events_since(0, :'p') \gset

------------------------------------------------------------------------------
-- create_webhook
------------------------------------------------------------------------------
-- The row returned is the intracker.webhooks row: signed, never the secret.
SELECT string_agg(attname, ', ' ORDER BY attnum) AS webhook_columns
  FROM pg_attribute WHERE attrelid = 'intracker.webhooks'::regclass AND attnum > 0;
SELECT regress.named(w.project_id::text) AS project, w.url, w.event_types, w.format, w.active, w.signed,
       regress.named(w.created_by::text) AS created_by, w.id IS NOT NULL AS has_id,
       w.created_at = w.updated_at AS fresh
  FROM intracker.create_webhook(:'p', 'http://localhost:9/all', secret => 's3cret') w;
SELECT url, event_types, format, signed
  FROM intracker.create_webhook(:'p', 'http://localhost:9/todo-slack', '{todo.*}', format => 'slack');
SELECT url, event_types, format, signed
  FROM intracker.create_webhook(:'p', 'https://localhost:9/status?via=json#frag', '{todo.status_changed}');
SELECT url, event_types, format, signed
  FROM intracker.create_webhook(:'p', 'http://localhost:9/team-slack', '{member.*,conflict.*,project.updated}', NULL, 'slack');
SELECT url, active
  FROM intracker.create_webhook(:'p', 'http://localhost:9/paused', '{*}', 'other secret');
SELECT id AS w_all FROM intracker.webhooks WHERE url = 'http://localhost:9/all' \gset
SELECT id AS w_todo FROM intracker.webhooks WHERE url = 'http://localhost:9/todo-slack' \gset
SELECT id AS w_status FROM intracker.webhooks WHERE url LIKE 'https://localhost:9/status%' \gset
SELECT id AS w_team FROM intracker.webhooks WHERE url = 'http://localhost:9/team-slack' \gset
SELECT id AS w_paused FROM intracker.webhooks WHERE url = 'http://localhost:9/paused' \gset
INSERT INTO regress.names VALUES (:'w_all', 'w-all'), (:'w_todo', 'w-todo-slack'), (:'w_status', 'w-status'),
                                 (:'w_team', 'w-team-slack'), (:'w_paused', 'w-paused');
SELECT regress.named(id::text) AS webhook, active, signed
  FROM intracker.set_webhook_active(:'w_paused', false);
-- The secret is stored, readable only by the superuser.
RESET ROLE;
SELECT regress.named(id::text) AS webhook, secret, signed FROM intracker_data.webhooks
 WHERE project_id = :'p' ORDER BY 1;
SET ROLE regress_admin;

-- Errors: owners only, a well-formed http(s) URL, valid event types and format.
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000c') IS NOT NULL AS acting_as_vic_the_editor;
SELECT * FROM regress.try($$SELECT intracker.create_webhook((SELECT id FROM regress.names WHERE name = 'hooks'), 'http://localhost:9/x')$$);
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000d') IS NOT NULL AS acting_as_outsider;
SELECT * FROM regress.try($$SELECT intracker.create_webhook((SELECT id FROM regress.names WHERE name = 'hooks'), 'http://localhost:9/x')$$);
SELECT intracker.act_as(NULL);
SELECT * FROM regress.try($$SELECT intracker.create_webhook((SELECT id FROM regress.names WHERE name = 'hooks'), 'http://localhost:9/x')$$);
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT * FROM regress.try_column($$SELECT intracker.create_webhook((SELECT id FROM regress.names WHERE name = 'hooks'), 'ftp://localhost/x')$$);
SELECT * FROM regress.try_column($$SELECT intracker.create_webhook((SELECT id FROM regress.names WHERE name = 'hooks'), 'not a url')$$);
SELECT * FROM regress.try_column($$SELECT intracker.create_webhook((SELECT id FROM regress.names WHERE name = 'hooks'), 'http://')$$);
SELECT * FROM regress.try_column($$SELECT intracker.create_webhook((SELECT id FROM regress.names WHERE name = 'hooks'), NULL)$$);
SELECT * FROM regress.try_column($$SELECT intracker.create_webhook((SELECT id FROM regress.names WHERE name = 'hooks'), 'http://localhost:9/x', '{todo.Created}')$$);
SELECT * FROM regress.try_column($$SELECT intracker.create_webhook((SELECT id FROM regress.names WHERE name = 'hooks'), 'http://localhost:9/x', '{todo.*,robot.*}')$$);
SELECT * FROM regress.try_column($$SELECT intracker.create_webhook((SELECT id FROM regress.names WHERE name = 'hooks'), 'http://localhost:9/x', '{}')$$);
SELECT * FROM regress.try_column($$SELECT intracker.create_webhook((SELECT id FROM regress.names WHERE name = 'hooks'), 'http://localhost:9/x', NULL)$$);
-- A NULL pattern (0.5 accepted '{NULL}': it matched nothing).
SELECT * FROM regress.try_column($$SELECT intracker.create_webhook((SELECT id FROM regress.names WHERE name = 'hooks'), 'http://localhost:9/x', '{NULL}')$$);
SELECT * FROM regress.try_column($$SELECT intracker.create_webhook((SELECT id FROM regress.names WHERE name = 'hooks'), 'http://localhost:9/x', '{todo.*,NULL}')$$);
-- webhook.disabled (0.6, the deliverer's) is an event type like the others.
BEGIN;
SELECT event_types FROM intracker.create_webhook(:'p', 'http://localhost:9/w', '{webhook.disabled}');
SELECT event_types FROM intracker.create_webhook(:'p', 'http://localhost:9/w', '{webhook.*,todo.created}');
ROLLBACK;
SELECT * FROM regress.try_column($$SELECT intracker.create_webhook((SELECT id FROM regress.names WHERE name = 'hooks'), 'http://localhost:9/x', '{webhook.enabled}')$$);
SELECT * FROM regress.try_column($$SELECT intracker.create_webhook((SELECT id FROM regress.names WHERE name = 'hooks'), 'http://localhost:9/x', format => 'xml')$$);
SELECT * FROM regress.try_column($$SELECT intracker.create_webhook((SELECT id FROM regress.names WHERE name = 'hooks'), 'http://localhost:9/x', secret => '')$$);
-- intracker.http_allowed_hosts (only a superuser sets it): other hosts are
-- refused with 42501; "*.domain" allows subdomains, not the domain itself.
RESET ROLE;
SET intracker.http_allowed_hosts = 'localhost, *.example.invalid';
SET ROLE regress_admin;
SELECT * FROM regress.try($$SELECT intracker.create_webhook((SELECT id FROM regress.names WHERE name = 'hooks'), 'http://internal.service:8080/admin')$$);
SELECT * FROM regress.try($$SELECT intracker.create_webhook((SELECT id FROM regress.names WHERE name = 'hooks'), 'https://example.invalid/hook')$$);
SELECT * FROM regress.try($$SET intracker.http_allowed_hosts = ''$$);
BEGIN;
SELECT url FROM intracker.create_webhook(:'p', 'https://hooks.EXAMPLE.invalid/ok');
SELECT url FROM intracker.create_webhook(:'p', 'http://LOCALHOST:9/ok');
ROLLBACK;
RESET ROLE;
RESET intracker.http_allowed_hosts;
SET ROLE regress_admin;
-- intracker.http_allow_private_networks (off by default, only a superuser
-- sets it): a URL whose host is a literal loopback, private, link-local or
-- other non-public address is refused by policy (42501), in every form
-- libcurl reads; names and public addresses are not judged here (the
-- deliverer checks the address it connects to).
SELECT current_setting('intracker.http_allow_private_networks') AS allow_private_networks;
SELECT * FROM regress.try($$SELECT intracker.create_webhook((SELECT id FROM regress.names WHERE name = 'hooks'), 'http://127.0.0.1:8080/admin')$$);
RESET ROLE;
CREATE TABLE regress.webhook_hosts (host text, note text);
GRANT SELECT ON regress.webhook_hosts TO PUBLIC;
INSERT INTO regress.webhook_hosts VALUES
    ('127.0.0.1', 'loopback'), ('127.1', 'loopback, short'), ('2130706433', 'loopback, one number'),
    ('0x7f.1', 'loopback, hex'), ('017700000001', 'loopback, octal'), ('0x7f000001', 'loopback, hex number'),
    ('127.0.0.1.', 'loopback, trailing dot'), ('0', 'unspecified'), ('0.0.0.0', 'unspecified'),
    ('10.1.2.3', 'private'), ('172.16.0.1', 'private'), ('172.31.255.255', 'private'), ('192.168.1.1', 'private'),
    ('100.64.0.1', 'shared (CGNAT)'), ('169.254.169.254', 'link-local (cloud metadata)'),
    ('192.0.0.8', 'IETF protocol assignments'), ('192.0.2.1', 'documentation'), ('198.18.0.1', 'benchmarking'),
    ('224.0.0.1', 'multicast'), ('240.0.0.1', 'reserved'), ('255.255.255.255', 'broadcast'),
    ('[::1]', 'IPv6 loopback'), ('[::]', 'IPv6 unspecified'), ('[0:0:0:0:0:0:0:1]', 'IPv6 loopback, long'),
    ('[::ffff:127.0.0.1]', 'IPv4-mapped loopback'), ('[::ffff:7f00:1]', 'IPv4-mapped loopback, hex'),
    ('[::ffff:169.254.169.254]', 'IPv4-mapped metadata'), ('[::ffff:0:10.0.0.1]', 'IPv4-translated private'),
    ('[64:ff9b::10.0.0.1]', 'NAT64 of a private address'), ('[2002:a00:1::]', '6to4 of 10.0.0.1'),
    ('[::127.0.0.1]', 'IPv4-compatible'), ('[fd00::1]', 'unique local'), ('[fc00::1]', 'unique local'),
    ('[fe80::1]', 'IPv6 link-local'), ('[fe80::1%25eth0]', 'IPv6 link-local with a zone'),
    ('[fec0::1]', 'site-local'), ('[ff02::1]', 'IPv6 multicast'), ('[2001:db8::1]', 'documentation'),
    ('[2001::1]', 'Teredo'), ('[100::1]', 'discard'),
    -- allowed: public addresses (also embedded) and names
    ('93.184.216.34', 'public'), ('8.8.8.8', 'public'), ('172.32.0.1', 'public, next to 172.16/12'),
    ('100.128.0.1', 'public, next to 100.64/10'), ('[2606:4700::1111]', 'public IPv6'),
    ('[::ffff:8.8.8.8]', 'IPv4-mapped public'), ('[64:ff9b::8.8.8.8]', 'NAT64 of a public address'),
    ('localhost', 'a name: judged when connecting'), ('hooks.example.com', 'a name');
-- The check as create_webhook runs it (SECURITY DEFINER: as the
-- extension's owner; users cannot call it themselves).
SELECT h.host, h.note,
       (SELECT o FROM regress.try(format('SELECT intracker_data.check_webhook_url(%L)', 'http://' || h.host || ':8080/hook')) o
         LIMIT 1) AS outcome
  FROM regress.webhook_hosts h;
SET ROLE regress_admin;
SELECT * FROM regress.try($$SET intracker.http_allow_private_networks = on$$);
RESET ROLE;
SET intracker.http_allow_private_networks = on;
SELECT count(*) FILTER (WHERE o = 'ok') AS allowed, count(*) AS hosts
  FROM regress.webhook_hosts h,
       regress.try(format('SELECT intracker_data.check_webhook_url(%L)', 'http://' || h.host || ':8080/hook')) AS o;
RESET intracker.http_allow_private_networks;
DROP TABLE regress.webhook_hosts;
SET ROLE regress_admin;
SELECT count(*) AS webhooks FROM intracker.webhooks WHERE project_id = :'p';

------------------------------------------------------------------------------
-- Fan-out: every published event goes to each active webhook whose
-- event_types match ('*', 'todo.*', 'todo.status_changed'); paused ones get
-- nothing.
------------------------------------------------------------------------------
SELECT id AS fix FROM intracker.create_todo(:'p', 'Fix login', estimate => 2) \gset
SELECT id AS esc FROM intracker.create_todo(:'p', 'Escape <b> & "quotes"') \gset
INSERT INTO regress.names VALUES (:'fix', 'fix-login'), (:'esc', 'escape');
SELECT version FROM intracker.assign_todo(:'fix', '00000000-0000-0000-0000-00000000000c');
SELECT version FROM intracker.set_todo_status(:'fix', 'in_progress', 2);
SELECT version FROM intracker.set_todo_status(:'fix', 'done', 3);
SELECT version FROM intracker.update_todo(:'esc', '{"priority": "high"}', 1);
SELECT version FROM intracker.assign_todo(:'esc', '00000000-0000-0000-0000-00000000000a');
SELECT version FROM intracker.unassign_todo(:'esc');
SELECT version FROM intracker.update_project(:'p', '{"description": "Hooks <3"}', 1);
UPDATE intracker.project_members SET role = 'editor'
 WHERE project_id = :'p' AND user_id = '00000000-0000-0000-0000-00000000000b';
UPDATE intracker.project_members SET role = 'viewer'
 WHERE project_id = :'p' AND user_id = '00000000-0000-0000-0000-00000000000b';
SELECT role FROM intracker.add_member(:'p', '00000000-0000-0000-0000-00000000000d', 'viewer');
SELECT role FROM intracker.remove_member(:'p', '00000000-0000-0000-0000-00000000000d');
-- A rejected stale write, as the worker records it (this database has no
-- worker, so the superuser writes the outbox row the way it would).
RESET ROLE;
INSERT INTO intracker_data.outbox (type, project_id, entity_id, actor, version, changes)
VALUES ('conflict.rejected', :'p', :'fix', '00000000-0000-0000-0000-00000000000c', 4,
        '{"entity": "todo", "attempted_version": 2, "current_version": 4, "sqlstate": "PT409"}');
SET ROLE regress_admin;
-- Nothing is fanned out before the events are published ...
SELECT count(*) AS deliveries_before_publishing FROM intracker.webhook_deliveries WHERE project_id = :'p';
-- ... reading them publishes them.
SELECT regress.read_events() > 0 AS published;
SELECT regress.deliveries_of(:'p', :base);
SELECT regress.named(webhook_id::text) AS webhook, count(*) AS deliveries
  FROM intracker.webhook_deliveries WHERE project_id = :'p' GROUP BY 1 ORDER BY 1;
-- Exactly the matching (event, active webhook) pairs, nothing else.
WITH delivered AS (
    SELECT d.webhook_id, d.event_seq FROM intracker.webhook_deliveries d WHERE d.project_id = :'p'
), matching AS (
    SELECT w.id AS webhook_id, e.seq AS event_seq
      FROM intracker.events e JOIN intracker.webhooks w ON w.project_id = e.project_id AND w.active
     WHERE e.project_id = :'p' AND e.seq > :base
       AND ('*' = ANY (w.event_types) OR e.type = ANY (w.event_types)
            OR split_part(e.type, '.', 1) || '.*' = ANY (w.event_types))
)
SELECT (SELECT count(*) FROM delivered) AS deliveries,
       (SELECT count(*) FROM (SELECT * FROM delivered EXCEPT ALL SELECT * FROM matching) x) AS not_matching,
       (SELECT count(*) FROM (SELECT * FROM matching EXCEPT ALL SELECT * FROM delivered) x) AS missing;
-- json: the payload is the event, exactly; nothing but pending, untried deliveries.
SELECT count(*) AS json_deliveries,
       bool_and(d.payload::jsonb = to_jsonb(e)) AS payload_is_the_event,
       bool_and(d.event_type = e.type) AS typed,
       bool_and(d.state = 'pending' AND d.attempts = 0 AND d.last_status IS NULL AND d.delivered_at IS NULL
                AND d.next_attempt_at IS NOT NULL AND d.redelivery_of IS NULL) AS pending
  FROM intracker.webhook_deliveries d JOIN intracker.events e ON e.seq = d.event_seq
 WHERE d.webhook_id IN (:'w_all', :'w_status');
SELECT (payload::jsonb ->> 'seq')::bigint - :base AS event,
       regress.named(regress.mask(payload::jsonb - 'seq')::text) AS payload
  FROM intracker.webhook_deliveries WHERE webhook_id = :'w_status' ORDER BY event_seq LIMIT 1;
-- slack: plain words, with &, < and > escaped.
SELECT regress.named(webhook_id::text) AS webhook, event_type, payload
  FROM intracker.webhook_deliveries WHERE webhook_id IN (:'w_todo', :'w_team')
 ORDER BY event_seq, webhook_id;

------------------------------------------------------------------------------
-- Pause and resume, delete, redeliver
------------------------------------------------------------------------------
SELECT max(seq) AS mark FROM intracker.events_since(0, :'p') \gset
SELECT regress.named(id::text) AS webhook, active FROM intracker.set_webhook_active(:'w_todo', false);
SELECT version FROM intracker.update_todo(:'esc', '{"title": "Escape <b> & \"quotes\" twice"}', regress.v(:'esc'));
SELECT regress.read_events() > 0 AS published;
SELECT regress.deliveries_of(:'p', :mark);
SELECT max(seq) AS mark FROM intracker.events_since(0, :'p') \gset
SELECT regress.named(id::text) AS webhook, active FROM intracker.set_webhook_active(:'w_todo', true);
SELECT version FROM intracker.update_todo(:'esc', '{"estimate": 5}', regress.v(:'esc'));
SELECT regress.read_events() > 0 AS published;
SELECT regress.deliveries_of(:'p', :mark);
-- Errors: owners only (editors 42501, others PT404), an existing webhook, a boolean.
SELECT * FROM regress.try($$SELECT intracker.set_webhook_active((SELECT id FROM regress.names WHERE name = 'w-todo-slack'), NULL)$$);
SELECT * FROM regress.try($$SELECT intracker.set_webhook_active('00000000-0000-0000-0000-000000000999', false)$$);
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000c') IS NOT NULL AS acting_as_vic_the_editor;
SELECT * FROM regress.try($$SELECT intracker.set_webhook_active((SELECT id FROM regress.names WHERE name = 'w-todo-slack'), false)$$);
SELECT * FROM regress.try($$SELECT intracker.delete_webhook((SELECT id FROM regress.names WHERE name = 'w-todo-slack'))$$);
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000d') IS NOT NULL AS acting_as_outsider;
SELECT * FROM regress.try($$SELECT intracker.set_webhook_active((SELECT id FROM regress.names WHERE name = 'w-todo-slack'), false)$$);
SELECT * FROM regress.try($$SELECT intracker.delete_webhook((SELECT id FROM regress.names WHERE name = 'w-todo-slack'))$$);
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;

-- delete_webhook returns the webhook as it was; its deliveries go with it.
SELECT count(*) AS status_deliveries FROM intracker.webhook_deliveries WHERE webhook_id = :'w_status';
SELECT regress.named(id::text) AS webhook, url, event_types FROM intracker.delete_webhook(:'w_status');
SELECT count(*) AS status_deliveries_left FROM intracker.webhook_deliveries WHERE webhook_id = :'w_status';
RESET ROLE;
SELECT count(*) AS status_deliveries_left_at_all FROM intracker_data.deliveries WHERE webhook_id = :'w_status';
SET ROLE regress_admin;
SELECT * FROM regress.try($$SELECT intracker.delete_webhook((SELECT id FROM regress.names WHERE name = 'w-status'))$$);

-- redeliver: not while a delivery is pending; a dead one is sent again as a
-- new delivery (new id, redelivery_of the original) at the end of its queue.
SELECT id AS first_delivery FROM intracker.webhook_deliveries WHERE webhook_id = :'w_all' ORDER BY event_seq LIMIT 1 \gset
INSERT INTO regress.names VALUES (:'first_delivery', 'first-delivery');
SELECT * FROM regress.try($$SELECT intracker.redeliver((SELECT id FROM regress.names WHERE name = 'first-delivery'))$$);
RESET ROLE;
UPDATE intracker_data.deliveries
   SET state = 'dead', attempts = 10, last_status = 500, last_error = 'HTTP 500', last_attempt_at = now()
 WHERE id = :'first_delivery';
SET ROLE regress_admin;
SELECT regress.named(webhook_id::text) AS webhook, state, attempts, last_status, last_error, next_attempt_at
  FROM intracker.webhook_deliveries WHERE id = :'first_delivery';
SELECT regress.named(webhook_id::text) AS webhook, event_seq - :base AS event, event_type, state, attempts,
       last_status, last_error, regress.named(redelivery_of::text) AS redelivery_of,
       id <> :'first_delivery' AS new_id,
       payload = (SELECT payload FROM intracker.webhook_deliveries WHERE id = :'first_delivery') AS same_payload
  FROM intracker.redeliver(:'first_delivery');
RESET ROLE;
SELECT d.position = (SELECT max(position) FROM intracker_data.deliveries WHERE queue_id = d.queue_id) AS last_in_its_queue
  FROM intracker_data.deliveries d WHERE d.redelivery_of = :'first_delivery';
SET ROLE regress_admin;
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000c') IS NOT NULL AS acting_as_vic_the_editor;
SELECT * FROM regress.try($$SELECT intracker.redeliver((SELECT id FROM regress.names WHERE name = 'first-delivery'))$$);
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000d') IS NOT NULL AS acting_as_outsider;
SELECT * FROM regress.try($$SELECT intracker.redeliver((SELECT id FROM regress.names WHERE name = 'first-delivery'))$$);
SELECT * FROM regress.try($$SELECT intracker.redeliver('00000000-0000-0000-0000-000000000999')$$);

-- Who sees webhooks and deliveries: owners only (a webhook URL is often a
-- credential itself).
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000c') IS NOT NULL AS acting_as_vic_the_editor;
SELECT count(*) AS editor_sees_webhooks FROM intracker.webhooks WHERE project_id = :'p';
SELECT count(*) AS editor_sees_deliveries FROM intracker.webhook_deliveries WHERE project_id = :'p';
SELECT intracker.act_as(NULL);
RESET ROLE;
SET intracker.acting_user = '00000000-0000-0000-0000-00000000000a';
SET ROLE regress_plain;
SELECT count(*) AS owner_sees_webhooks FROM intracker.webhooks WHERE project_id = :'p';
SELECT count(*) > 0 AS owner_sees_deliveries FROM intracker.webhook_deliveries WHERE project_id = :'p';
-- Even an owner reads no secret, and writes only through the functions.
SELECT * FROM regress.try($$SELECT secret FROM intracker_data.webhooks$$);
SELECT * FROM regress.try($$SELECT count(*) FROM intracker_data.webhooks$$);
SELECT * FROM regress.try($$UPDATE intracker.webhooks SET active = false$$);
SELECT * FROM regress.try($$INSERT INTO intracker.webhooks (project_id, url) VALUES ((SELECT id FROM regress.names WHERE name = 'hooks'), 'http://localhost:9/forged')$$);
SELECT * FROM regress.try($$UPDATE intracker.webhook_deliveries SET state = 'delivered'$$);
SELECT * FROM regress.try($$DELETE FROM intracker_data.deliveries$$);
RESET ROLE;
RESET intracker.acting_user;

------------------------------------------------------------------------------
-- A webhook that keeps failing is disabled (0.6).  The deliverer counts the
-- outcomes it records (deliverer_note_outcomes) and disables the webhooks
-- past a limit (deliverer_disable_webhooks); here the superuser plays the
-- deliverer, with limits of 3 dead deliveries in a row and 300 s of failure.
------------------------------------------------------------------------------
SET ROLE regress_admin;
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT id AS fp FROM intracker.create_project('Failing') \gset
SELECT id AS wf FROM intracker.create_webhook(:'fp', 'http://localhost:9/failing', '{todo.*}') \gset
SELECT id AS wslack FROM intracker.create_webhook(:'fp', 'http://localhost:9/alerts', '{webhook.disabled}', format => 'slack') \gset
SELECT id AS wjson FROM intracker.create_webhook(:'fp', 'http://localhost:9/all-webhook-events', '{webhook.*}') \gset
INSERT INTO regress.names VALUES (:'fp', 'failing'), (:'wf', 'w-failing'), (:'wslack', 'w-alerts'), (:'wjson', 'w-webhook-events');
SELECT regress.read_events() > 0 AS published;
INSERT INTO intracker.todos (project_id, title) SELECT :'fp', 'f' || i FROM generate_series(1, 9) AS i;
SELECT max(seq) AS fmark FROM intracker.events_since(0, :'fp') \gset
RESET ROLE;
CREATE TABLE regress.failing AS
SELECT row_number() OVER (ORDER BY d.position) AS n, d.id FROM intracker_data.deliveries d WHERE d.webhook_id = :'wf';
-- Outcomes of the deliveries numbered ns, now or ago.
CREATE FUNCTION regress.outcomes(ns integer[], states text[], ago interval[] DEFAULT NULL) RETURNS integer
LANGUAGE sql AS $$
    SELECT intracker_data.deliverer_note_outcomes(
        (SELECT array_agg(f.id ORDER BY x.k) FROM unnest(ns) WITH ORDINALITY AS x (n, k) JOIN regress.failing f ON f.n = x.n),
        states,
        (SELECT array_agg(now() - coalesce(ago[x.k], '0') ORDER BY x.k) FROM generate_subscripts(ns, 1) AS x (k)),
        3, 300)
$$;
CREATE FUNCTION regress.health() RETURNS SETOF text
LANGUAGE sql AS $$
    SELECT format('%s: %s dead in a row, failing for %s min, %s', regress.named(h.webhook_id::text), h.dead_in_a_row,
                  floor(extract(epoch FROM h.last_failure_at - h.failing_since) / 60),
                  coalesce(h.disable_reason, 'not past a limit'))
      FROM intracker_data.webhook_health h
$$;
SELECT count(*) AS pending_deliveries FROM regress.failing;
-- Two dead, then a delivered one: the run ends, nothing is counted.
SELECT regress.outcomes('{1,2,3}', '{dead,dead,delivered}') AS waiting;
SELECT count(*) AS failing_webhooks FROM intracker_data.webhook_health;
-- Failed attempts do not count as dead; a dead delivery does.
SELECT regress.outcomes('{4,4}', '{failed,dead}') AS waiting;
SELECT regress.health();
-- Two more dead in a row: past the limit of 3, waiting to be disabled.
SELECT regress.outcomes('{5}', '{dead}') AS waiting;
SELECT regress.outcomes('{6}', '{dead}') AS waiting;
SELECT regress.health();
SELECT * FROM intracker_data.deliverer_disable_webhooks();
-- Disabled: inactive, when and why; its pending deliveries are dead with the
-- reason (retention prunes them like any other); the run is forgotten.
SELECT regress.named(id::text) AS webhook, active, disabled_at IS NOT NULL AS disabled, disabled_reason
  FROM intracker_data.webhooks WHERE id = :'wf';
SELECT n, state, last_error FROM regress.failing f JOIN intracker_data.deliveries d ON d.id = f.id WHERE f.n >= 6 ORDER BY n;
SELECT count(*) AS failing_webhooks FROM intracker_data.webhook_health;
-- A webhook.disabled event in the webhook's project, by nobody, for every
-- member; it goes to the webhooks that ask for it, in plain words on Slack.
SET ROLE regress_admin;
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT role FROM intracker.add_member(:'fp', '00000000-0000-0000-0000-00000000000c', 'viewer');
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000c') IS NOT NULL AS acting_as_vic_the_viewer;
SELECT type, regress.named(entity_id::text) AS entity, actor, version, changes
  FROM intracker.events_since(:fmark, :'fp') WHERE type LIKE 'webhook.%';
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT regress.named(webhook_id::text) AS webhook, event_type, regress.named(payload) AS payload
  FROM intracker.webhook_deliveries WHERE webhook_id = :'wslack';
SELECT regress.named(webhook_id::text) AS webhook, event_type, (payload::jsonb ->> 'type') AS type,
       regress.named(payload::jsonb ->> 'entity_id') AS entity
  FROM intracker.webhook_deliveries WHERE webhook_id = :'wjson';
-- A disabled webhook collects no more deliveries.
SELECT count(*) AS deliveries_before FROM intracker.webhook_deliveries WHERE webhook_id = :'wf' \gset
SELECT title FROM intracker.create_todo(:'fp', 'after the disable');
SELECT regress.read_events() > 0 AS published;
SELECT count(*) - :deliveries_before AS new_deliveries FROM intracker.webhook_deliveries WHERE webhook_id = :'wf';
-- set_webhook_active(id, true) enables it again and clears the reason.
SELECT regress.named(id::text) AS webhook, active, disabled_at, disabled_reason
  FROM intracker.set_webhook_active(:'wf', true);
-- The counts start afresh with each activation: two dead, a pause and a
-- resume, then two dead again stay below the limit of 3.
SELECT t.title FROM generate_series(1, 4) AS i, intracker.create_todo(:'fp', 'after the resume ' || i) AS t;
SELECT regress.read_events() > 0 AS published;
RESET ROLE;
INSERT INTO regress.failing
SELECT 100 + row_number() OVER (ORDER BY d.position), d.id FROM intracker_data.deliveries d
 WHERE d.webhook_id = :'wf' AND d.state = 'pending';
SELECT regress.outcomes('{101,102}', '{dead,dead}') AS waiting;
SET ROLE regress_admin;
SELECT active FROM intracker.set_webhook_active(:'wf', false);
SELECT active FROM intracker.set_webhook_active(:'wf', true);
RESET ROLE;
SELECT regress.outcomes('{103,104}', '{dead,dead}') AS waiting;
SELECT regress.health();
-- The other limit: every attempt failed for 300 s.  A delivered delivery
-- ends the run first; then failed attempts 10 and 6 minutes ago, and now.
SELECT regress.outcomes('{101}', '{delivered}') AS waiting;
SELECT regress.outcomes('{103}', '{failed}', '{00:10:00}') AS waiting;
SELECT regress.outcomes('{104}', '{failed}', '{00:06:00}') AS waiting;
SELECT regress.health();
SELECT regress.outcomes('{104}', '{failed}') AS waiting;
SELECT regress.health();
-- A webhook paused meanwhile is not disabled (its owner's act comes first).
SET ROLE regress_admin;
SELECT active FROM intracker.set_webhook_active(:'wf', false);
RESET ROLE;
SELECT * FROM intracker_data.deliverer_disable_webhooks();
SELECT active, disabled_reason FROM intracker_data.webhooks WHERE id = :'wf';
SELECT count(*) AS failing_webhooks FROM intracker_data.webhook_health;
-- disabled_at and disabled_reason go together, on an inactive webhook only.
SELECT (SELECT o FROM regress.try(format('UPDATE intracker_data.webhooks SET disabled_at = now() WHERE id = %L', :'wf')) o
         LIMIT 1) AS without_reason,
       (SELECT o FROM regress.try(format('UPDATE intracker_data.webhooks SET active = true, disabled_at = now(), disabled_reason = %L WHERE id = %L', 'x', :'wf')) o
         LIMIT 1) AS active;
-- Deliveries the publisher queued for a webhook while it was being deleted
-- (the delete trigger could not see them) are orphans: the deliverer drops
-- them, with the failure count of a deleted webhook.  Only those of a
-- webhook or project deleted lately: a delivery whose webhook is not there
-- (yet), as while a restore loads deliveries before webhooks, stays.
INSERT INTO intracker_data.deliveries (kind, queue_id, project_id, webhook_id, event_seq, event_type, body)
VALUES ('webhook', '00000000-0000-0000-0000-0000000000ff', :'fp', '00000000-0000-0000-0000-0000000000ff', 1, 'todo.created', '{}');
INSERT INTO intracker_data.webhook_health (webhook_id, since, failing_since, last_failure_at)
VALUES ('00000000-0000-0000-0000-0000000000ff', now(), now(), now());
SELECT intracker_data.deliverer_drop_orphans() AS dropped_without_a_delete;
SELECT count(*) AS kept FROM intracker_data.deliveries WHERE webhook_id = '00000000-0000-0000-0000-0000000000ff';
SELECT count(*) AS failing_webhooks FROM intracker_data.webhook_health;
-- As the delete trigger records a deleted webhook:
INSERT INTO intracker_data.deleted_delivery_parents (parent_id) VALUES ('00000000-0000-0000-0000-0000000000ff');
SELECT intracker_data.deliverer_drop_orphans() AS dropped;
SELECT count(*) AS left_behind FROM intracker_data.deliveries WHERE webhook_id = '00000000-0000-0000-0000-0000000000ff';
SELECT intracker_data.deliverer_drop_orphans() AS dropped_again;
-- The record of a delete is kept an hour.
SELECT count(*) AS remembered FROM intracker_data.deleted_delivery_parents;
UPDATE intracker_data.deleted_delivery_parents SET deleted_at = now() - interval '61 minutes';
SELECT intracker_data.deliverer_drop_orphans() AS dropped_then;
SELECT count(*) AS remembered_after_an_hour FROM intracker_data.deleted_delivery_parents;
-- delete_webhook records it (the trigger, as the extension's owner).
SET ROLE regress_admin;
SELECT id AS wgone FROM intracker.create_webhook(:'fp', 'https://hooks.example.com/gone') \gset
SELECT id IS NOT NULL AS deleted FROM intracker.delete_webhook(:'wgone');
RESET ROLE;
SELECT count(*) AS recorded FROM intracker_data.deleted_delivery_parents WHERE parent_id = :'wgone';
DROP FUNCTION regress.outcomes(integer[], text[], interval[]);
DROP FUNCTION regress.health();
DROP TABLE regress.failing;

------------------------------------------------------------------------------
-- GitHub: token, links, issues created, closed and reopened
------------------------------------------------------------------------------
SET ROLE regress_admin;
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT id AS g1 FROM intracker.create_todo(:'p', 'Linked by hand') \gset
SELECT id AS g2 FROM intracker.create_todo(:'p', 'Created on GitHub', description => 'Steps: <1> & <2>') \gset
SELECT id AS g3 FROM intracker.create_todo(:'p', 'Not planned') \gset
SELECT id AS g4 FROM intracker.create_todo(:'p', 'Fixed by a PR') \gset
SELECT id AS g5 FROM intracker.create_todo(:'p', 'Blocked') \gset
SELECT id AS g6 FROM intracker.create_todo(:'p', 'Blocker') \gset
SELECT id AS n1 FROM intracker.create_todo(:'norepo', 'No repo todo') \gset
INSERT INTO regress.names VALUES (:'g1', 'g1-linked'), (:'g2', 'g2-created'), (:'g3', 'g3-not-planned'),
                                 (:'g4', 'g4-pr'), (:'g5', 'g5-blocked'), (:'g6', 'g6-blocker'), (:'n1', 'n1');
SELECT intracker.add_dependency(:'g5', :'g6') IS NOT NULL AS g5_blocked_by_g6;

-- No repository, no token: 55000 saying what is missing.
SELECT * FROM regress.try($$SELECT intracker.create_github_issue((SELECT id FROM regress.names WHERE name = 'n1'))$$);
SELECT * FROM regress.try($$SELECT intracker.link_github_issue((SELECT id FROM regress.names WHERE name = 'n1'), 1)$$);
SELECT * FROM regress.try($$SELECT intracker.create_github_issue((SELECT id FROM regress.names WHERE name = 'g2-created'))$$);
SELECT github_repo, has_token, has_webhook_secret FROM intracker.github_settings WHERE project_id = :'p';

-- set_github_token: owners only, printable ASCII without spaces; never shown.
SELECT regress.named(project_id::text) AS project, github_repo, has_token, has_webhook_secret,
       regress.named(updated_by::text) AS updated_by
  FROM intracker.set_github_token(:'p', 'ghp_fake0123456789');
SELECT * FROM regress.try_column($$SELECT intracker.set_github_token((SELECT id FROM regress.names WHERE name = 'hooks'), 'has a space')$$);
SELECT * FROM regress.try_column($$SELECT intracker.set_github_token((SELECT id FROM regress.names WHERE name = 'hooks'), '')$$);
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000c') IS NOT NULL AS acting_as_vic_the_editor;
SELECT * FROM regress.try($$SELECT intracker.set_github_token((SELECT id FROM regress.names WHERE name = 'hooks'), 'ghp_editor')$$);
SELECT * FROM regress.try($$SELECT intracker.set_github_webhook_secret((SELECT id FROM regress.names WHERE name = 'hooks'), 'editor secret')$$);
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000d') IS NOT NULL AS acting_as_outsider;
SELECT * FROM regress.try($$SELECT intracker.set_github_token((SELECT id FROM regress.names WHERE name = 'hooks'), 'ghp_outsider')$$);
SELECT intracker.act_as(NULL);
RESET ROLE;
-- Members see whether a token is set (github_settings runs as its owner and
-- filters by membership), a non-member sees nothing, nobody reads the table.
SET intracker.acting_user = '00000000-0000-0000-0000-00000000000b';
SET ROLE regress_plain;
SELECT regress.named(project_id::text) AS project, github_repo, has_token, has_webhook_secret
  FROM intracker.github_settings WHERE project_id IN (:'p', :'norepo') ORDER BY 1;
SELECT (SELECT array_agg(project_id ORDER BY project_id) FROM intracker.github_settings)
     = (SELECT array_agg(id ORDER BY id) FROM intracker.projects) AS settings_of_exactly_my_projects;
SELECT * FROM regress.try($$SELECT token FROM intracker_data.github_credentials$$);
SELECT * FROM regress.try($$SELECT count(*) FROM intracker_data.github_credentials$$);
RESET ROLE;
SET intracker.acting_user = '00000000-0000-0000-0000-00000000000d';
SET ROLE regress_plain;
SELECT count(*) AS outsider_sees_settings FROM intracker.github_settings WHERE project_id IN (:'p', :'norepo');
SELECT (SELECT array_agg(project_id ORDER BY project_id) FROM intracker.github_settings)
     = (SELECT array_agg(id ORDER BY id) FROM intracker.projects) AS settings_of_exactly_my_projects;
RESET ROLE;
SET intracker.acting_user = '00000000-0000-0000-0000-00000000000a';
SET ROLE regress_plain;
SELECT * FROM regress.try($$SELECT token FROM intracker_data.github_credentials$$);
SELECT * FROM regress.try($$UPDATE intracker.github_settings SET has_token = false$$);
RESET ROLE;
RESET intracker.acting_user;
SELECT regress.named(project_id::text) AS project, token, webhook_secret FROM intracker_data.github_credentials;

-- link_github_issue: editors; a positive issue number.
SET ROLE regress_admin;
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000c') IS NOT NULL AS acting_as_vic_the_editor;
SELECT title, github_issue, github_issue_url FROM intracker.link_github_issue(:'g1', 5);
SELECT title, github_issue, github_issue_url FROM intracker.link_github_issue(:'g3', 7);
SELECT title, github_issue, github_issue_url FROM intracker.link_github_issue(:'g4', 8);
SELECT title, github_issue, github_issue_url FROM intracker.link_github_issue(:'g5', 9);
SELECT * FROM regress.try($$SELECT intracker.link_github_issue((SELECT id FROM regress.names WHERE name = 'g1-linked'), 0)$$);
SELECT * FROM regress.try($$SELECT intracker.link_github_issue((SELECT id FROM regress.names WHERE name = 'g1-linked'), NULL)$$);
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT role FROM intracker.add_member(:'p', '00000000-0000-0000-0000-00000000000d', 'viewer');
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000d') IS NOT NULL AS acting_as_outsider_the_viewer;
SELECT * FROM regress.try($$SELECT intracker.link_github_issue((SELECT id FROM regress.names WHERE name = 'g1-linked'), 6)$$);
SELECT * FROM regress.try($$SELECT intracker.create_github_issue((SELECT id FROM regress.names WHERE name = 'g2-created'))$$);
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT role FROM intracker.remove_member(:'p', '00000000-0000-0000-0000-00000000000d');
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000d') IS NOT NULL AS acting_as_outsider;
SELECT * FROM regress.try($$SELECT intracker.link_github_issue((SELECT id FROM regress.names WHERE name = 'g1-linked'), 6)$$);
SELECT * FROM regress.try($$SELECT intracker.create_github_issue((SELECT id FROM regress.names WHERE name = 'g2-created'))$$);

-- create_github_issue: editors; not for a linked todo, not twice at once.
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000c') IS NOT NULL AS acting_as_vic_the_editor;
SELECT * FROM regress.try($$SELECT intracker.create_github_issue((SELECT id FROM regress.names WHERE name = 'g1-linked'))$$);
SELECT regress.named(project_id::text) AS project, regress.named(todo_id::text) AS todo, action, event_seq, state,
       attempts, next_attempt_at IS NOT NULL AS due, regress.named(request_body) AS request_body
  FROM intracker.create_github_issue(:'g2');
SELECT * FROM regress.try($$SELECT intracker.create_github_issue((SELECT id FROM regress.names WHERE name = 'g2-created'))$$);
SELECT regress.github_calls_of(:'p');

-- Status changes of linked todos queue close and reopen calls when they are
-- published: done -> closed as completed, cancelled -> closed as not
-- planned, reopened -> open.  An issue still being created counts as linked;
-- unlinked todos and changes between open states call nothing.
SELECT status FROM intracker.set_todo_status(:'g1', 'done', regress.v(:'g1'));
SELECT status FROM intracker.set_todo_status(:'g1', 'todo', regress.v(:'g1'));
SELECT status FROM intracker.set_todo_status(:'g3', 'cancelled', regress.v(:'g3'));
SELECT status FROM intracker.set_todo_status(:'g3', 'todo', regress.v(:'g3'));
SELECT status FROM intracker.set_todo_status(:'g2', 'in_progress', regress.v(:'g2'));
SELECT status FROM intracker.set_todo_status(:'g2', 'done', regress.v(:'g2'));
SELECT status FROM intracker.set_todo_status(:'g4', 'in_progress', regress.v(:'g4'));
SELECT status FROM intracker.set_todo_status(:'esc', 'done', regress.v(:'esc'));
SELECT regress.read_events() > 0 AS published;
SELECT regress.github_calls_of(:'p');
-- Viewers see the calls too (not only owners, unlike webhook deliveries).
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000b') IS NOT NULL AS acting_as_bot_the_viewer;
SELECT count(*) AS viewer_sees_github_calls FROM intracker.github_calls WHERE project_id = :'p';
-- A dead GitHub call is redelivered by editors.
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000c') IS NOT NULL AS acting_as_vic_the_editor;
SELECT id AS close_call FROM intracker.github_calls WHERE todo_id = :'g1' AND action = 'close_issue' \gset
INSERT INTO regress.names VALUES (:'close_call', 'close-call');
RESET ROLE;
UPDATE intracker_data.deliveries SET state = 'dead', attempts = 1, last_status = 422, last_error = 'HTTP 422'
 WHERE id = :'close_call';
SET ROLE regress_admin;
SELECT event_type, state, payload, regress.named(redelivery_of::text) AS redelivery_of
  FROM intracker.redeliver(:'close_call');
SELECT regress.github_calls_of(:'p');

------------------------------------------------------------------------------
-- Inbound GitHub webhooks (github_webhook): the signature first, then
-- issues closed/reopened and merged pull requests change the linked todos.
------------------------------------------------------------------------------
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT regress.named(project_id::text) AS project, has_token, has_webhook_secret
  FROM intracker.set_github_webhook_secret(:'p', 'whsec_test');
SELECT * FROM regress.try_column($$SELECT intracker.set_github_webhook_secret((SELECT id FROM regress.names WHERE name = 'hooks'), '')$$);
SELECT max(seq) AS mark FROM intracker.events_since(0, :'p') \gset
-- GitHub calls anonymously (through PostgREST): act as nobody.
SELECT intracker.act_as(NULL);
\set closed5 '{"action": "closed", "issue": {"number": 5, "state": "closed", "state_reason": "completed"}, "repository": {"full_name": "acme/hooks"}}'
-- A wrong signature, a missing one, another secret's, or a changed payload: PT401.
SELECT * FROM regress.try(format('SELECT intracker.github_webhook(%L, %L, %L)', :'closed5', 'sha256=' || repeat('0', 64), 'issues'));
SELECT * FROM regress.try(format('SELECT intracker.github_webhook(%L, NULL, %L)', :'closed5', 'issues'));
SELECT * FROM regress.try(format('SELECT intracker.github_webhook(%L, %L, %L)', :'closed5',
                                 regress.github_signature(:'closed5', 'another secret'), 'issues'));
SELECT * FROM regress.try(format('SELECT intracker.github_webhook(%L, %L, %L)',
                                 jsonb_set(:'closed5'::jsonb, '{issue,number}', '7'),
                                 regress.github_signature(:'closed5', 'whsec_test'), 'issues'));
-- Not a GitHub delivery (no repository), or no event: 22023.
SELECT * FROM regress.try(format('SELECT intracker.github_webhook(%L, %L, %L)', '{"zen": "Keep it simple."}',
                                 regress.github_signature('{"zen": "Keep it simple."}', 'whsec_test'), 'ping'));
SELECT * FROM regress.try(format('SELECT intracker.github_webhook(%L, %L)', :'closed5',
                                 regress.github_signature(:'closed5', 'whsec_test')));
-- issues closed (completed): the linked todo is done; again: unchanged.
SELECT regress.named(intracker.github_webhook(:'closed5', regress.github_signature(:'closed5', 'whsec_test'), 'issues')::text) AS result;
SELECT regress.named(intracker.github_webhook(:'closed5', regress.github_signature(:'closed5', 'whsec_test'), 'issues')::text) AS result;
-- reopened: back to todo.
\set reopened5 '{"action": "reopened", "issue": {"number": 5, "state": "open"}, "repository": {"full_name": "acme/hooks"}}'
SELECT regress.named(intracker.github_webhook(:'reopened5', regress.github_signature(:'reopened5', 'whsec_test'), 'issues')::text) AS result;
-- closed as not planned: cancelled.
\set closed7 '{"action": "closed", "issue": {"number": 7, "state": "closed", "state_reason": "not_planned"}, "repository": {"full_name": "ACME/Hooks"}}'
SELECT regress.named(intracker.github_webhook(:'closed7', regress.github_signature(:'closed7', 'whsec_test'), 'issues')::text) AS result;
-- An issue no todo is linked to.
\set closed42 '{"action": "closed", "issue": {"number": 42, "state": "closed", "state_reason": "completed"}, "repository": {"full_name": "acme/hooks"}}'
SELECT regress.named(intracker.github_webhook(:'closed42', regress.github_signature(:'closed42', 'whsec_test'), 'issues')::text) AS result;
-- A blocked todo cannot be done: rejected, recorded.
\set closed9 '{"action": "closed", "issue": {"number": 9, "state": "closed", "state_reason": "completed"}, "repository": {"full_name": "acme/hooks"}}'
SELECT regress.named(intracker.github_webhook(:'closed9', regress.github_signature(:'closed9', 'whsec_test'), 'issues')::text) AS result;
-- A merged pull request that says "Fixes #8" (and closes #404, linked to
-- nothing): #8's todo is done, with the pull request recorded.
\set pr31 '{"action": "closed", "number": 31, "pull_request": {"number": 31, "merged": true, "title": "Fix the PR todo", "body": "Fixes #8, also closes #404."}, "repository": {"full_name": "acme/hooks"}}'
SELECT regress.named(intracker.github_webhook(:'pr31', regress.github_signature(:'pr31', 'whsec_test'), 'pull_request')::text) AS result;
-- Closed without merging, or merged without naming an issue: ignored.
\set pr32 '{"action": "closed", "number": 32, "pull_request": {"number": 32, "merged": false, "title": "Fixes #5", "body": null}, "repository": {"full_name": "acme/hooks"}}'
SELECT regress.named(intracker.github_webhook(:'pr32', regress.github_signature(:'pr32', 'whsec_test'), 'pull_request')::text) AS result;
\set pr33 '{"action": "closed", "number": 33, "pull_request": {"number": 33, "merged": true, "title": "Refactor", "body": "No issue."}, "repository": {"full_name": "acme/hooks"}}'
SELECT regress.named(intracker.github_webhook(:'pr33', regress.github_signature(:'pr33', 'whsec_test'), 'pull_request')::text) AS result;
-- Other events: ignored.
\set ping '{"zen": "Design for failure.", "hook_id": 1, "repository": {"full_name": "acme/hooks"}}'
SELECT regress.named(intracker.github_webhook(:'ping', regress.github_signature(:'ping', 'whsec_test'), 'ping')::text) AS result;
\set opened '{"action": "opened", "issue": {"number": 5}, "repository": {"full_name": "acme/hooks"}}'
SELECT regress.named(intracker.github_webhook(:'opened', regress.github_signature(:'opened', 'whsec_test'), 'issues')::text) AS result;
-- Through PostgREST the signature and the event come as request headers.
SELECT set_config('request.headers',
                  jsonb_build_object('x-hub-signature-256', regress.github_signature(:'closed5', 'whsec_test'),
                                     'x-github-event', 'issues', 'content-type', 'application/json')::text, false) IS NOT NULL AS headers_set;
SELECT regress.named(intracker.github_webhook(:'closed5')::text) AS result;
SELECT * FROM regress.try(format('SELECT intracker.github_webhook(%L)', :'reopened5'));
RESET request.headers;

-- The todos now.
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT title, status, github_issue, github_pr FROM intracker.todos
 WHERE id IN (:'g1', :'g3', :'g4', :'g5') ORDER BY title;
-- The changes are events like any other (by nobody: GitHub), ...
SELECT regress.named(format('%s %s by %s %s', type, entity_id, coalesce(actor::text, '-'), changes -> 'status'))
  FROM intracker.events_since(:mark, :'p') WHERE type = 'todo.status_changed' ORDER BY seq;
-- ... and every outcome is in intracker.github_inbound, for members.
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000b') IS NOT NULL AS acting_as_bot_the_viewer;
SELECT event, action, issue_number, pr_number, regress.named(todo_id::text) AS todo, outcome, regress.named(detail) AS detail
  FROM intracker.github_inbound WHERE project_id = :'p' ORDER BY id;
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000d') IS NOT NULL AS acting_as_outsider;
SELECT count(*) AS outsider_sees_inbound FROM intracker.github_inbound;
SELECT intracker.act_as(NULL);
RESET ROLE;
SET intracker.acting_user = '00000000-0000-0000-0000-00000000000b';
SET ROLE regress_plain;
SELECT * FROM regress.try($$INSERT INTO intracker.github_inbound (project_id, event, outcome) VALUES ((SELECT id FROM regress.names WHERE name = 'hooks'), 'forged', 'applied')$$);
SELECT * FROM regress.try($$SELECT intracker_data.apply_github_change((SELECT id FROM regress.names WHERE name = 'hooks'), 'issues', 'closed', 5, NULL, 'done')$$);
RESET ROLE;
RESET intracker.acting_user;

-- What the inbound changes queue when published: they are status changes of
-- linked todos like any other, so GitHub is sent back what it reported (the
-- last five calls: #5 closed, reopened, closed; #7 closed; #8 closed).
SET ROLE regress_admin;
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT regress.read_events() > 0 AS published;
SELECT regress.github_calls_of(:'p');
-- Without a token (NULL removes it) status changes queue no GitHub call.
SELECT count(*) AS calls FROM intracker.github_calls WHERE project_id = :'p' \gset
SELECT github_repo, has_token, has_webhook_secret FROM intracker.set_github_token(:'p', NULL);
SELECT status FROM intracker.set_todo_status(:'g1', 'todo', regress.v(:'g1'));
SELECT regress.read_events() > 0 AS published;
SELECT count(*) - :calls AS new_calls FROM intracker.github_calls WHERE project_id = :'p';
RESET ROLE;
SELECT regress.named(project_id::text) AS project, token, webhook_secret FROM intracker_data.github_credentials;
SET ROLE regress_admin;
-- The deliverer serves another database here: nothing went out.
SELECT state IN ('serving another database', 'stopped') AS not_here, pending > 0 AS has_pending,
       waiting_for_retry
  FROM intracker.deliverer_status;
SELECT intracker.act_as(NULL);
RESET ROLE;

------------------------------------------------------------------------------
-- The repository is where the deliverer spends the owner's token (0.6): only
-- owners change it, through every path, and a queued call keeps the
-- repository it was queued for.
------------------------------------------------------------------------------
SET ROLE regress_admin;
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000c') IS NOT NULL AS acting_as_vic_the_editor;
SELECT * FROM regress.try($$SELECT intracker.update_project((SELECT id FROM regress.names WHERE name = 'hooks'), '{"github_repo": "mallory/loot"}', (SELECT version FROM intracker.projects WHERE name = 'Hooks & <Co>'))$$);
SELECT * FROM regress.try($$UPDATE intracker.projects SET github_repo = 'mallory/loot' WHERE name = 'Hooks & <Co>'$$);
SELECT * FROM regress.try($$UPDATE intracker.projects SET github_repo = NULL WHERE name = 'Hooks & <Co>'$$);
-- Other fields are the editor's to change, and so is a github_repo left as it is.
SELECT description, github_repo
  FROM intracker.update_project(:'p', '{"description": "Hooks <4>", "github_repo": "acme/hooks"}',
                                (SELECT version FROM intracker.projects WHERE id = :'p'));
SELECT intracker.act_as(NULL);
RESET ROLE;
-- PostgREST's PATCH /projects is an UPDATE of the view on the API role.
SET intracker.acting_user = '00000000-0000-0000-0000-00000000000c';
SET ROLE regress_plain;
SELECT * FROM regress.try($$UPDATE intracker.projects SET github_repo = 'mallory/loot' WHERE name = 'Hooks & <Co>'$$);
RESET ROLE;
RESET intracker.acting_user;
SELECT github_repo FROM intracker_data.projects WHERE id = :'p';

-- An issue is being created for acme/hooks when the owner moves the project
-- to acme/moved: the creation still goes to acme/hooks, and so does the
-- todo's close queued behind it (the issue will be there); a call queued
-- after the move goes to acme/moved.
SET ROLE regress_admin;
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT has_token FROM intracker.set_github_token(:'p', 'ghp_fake0123456789');
SELECT id AS g7 FROM intracker.create_todo(:'p', 'Queued before the move') \gset
SELECT id AS g8 FROM intracker.create_todo(:'p', 'Queued after the move') \gset
INSERT INTO regress.names VALUES (:'g7', 'g7-before-move'), (:'g8', 'g8-after-move');
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000c') IS NOT NULL AS acting_as_vic_the_editor;
SELECT action, state, github_repo FROM intracker.create_github_issue(:'g7');
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT github_repo FROM intracker.update_project(:'p', '{"github_repo": "acme/moved"}',
                                                 (SELECT version FROM intracker.projects WHERE id = :'p'));
SELECT status FROM intracker.set_todo_status(:'g7', 'cancelled', regress.v(:'g7'));
SELECT regress.read_events() > 0 AS published;
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000c') IS NOT NULL AS acting_as_vic_the_editor;
SELECT action, state, github_repo FROM intracker.create_github_issue(:'g8');
SELECT regress.named(todo_id::text) AS todo, action, github_repo
  FROM intracker.github_calls WHERE todo_id IN (:'g7', :'g8') ORDER BY created_at, action;
SELECT intracker.act_as(NULL);
RESET ROLE;
-- What the deliverer sends them to.
SELECT regress.named(d.todo_id::text) AS todo, d.event_type, coalesce(n.url, n.problem) AS url_or_problem
  FROM intracker_data.deliverer_next_deliveries('{}', 'https://api.github.com', 1000) n
  JOIN intracker_data.deliveries d ON d.id = n.id
 WHERE d.todo_id IN (:'g7', :'g8') ORDER BY d.position;

-- Deleting a todo takes its GitHub calls with it; deleting the project, its
-- webhooks, deliveries, credentials and inbound log.
SELECT count(*) AS g2_calls FROM intracker_data.deliveries WHERE todo_id = :'g2';
DELETE FROM intracker_data.todos WHERE id = :'g2';
SELECT count(*) AS g2_calls_left FROM intracker_data.deliveries WHERE todo_id = :'g2';
DELETE FROM intracker_data.projects WHERE id = :'p';
SELECT (SELECT count(*) FROM intracker_data.webhooks WHERE project_id = :'p') AS webhooks,
       (SELECT count(*) FROM intracker_data.deliveries WHERE project_id = :'p') AS deliveries,
       (SELECT count(*) FROM intracker_data.github_credentials WHERE project_id = :'p') AS credentials,
       (SELECT count(*) FROM intracker_data.github_inbound WHERE project_id = :'p') AS inbound;
