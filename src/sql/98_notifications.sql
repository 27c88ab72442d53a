-- The inbox: what needs a user's attention, written when it happens.
--
--   mention     someone @mentioned you in a comment, or in a todo's or a
--               feature's description (entity: the comment, todo or feature)
--   assigned    someone else gave you a todo or a feature (entity: it)
--   comment     someone commented on a todo or feature assigned to you
--               (entity: the comment; a mention of you in it is a mention)
--   unblocked   your open todo's last open blocker was finished or removed
--               (entity: the todo)
--
-- Nobody is notified of their own acts, only active members of the
-- project are notified, and one act notifies a user once.  Each
-- notification is also an event (notification.created, entity_id: the
-- user), published like every event but NOTIFYed on the user's own channel
-- (intracker.user_channel(), LISTENed by intracker.listen_me()) instead of
-- the project's, and readable in the event log by its user only.  Read
-- notifications go after intracker.event_retention (src/publisher.c);
-- unread ones stay.

CREATE TABLE intracker_data.notifications (
    id              uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES intracker_data.users (id) ON DELETE CASCADE,
    kind            text NOT NULL
                    CONSTRAINT notifications_kind_valid CHECK (kind IN ('mention', 'assigned', 'comment', 'unblocked')),
    project_id      uuid NOT NULL REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    entity_id       uuid NOT NULL,
    actor           uuid REFERENCES intracker_data.users (id) ON DELETE SET NULL,
    summary         text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    read_at         timestamptz
);
CREATE INDEX notifications_user_idx ON intracker_data.notifications (user_id, created_at DESC);
CREATE INDEX notifications_unread_idx ON intracker_data.notifications (user_id) WHERE read_at IS NULL;
CREATE INDEX notifications_read_idx ON intracker_data.notifications (read_at) WHERE read_at IS NOT NULL;
CREATE INDEX notifications_project_idx ON intracker_data.notifications (project_id);
CREATE INDEX notifications_actor_idx ON intracker_data.notifications (actor);
COMMENT ON CONSTRAINT notifications_kind_valid ON intracker_data.notifications IS
    'kind must be one of: mention, assigned, comment, unblocked.';
COMMENT ON TABLE intracker_data.notifications IS
    'Users'' inboxes (intracker.my_notifications is the API); written by triggers only.';
SELECT pg_catalog.pg_extension_config_dump('intracker_data.notifications', '');

-- A user reads and marks their own notifications; only the triggers below
-- (as the extension's owner) write them.
ALTER TABLE intracker_data.notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY notifications_select ON intracker_data.notifications FOR SELECT
    USING (user_id = (SELECT intracker.current_user_id()));
CREATE POLICY notifications_update ON intracker_data.notifications FOR UPDATE
    USING (user_id = (SELECT intracker.current_user_id()))
    WITH CHECK (user_id = (SELECT intracker.current_user_id()));

CREATE VIEW intracker.my_notifications WITH (security_invoker = true) AS
SELECT id, kind, project_id, entity_id, actor, summary, created_at, read_at
  FROM intracker_data.notifications
 WHERE user_id = (SELECT intracker.current_user_id());
COMMENT ON VIEW intracker.my_notifications IS
    'Your inbox: mentions of you, work given to you, comments on your work, your todos unblocked; never your own acts. Mark them read with mark_notifications_read() (or by setting read_at).';
COMMENT ON COLUMN intracker.my_notifications.kind IS 'mention, assigned, comment or unblocked.';
COMMENT ON COLUMN intracker.my_notifications.entity_id IS
    'What it is about: the comment (comment, and mention in a comment), the todo or feature (assigned, unblocked, mention in a description).';
COMMENT ON COLUMN intracker.my_notifications.actor IS 'Who did it (NULL: maintenance without an acting user).';
COMMENT ON COLUMN intracker.my_notifications.summary IS 'One line in plain words, e.g. ''Ann mentioned you in a comment on todo "Fix login"''.';
COMMENT ON COLUMN intracker.my_notifications.read_at IS 'When you marked it read; NULL while unread.';

CREATE FUNCTION intracker.mark_notifications_read(notification_ids uuid[] DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := intracker_data.require_user();
    marked integer;
BEGIN
    UPDATE intracker_data.notifications AS n
       SET read_at = now()
     WHERE n.user_id = me AND n.read_at IS NULL
       AND (notification_ids IS NULL OR n.id = ANY (notification_ids));
    GET DIAGNOSTICS marked = ROW_COUNT;
    RETURN marked;
END
$$;
COMMENT ON FUNCTION intracker.mark_notifications_read(uuid[]) IS
    'Mark your unread notifications read: those listed, or all of them (NULL). Returns how many it marked; ids that are not your unread notifications are passed over.';

-- For agents: the inbox, newest first.
CREATE FUNCTION intracker.get_my_notifications(unread_only boolean DEFAULT true, max_rows integer DEFAULT 50)
RETURNS SETOF intracker.my_notifications
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM intracker_data.require_user();
    IF max_rows IS NULL OR max_rows NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000' USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
    SELECT n.* FROM intracker.my_notifications n
     WHERE NOT coalesce(unread_only, true) OR n.read_at IS NULL
     ORDER BY n.created_at DESC, n.id
     LIMIT max_rows;
END
$$;
COMMENT ON FUNCTION intracker.get_my_notifications(boolean, integer) IS
    'Your notifications, newest first: unread ones only (default) or all; at most max_rows (1 to 1000, default 50).';

CREATE FUNCTION intracker.user_channel(user_id uuid)
RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'intracker_user_channel_sql';
COMMENT ON FUNCTION intracker.user_channel(uuid) IS
    'The NOTIFY channel of a user''s notifications ("intracker.user.<id>"). Payloads carry ids only, as on project channels.';

CREATE FUNCTION intracker.listen_me()
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    channel text := intracker.user_channel(intracker_data.require_user());
BEGIN
    EXECUTE format('LISTEN %I', channel);
    RETURN channel;
END
$$;
COMMENT ON FUNCTION intracker.listen_me() IS
    'LISTEN on your notifications'' channel and return its name; each new notification sends {"seq","type":"notification.created","project_id","entity_id" (you),"actor","version"}. Read them in intracker.my_notifications.';

------------------------------------------------------------------------------
-- Writing notifications
--
-- The triggers are SECURITY DEFINER: users cannot write notifications
-- themselves (nor call intracker_data.notify, which has no grant), and a
-- trigger function cannot be called outside its trigger.  The acting user
-- (intracker.current_user_id()) is the same inside.  A restore writes none:
-- the dump has the notifications.
------------------------------------------------------------------------------

-- Notify the active members of a project among recipients, except the
-- acting user, once each.
CREATE FUNCTION intracker_data.notify(kind text, project_id uuid, entity_id uuid, recipients uuid[], summary text)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO intracker_data.notifications (user_id, kind, project_id, entity_id, actor, summary)
    SELECT m.user_id, notify.kind, notify.project_id, notify.entity_id, intracker.current_user_id(), notify.summary
      FROM intracker_data.project_members m
      JOIN intracker_data.users u ON u.id = m.user_id AND u.is_active
     WHERE m.project_id = notify.project_id
       AND m.user_id = ANY (notify.recipients)
       AND m.user_id IS DISTINCT FROM intracker.current_user_id()
     ORDER BY m.user_id;
END;
COMMENT ON FUNCTION intracker_data.notify(text, uuid, uuid, uuid[], text) IS
    'Writes a notification for each active member of the project among recipients but the acting user (for the notification triggers only).';

-- How a notification names who acted.
CREATE FUNCTION intracker_data.actor_name()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN coalesce((SELECT u.name FROM intracker_data.users u WHERE u.id = intracker.current_user_id()), 'intracker');
COMMENT ON FUNCTION intracker_data.actor_name() IS 'The acting user''s name for notification summaries (''intracker'' without one).';

-- Todos and features created (argument: 'todo' or 'feature'), per
-- statement: one "assigned" per assignee (an import of 10,000 todos for 8
-- members notifies each of them once, naming the first and counting the
-- rest), and the members @mentioned in the descriptions.
CREATE FUNCTION intracker_data.notify_created_work()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    entity text := TG_ARGV[0];
    me uuid := intracker.current_user_id();
BEGIN
    IF intracker_data.restoring() THEN
        RETURN NULL;
    END IF;
    INSERT INTO intracker_data.notifications (user_id, kind, project_id, entity_id, actor, summary)
    SELECT a.assignee, 'assigned', a.project_id, a.firsts[1], me,
           CASE WHEN a.n = 1 THEN format('%s assigned you %s "%s"', intracker_data.actor_name(), entity, a.titles[1])
                ELSE format('%s assigned you %s %ss: "%s" and %s more', intracker_data.actor_name(), a.n, entity,
                            a.titles[1], a.n - 1) END
      FROM (SELECT w.project_id, w.assigned_to AS assignee, count(*) AS n,
                   array_agg(w.id ORDER BY w.created_at, w.id) AS firsts,
                   array_agg(w.title ORDER BY w.created_at, w.id) AS titles
              FROM created_rows w
             WHERE w.assigned_to IS NOT NULL AND w.assigned_to IS DISTINCT FROM me
             GROUP BY w.project_id, w.assigned_to) AS a
      JOIN intracker_data.users u ON u.id = a.assignee AND u.is_active
     ORDER BY a.assignee;
    PERFORM intracker_data.notify('mention', w.project_id, w.id,
                                  intracker_data.mentioned_members(w.project_id, w.description),
                                  format('%s mentioned you in %s "%s"', intracker_data.actor_name(), entity, w.title))
       FROM created_rows w
      WHERE strpos(w.description, '@') > 0;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION intracker_data.notify_created_work() IS
    'Statement trigger on todos and features created: one "assigned" per assignee (first and count), and the members @mentioned in descriptions.';

-- Todos and features changed (argument: 'todo' or 'feature'): given to
-- someone, @mentions added to the description, a todo unblocked.  The
-- triggers' WHEN clauses call this only when one of them may have happened,
-- so other writes pay nothing.
CREATE FUNCTION intracker_data.notify_changed_work()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    entity text := TG_ARGV[0];
    mentioned uuid[];
BEGIN
    IF NEW.assigned_to IS NOT NULL AND NEW.assigned_to IS DISTINCT FROM OLD.assigned_to THEN
        PERFORM intracker_data.notify('assigned', NEW.project_id, NEW.id, ARRAY[NEW.assigned_to],
                                      format('%s assigned you %s "%s"', intracker_data.actor_name(), entity, NEW.title));
    END IF;
    IF NEW.description IS DISTINCT FROM OLD.description THEN
        mentioned := ARRAY(SELECT unnest(intracker_data.mentioned_members(NEW.project_id, NEW.description))
                           EXCEPT SELECT unnest(intracker_data.mentioned_members(OLD.project_id, OLD.description)));
        PERFORM intracker_data.notify('mention', NEW.project_id, NEW.id, mentioned,
                                      format('%s mentioned you in %s "%s"', intracker_data.actor_name(), entity, NEW.title));
    END IF;
    IF entity = 'todo' THEN
        IF OLD.open_blocker_count > 0 AND NEW.open_blocker_count = 0 AND NEW.assigned_to IS NOT NULL
           AND NEW.status NOT IN ('done', 'cancelled') THEN
            PERFORM intracker_data.notify('unblocked', NEW.project_id, NEW.id, ARRAY[NEW.assigned_to],
                                          format('Your todo "%s" is unblocked (%s finished or removed its last open blocker)',
                                                 NEW.title, intracker_data.actor_name()));
        END IF;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION intracker_data.notify_changed_work() IS
    'Row trigger on todos and features changed: notifies the new assignee (assigned), members newly @mentioned in the description (mention), and the assignee of a todo whose last open blocker went (unblocked).';

CREATE TRIGGER todos_notify_created AFTER INSERT ON intracker_data.todos
    REFERENCING NEW TABLE AS created_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.notify_created_work('todo');
CREATE TRIGGER todos_notify_changed AFTER UPDATE OF assigned_to, description, open_blocker_count ON intracker_data.todos
    FOR EACH ROW WHEN ((NEW.assigned_to IS NOT NULL AND NEW.assigned_to IS DISTINCT FROM OLD.assigned_to)
                       OR (NEW.description IS DISTINCT FROM OLD.description AND strpos(NEW.description, '@') > 0)
                       OR (OLD.open_blocker_count > 0 AND NEW.open_blocker_count = 0 AND NEW.assigned_to IS NOT NULL))
    EXECUTE FUNCTION intracker_data.notify_changed_work('todo');
CREATE TRIGGER features_notify_created AFTER INSERT ON intracker_data.features
    REFERENCING NEW TABLE AS created_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.notify_created_work('feature');
CREATE TRIGGER features_notify_changed AFTER UPDATE OF assigned_to, description ON intracker_data.features
    FOR EACH ROW WHEN ((NEW.assigned_to IS NOT NULL AND NEW.assigned_to IS DISTINCT FROM OLD.assigned_to)
                       OR (NEW.description IS DISTINCT FROM OLD.description AND strpos(NEW.description, '@') > 0))
    EXECUTE FUNCTION intracker_data.notify_changed_work('feature');

-- Comments: members newly @mentioned (mention), and on a new comment the
-- assignee of its todo or feature (comment) unless it mentions them
-- (documents have no assignee).
CREATE FUNCTION intracker_data.comment_notifications()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    mentioned uuid[] := NEW.mentions;
    subject text;
    title text;
    assignee uuid;
BEGIN
    IF intracker_data.restoring() THEN
        RETURN NULL;
    END IF;
    IF NEW.todo_id IS NOT NULL THEN
        SELECT 'todo', t.title, t.assigned_to INTO subject, title, assignee FROM intracker_data.todos t WHERE t.id = NEW.todo_id;
    ELSIF NEW.feature_id IS NOT NULL THEN
        SELECT 'feature', f.title, f.assigned_to INTO subject, title, assignee FROM intracker_data.features f WHERE f.id = NEW.feature_id;
    ELSE
        SELECT 'document', d.title INTO subject, title FROM intracker_data.documents d WHERE d.id = NEW.document_id;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        mentioned := ARRAY(SELECT unnest(NEW.mentions) EXCEPT SELECT unnest(OLD.mentions));
    END IF;
    PERFORM intracker_data.notify('mention', NEW.project_id, NEW.id, mentioned,
                                  format('%s mentioned you in a comment on %s "%s"', intracker_data.actor_name(), subject, title));
    IF TG_OP = 'INSERT' AND assignee IS NOT NULL AND NOT assignee = ANY (NEW.mentions) THEN
        PERFORM intracker_data.notify('comment', NEW.project_id, NEW.id, ARRAY[assignee],
                                      format('%s commented on your %s "%s"', intracker_data.actor_name(), subject, title));
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION intracker_data.comment_notifications() IS
    'Trigger on comments: notifies members newly @mentioned (mention) and, for a new comment, the assignee of its todo or feature (comment).';
CREATE TRIGGER comments_notify AFTER INSERT OR UPDATE OF body ON intracker_data.comments
    FOR EACH ROW EXECUTE FUNCTION intracker_data.comment_notifications();

-- Marking read is a write: not with a read-only token.
CREATE TRIGGER notifications_refuse_read_only BEFORE UPDATE
    ON intracker_data.notifications FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();

-- Each notification is an event of its user (entity_id), NOTIFYed on
-- their channel (src/publication.c).
CREATE TRIGGER notifications_events AFTER INSERT ON intracker_data.notifications
    FOR EACH ROW EXECUTE FUNCTION intracker_data.record_event('notification', 'user_id', 'project_id',
                                                             'INSERT:created');

GRANT SELECT ON intracker_data.notifications, intracker.my_notifications TO intracker_user;
GRANT UPDATE (read_at) ON intracker_data.notifications, intracker.my_notifications TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker.mark_notifications_read(uuid[]), intracker.get_my_notifications(boolean, integer),
    intracker.user_channel(uuid),
    intracker.listen_me() TO intracker_user;
