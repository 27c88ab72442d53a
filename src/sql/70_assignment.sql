-- Fair, race-free assignment and claim order (C in src/assignment.c and
-- src/load_counters.c).
--
-- * Member settings (available, capacity) are columns of project_members,
--   so pg_dump keeps them with the membership.
-- * Member load counters live in intracker_data.member_load, one live row
--   per membership, maintained incrementally by C triggers on todos and
--   features.  Each change replaces the row by its successor one generation
--   up (see below).  They are dumped with last_assigned_at, which no other
--   row implies.  intracker.verify_counters() recomputes every counter from
--   scratch and lists any drift.  Every counter is bigint: a member's open
--   points add up estimates without bound.
-- * Who may hold work is one rule (src/assignee.c), enforced by a trigger on
--   every write that gives a todo or feature a new assignee.
-- * claim_next_todo walks two indexes in claim order (the caller's todos,
--   unassigned todos).  Its keys that depend on other rows (open blockers,
--   open dependents, feature in progress) are counter columns of todos kept
--   by the triggers below; they are internal, so the row-version trigger
--   does not bump version when only they change.

------------------------------------------------------------------------------
-- Member load
------------------------------------------------------------------------------

-- Versioned rows: a change deletes the member's row and inserts its
-- successor, one generation up, instead of updating it in place.  A reader
-- takes the newest generation it can see, scanning the primary key
-- backwards (ORDER BY generation DESC LIMIT 1, as every reader below
-- does), so the old versions a long transaction keeps from being pruned
-- lie behind the row it reads: reads cost the same whatever the write
-- history (test/bench/counter_designs.sh, counters_history.sh).  Updated
-- in place, each read walked every version since the oldest open snapshot.
CREATE TABLE intracker_data.member_load (
    project_id       uuid NOT NULL,
    user_id          uuid NOT NULL,
    open_todos       bigint NOT NULL DEFAULT 0,
    open_points      bigint NOT NULL DEFAULT 0,
    open_features    bigint NOT NULL DEFAULT 0,
    last_assigned_at timestamptz,
    generation       bigint NOT NULL DEFAULT 0,   -- last: ALTER EXTENSION UPDATE adds it
    PRIMARY KEY (project_id, user_id, generation),
    CONSTRAINT member_load_member FOREIGN KEY (project_id, user_id)
        REFERENCES intracker_data.project_members (project_id, user_id) ON DELETE CASCADE
);
COMMENT ON TABLE intracker_data.member_load IS
    'Per-member load counters (open todos, open points, open features) and the last automatic assignment, maintained by C triggers; the live row of a member is its newest generation. Dumped (last_assigned_at is history no row implies); restored rows count nothing.';
COMMENT ON COLUMN intracker_data.member_load.generation IS
    'Each change of the counters replaces the row by one a generation up; readers take the newest they can see.';

ALTER TABLE intracker_data.member_load ENABLE ROW LEVEL SECURITY;
CREATE POLICY member_load_select ON intracker_data.member_load FOR SELECT
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]));

-- member_load is dumped: last_assigned_at (the tie-breaker of automatic
-- assignment) is history no row implies.  So pg_restore's INSERTs count
-- nothing (intracker_data.restoring()): the restored member_load is the
-- dumped one.
SELECT pg_catalog.pg_extension_config_dump('intracker_data.member_load', '');

-- Every membership has its load row from the start (a restored one comes
-- with the dump).  SECURITY DEFINER: users cannot write member_load (only
-- these triggers do).
CREATE FUNCTION intracker_data.create_member_load()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF intracker_data.restoring() THEN
        RETURN NULL;
    END IF;
    INSERT INTO intracker_data.member_load (project_id, user_id)
    SELECT NEW.project_id, NEW.user_id
     WHERE NOT EXISTS (SELECT FROM intracker_data.member_load l
                        WHERE l.project_id = NEW.project_id AND l.user_id = NEW.user_id);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION intracker_data.create_member_load() IS 'Trigger: creates the member_load row of a new membership.';
CREATE TRIGGER project_members_create_load AFTER INSERT ON intracker_data.project_members
    FOR EACH ROW EXECUTE FUNCTION intracker_data.create_member_load();

CREATE FUNCTION intracker_data.member_load_counter()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'intracker_member_load_counter';
COMMENT ON FUNCTION intracker_data.member_load_counter() IS
    'AFTER STATEMENT trigger (C) on todos and features, with transition tables: applies the statement''s effect on its assignees'' member_load counters, each member''s row once.';

-- One trigger per event: PostgreSQL gives transition tables only to a
-- trigger of one event, without a column list.
CREATE TRIGGER todos_member_load_insert AFTER INSERT ON intracker_data.todos
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.member_load_counter();
CREATE TRIGGER todos_member_load_update AFTER UPDATE ON intracker_data.todos
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.member_load_counter();
CREATE TRIGGER todos_member_load_delete AFTER DELETE ON intracker_data.todos
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.member_load_counter();
CREATE TRIGGER features_member_load_insert AFTER INSERT ON intracker_data.features
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.member_load_counter();
CREATE TRIGGER features_member_load_update AFTER UPDATE ON intracker_data.features
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.member_load_counter();
CREATE TRIGGER features_member_load_delete AFTER DELETE ON intracker_data.features
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.member_load_counter();

------------------------------------------------------------------------------
-- Who may hold work
------------------------------------------------------------------------------

-- Every path that names an assignee (the create_* and update_* functions,
-- INSERT and UPDATE through the views, i.e. PostgREST POST and PATCH,
-- assign_*, rebalance, claim_next_todo) writes todos or features, so the
-- rule is a trigger on both: one check, with assign_todo's errors.  It fires
-- only for a new assignee (not for NULL, nor for an UPDATE that keeps the
-- assignee), accepts restored rows as they were dumped, and locks what it
-- read until the transaction ends.  The name sorts it before the other
-- BEFORE triggers, so a refused assignee is reported before a stale
-- version, as assign_todo always did.
CREATE FUNCTION intracker_data.check_assignee()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'intracker_check_assignee';
COMMENT ON FUNCTION intracker_data.check_assignee() IS
    'BEFORE ROW trigger (C) on todos and features: refuses a new assignee who is not a member, a viewer, inactive, unavailable or without capacity for the row, with the errors of assign_todo; rows restored from a dump are accepted as they were.';
CREATE TRIGGER todos_assignee_eligible BEFORE INSERT OR UPDATE OF assigned_to, project_id
    ON intracker_data.todos FOR EACH ROW EXECUTE FUNCTION intracker_data.check_assignee('todo');
CREATE TRIGGER features_assignee_eligible BEFORE INSERT OR UPDATE OF assigned_to, project_id
    ON intracker_data.features FOR EACH ROW EXECUTE FUNCTION intracker_data.check_assignee('feature');

------------------------------------------------------------------------------
-- Claim order: counters on todos
------------------------------------------------------------------------------

CREATE INDEX todos_claim_unassigned ON intracker_data.todos
    (project_id, priority_rank DESC, feature_active DESC, open_dependent_count DESC, due_date ASC NULLS LAST, created_at, id)
    WHERE status = 'todo' AND open_blocker_count = 0 AND assigned_to IS NULL;
CREATE INDEX todos_claim_assigned ON intracker_data.todos
    (project_id, assigned_to, priority_rank DESC, feature_active DESC, open_dependent_count DESC, due_date ASC NULLS LAST, created_at, id)
    WHERE status = 'todo' AND open_blocker_count = 0 AND assigned_to IS NOT NULL;
-- "Is the caller already working on something here?"
CREATE INDEX todos_in_progress_by_assignee ON intracker_data.todos (project_id, assigned_to, updated_at, id)
    WHERE status = 'in_progress';

-- A new (or restored) todo starts with fresh counters: its dependencies are
-- inserted after it and count themselves in.
-- SECURITY DEFINER: the feature's status is read without the caller's RLS,
-- whose two policy checks (SELECT, and UPDATE for FOR SHARE) cost an import
-- two membership queries per row.  The caller learns nothing by it: the
-- value goes into the row the caller writes, which the todos policies and
-- the (project_id, feature_id) foreign key then judge, and a refused row
-- takes the value (and the short lock) with it.
CREATE FUNCTION intracker_data.todos_init_counters()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.open_blocker_count := 0;
        NEW.open_dependent_count := 0;
    END IF;
    -- FOR SHARE: a concurrent status change of the feature either committed
    -- before (and is read here) or waits, and then its own trigger sees this
    -- todo in the feature.
    NEW.feature_active := coalesce((SELECT f.status = 'in_progress' FROM intracker_data.features f
                                     WHERE f.id = NEW.feature_id FOR SHARE), false);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION intracker_data.todos_init_counters() IS
    'Trigger: zeroes the dependency counters of a new todo and derives feature_active from its feature.';
CREATE TRIGGER todos_init_counters BEFORE INSERT OR UPDATE OF feature_id ON intracker_data.todos
    FOR EACH ROW EXECUTE FUNCTION intracker_data.todos_init_counters();

-- SECURITY DEFINER: the counters of a blocker must follow even when the
-- caller may only see, not edit, some rows (they are all in one project the
-- caller edits, but keep maintenance independent of the caller's rights).
CREATE FUNCTION intracker_data.dependency_counters()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    dependency record := coalesce(NEW, OLD);
    delta integer := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
BEGIN
    -- Lock both todos against status changes until this transaction ends:
    -- a concurrent status change then either committed before (and its
    -- status is read below) or waits and sees this dependency row when its
    -- own trigger adjusts the counters.  Otherwise each side would miss the
    -- other and a counter would drift.
    PERFORM FROM intracker_data.todos t
      WHERE t.id IN (dependency.todo_id, dependency.blocked_by)
      ORDER BY t.id
        FOR SHARE;
    UPDATE intracker_data.todos t
       SET open_blocker_count = t.open_blocker_count + delta
     WHERE t.id = dependency.todo_id
       AND EXISTS (SELECT FROM intracker_data.todos b
                    WHERE b.id = dependency.blocked_by AND b.status NOT IN ('done', 'cancelled'));
    UPDATE intracker_data.todos t
       SET open_dependent_count = t.open_dependent_count + delta
     WHERE t.id = dependency.blocked_by
       AND EXISTS (SELECT FROM intracker_data.todos x
                    WHERE x.id = dependency.todo_id AND x.status NOT IN ('done', 'cancelled'));
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION intracker_data.dependency_counters() IS
    'Trigger: keeps open_blocker_count and open_dependent_count when a dependency is added or removed.';
CREATE TRIGGER todo_dependencies_counters AFTER INSERT OR DELETE ON intracker_data.todo_dependencies
    FOR EACH ROW EXECUTE FUNCTION intracker_data.dependency_counters();

-- When a todo opens or closes (done/cancelled), its dependents gain or lose
-- an open blocker and its blockers gain or lose an open dependent.
CREATE FUNCTION intracker_data.todo_openness_counters()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    was_open boolean := OLD.status NOT IN ('done', 'cancelled');
    is_open boolean := NEW.status NOT IN ('done', 'cancelled');
    delta integer;
BEGIN
    IF was_open = is_open THEN
        RETURN NULL;
    END IF;
    delta := CASE WHEN is_open THEN 1 ELSE -1 END;
    UPDATE intracker_data.todos t
       SET open_blocker_count = t.open_blocker_count + delta
      FROM intracker_data.todo_dependencies d
     WHERE d.blocked_by = NEW.id AND t.id = d.todo_id;
    UPDATE intracker_data.todos t
       SET open_dependent_count = t.open_dependent_count + delta
      FROM intracker_data.todo_dependencies d
     WHERE d.todo_id = NEW.id AND t.id = d.blocked_by;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION intracker_data.todo_openness_counters() IS
    'Trigger: when a todo becomes done/cancelled or reopens, adjusts the counters of the todos it blocks and is blocked by.';
CREATE TRIGGER todos_openness_counters AFTER UPDATE OF status ON intracker_data.todos
    FOR EACH ROW EXECUTE FUNCTION intracker_data.todo_openness_counters();

-- A deleted todo's dependencies go with it (foreign-key cascade), but when
-- those rows are deleted the todo is already gone, so dependency_counters
-- cannot tell whether it was open.  The todo's own AFTER DELETE trigger
-- adjusts its neighbours first: AFTER ROW triggers fire in name order, and
-- this name sorts before PostgreSQL's "RI_ConstraintTrigger_..." cascade
-- triggers.  (Not a BEFORE trigger: when one statement deletes several
-- linked todos, it would update rows the statement has yet to delete.)
CREATE FUNCTION intracker_data.deleted_todo_counters()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF OLD.status IN ('done', 'cancelled') THEN
        RETURN NULL;
    END IF;
    UPDATE intracker_data.todos t
       SET open_blocker_count = t.open_blocker_count - 1
      FROM intracker_data.todo_dependencies d
     WHERE d.blocked_by = OLD.id AND t.id = d.todo_id;
    UPDATE intracker_data.todos t
       SET open_dependent_count = t.open_dependent_count - 1
      FROM intracker_data.todo_dependencies d
     WHERE d.todo_id = OLD.id AND t.id = d.blocked_by;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION intracker_data.deleted_todo_counters() IS
    'Trigger: when an open todo is deleted, the todos it blocked lose an open blocker and its blockers lose an open dependent.';
CREATE TRIGGER "Before_RI_todos_deleted_counters" AFTER DELETE ON intracker_data.todos
    FOR EACH ROW EXECUTE FUNCTION intracker_data.deleted_todo_counters();

-- A feature entering or leaving in_progress moves its todos in claim order.
CREATE FUNCTION intracker_data.feature_active_counters()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF (OLD.status = 'in_progress') IS DISTINCT FROM (NEW.status = 'in_progress') THEN
        UPDATE intracker_data.todos t
           SET feature_active = (NEW.status = 'in_progress')
         WHERE t.feature_id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION intracker_data.feature_active_counters() IS
    'Trigger: keeps todos.feature_active in step with their feature''s status.';
CREATE TRIGGER features_active_counters AFTER UPDATE OF status ON intracker_data.features
    FOR EACH ROW EXECUTE FUNCTION intracker_data.feature_active_counters();

------------------------------------------------------------------------------
-- Deactivating a user unassigns their open work everywhere
------------------------------------------------------------------------------

CREATE FUNCTION intracker_data.unassign_deactivated()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF OLD.is_active AND NOT NEW.is_active THEN
        UPDATE intracker_data.todos SET assigned_to = NULL
         WHERE assigned_to = NEW.id AND status NOT IN ('done', 'cancelled');
        UPDATE intracker_data.features SET assigned_to = NULL
         WHERE assigned_to = NEW.id AND status <> 'done';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION intracker_data.unassign_deactivated() IS 'Trigger: a deactivated user''s open todos and features become unassigned.';
CREATE TRIGGER users_unassign_deactivated AFTER UPDATE OF is_active ON intracker_data.users
    FOR EACH ROW EXECUTE FUNCTION intracker_data.unassign_deactivated();

------------------------------------------------------------------------------
-- API
------------------------------------------------------------------------------

-- open_points is bigint (a sum of estimates); the counts stay integer, as
-- no member holds two billion todos.
CREATE VIEW intracker.member_load WITH (security_invoker = true) AS
SELECT m.project_id, m.user_id, m.role, m.available, m.capacity,
       coalesce(l.open_todos, 0)::integer AS open_todos, coalesce(l.open_points, 0) AS open_points,
       coalesce(l.open_features, 0)::integer AS open_features, l.last_assigned_at
  FROM intracker_data.project_members m
  LEFT JOIN LATERAL (SELECT * FROM intracker_data.member_load x
                      WHERE x.project_id = m.project_id AND x.user_id = m.user_id
                      ORDER BY x.generation DESC LIMIT 1) l ON true;
COMMENT ON VIEW intracker.member_load IS
    'What automatic assignment decides on, per member of your projects: role, availability, capacity (max open points; NULL unlimited, 0 never auto-assigned), open todos and points, open features, last assignment.';
COMMENT ON COLUMN intracker.member_load.open_points IS 'Sum of the estimates of the member''s open (not done or cancelled) todos in the project.';

-- Automatic assignments in one project run one at a time, so that each sees
-- the loads the previous one left (this is what bounds the spread).
-- SECURITY DEFINER and for editors and owners only: no user can hold up
-- assignment in a project through this function, and a DBA may revoke the
-- advisory lock functions from PUBLIC to close the raw way too (README,
-- "Known limits").
CREATE FUNCTION intracker_data.lock_assignment(project_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF coalesce(intracker_data.role_rank(intracker_data.my_role(lock_assignment.project_id)), 0)
       < intracker_data.role_rank('editor') THEN
        RAISE EXCEPTION 'permission denied to lock assignment in project %', lock_assignment.project_id
            USING ERRCODE = '42501',
                  DETAIL = 'Only the project''s editors and owners assign work there.';
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('intracker.assign:' || lock_assignment.project_id::text, 0));
END
$$;
COMMENT ON FUNCTION intracker_data.lock_assignment(uuid) IS
    'Transaction-level advisory lock serialising automatic assignment and rebalancing in a project (its editors and owners only; 42501 otherwise).';

-- The C core (src/assignment.c).  Internal: the intracker.* wrappers below
-- return rows of the API views.
CREATE FUNCTION intracker_data.assign(entity regclass, row_id uuid, assignee uuid, expected_version integer)
RETURNS uuid
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_assign';
COMMENT ON FUNCTION intracker_data.assign(regclass, uuid, uuid, integer) IS
    'Assign a todo or feature to assignee, or to the least-loaded eligible member when assignee is NULL; returns the assignee (NULL if nobody is eligible).';

CREATE FUNCTION intracker_data.claim_next_todo(project_id uuid, OUT todo_id uuid, OUT reason text)
RETURNS SETOF record
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_claim_next_todo';
COMMENT ON FUNCTION intracker_data.claim_next_todo(uuid) IS
    'Claim the best claimable todo for the acting user (C); no row when nothing is claimable.';
CREATE FUNCTION intracker.assign_todo(todo_id uuid, assignee uuid DEFAULT NULL, expected_version integer DEFAULT NULL)
RETURNS intracker.todos
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT intracker_data.assign('intracker_data.todos', todo_id, assignee, expected_version);
    SELECT t.* FROM intracker.todos t WHERE t.id = assign_todo.todo_id;
END;
COMMENT ON FUNCTION intracker.assign_todo(uuid, uuid, integer) IS
    'Assign a todo: to assignee, or (assignee NULL) to the least-loaded eligible member: an active, available owner or editor below capacity; ties go to the least recently assigned, then the lowest user id. NOTICE and no assignee when nobody is eligible.';

CREATE FUNCTION intracker.assign_feature(feature_id uuid, assignee uuid DEFAULT NULL, expected_version integer DEFAULT NULL)
RETURNS intracker.features
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT intracker_data.assign('intracker_data.features', feature_id, assignee, expected_version);
    SELECT f.* FROM intracker.features f WHERE f.id = assign_feature.feature_id;
END;
COMMENT ON FUNCTION intracker.assign_feature(uuid, uuid, integer) IS
    'Assign a feature like assign_todo; automatic assignment picks the eligible member with the fewest open features, then the fewest open points.';

CREATE FUNCTION intracker.unassign_todo(todo_id uuid, expected_version integer DEFAULT NULL)
RETURNS intracker.todos
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    unassigned intracker.todos;
BEGIN
    PERFORM intracker_data.require_role(intracker_data.project_of('intracker_data.todos', todo_id),
                                        'editor', 'assign todos');
    UPDATE intracker_data.todos AS t
       SET assigned_to = NULL, version = coalesce(unassign_todo.expected_version, t.version)
     WHERE t.id = unassign_todo.todo_id;
    SELECT * INTO unassigned FROM intracker.todos t WHERE t.id = unassign_todo.todo_id;
    RETURN unassigned;
END
$$;
COMMENT ON FUNCTION intracker.unassign_todo(uuid, integer) IS 'Remove a todo''s assignee. Editors and owners; PT409 if expected_version is given and stale.';

CREATE FUNCTION intracker.claim_next_todo(project_id uuid)
RETURNS TABLE (id uuid, feature_id uuid, title text, description text, status text,
               priority text, estimate integer, tags text[], assigned_to uuid, due_date date,
               created_at timestamptz, updated_at timestamptz, version integer, claim_reason text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    claimed record;
BEGIN
    SELECT * INTO claimed FROM intracker_data.claim_next_todo(claim_next_todo.project_id);
    IF FOUND THEN
        -- A statement of its own, so that it sees the claim just made.
        RETURN QUERY
        SELECT t.id, t.feature_id, t.title, t.description, t.status, t.priority, t.estimate,
               t.tags, t.assigned_to, t.due_date, t.created_at, t.updated_at, t.version, claimed.reason
          FROM intracker.todos t
         WHERE t.id = claimed.todo_id;
    END IF;
END
$$;
COMMENT ON FUNCTION intracker.claim_next_todo(uuid) IS
    'For the calling user: return their todo in progress in the project, or atomically claim (assign + in_progress) the best open todo that is unassigned or theirs and not blocked. Order: priority, feature in progress, todos it unblocks, due date, age. Concurrent callers never get the same todo. No row (and a NOTICE naming blocked candidates) when nothing is claimable.';

CREATE FUNCTION intracker.set_availability(project_id uuid, available boolean)
RETURNS intracker.member_load
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := intracker_data.require_user();
    result intracker.member_load;
BEGIN
    -- SECURITY DEFINER: members change their own availability, while only
    -- owners may otherwise update memberships.
    PERFORM intracker_data.require_role(set_availability.project_id, 'viewer', 'set your availability');
    IF set_availability.available IS NULL THEN
        RAISE EXCEPTION 'invalid value for available'
            USING ERRCODE = '22023', DETAIL = 'available must be true or false.';
    END IF;
    UPDATE intracker_data.project_members m SET available = set_availability.available
     WHERE m.project_id = set_availability.project_id AND m.user_id = me;
    SELECT * INTO result FROM intracker.member_load l
     WHERE l.project_id = set_availability.project_id AND l.user_id = me;
    RETURN result;
END
$$;
COMMENT ON FUNCTION intracker.set_availability(uuid, boolean) IS
    'Mark yourself available or not for automatic assignment in a project.';

CREATE FUNCTION intracker.set_capacity(project_id uuid, user_id uuid, capacity integer)
RETURNS intracker.member_load
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result intracker.member_load;
    violated text;
    violated_column text;
BEGIN
    PERFORM intracker_data.require_role(set_capacity.project_id, 'owner', 'set capacities');
    UPDATE intracker_data.project_members m SET capacity = set_capacity.capacity
     WHERE m.project_id = set_capacity.project_id AND m.user_id = set_capacity.user_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % is not a member of project %', set_capacity.user_id, set_capacity.project_id
            USING ERRCODE = 'PT404';
    END IF;
    SELECT * INTO result FROM intracker.member_load l
     WHERE l.project_id = set_capacity.project_id AND l.user_id = set_capacity.user_id;
    RETURN result;
EXCEPTION
    WHEN check_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME, violated_column = COLUMN_NAME;
        PERFORM intracker_data.explain_violation(violated, violated_column);
        RAISE;
END
$$;
COMMENT ON FUNCTION intracker.set_capacity(uuid, uuid, integer) IS
    'Owners: set a member''s capacity, the most open estimate points automatic assignment gives them (NULL unlimited, 0 never).';

-- Moves 'todo'-status todos from the most to the least loaded eligible
-- member while a move strictly narrows their gap.  The same loop plans a dry
-- run (on a copy of the loads) and performs a real one.  It plans with the
-- loads as they were when it took the assignment lock; each real move goes
-- through the assignee trigger like any write, which has the last word.
CREATE FUNCTION intracker.rebalance(project_id uuid, dry_run boolean DEFAULT true)
RETURNS TABLE (todo_id uuid, title text, estimate integer, from_user uuid, to_user uuid)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    heaviest record;
    lightest record;
    candidate record;
    moves integer := 0;
BEGIN
    PERFORM intracker_data.require_role(rebalance.project_id, 'owner', 'rebalance');
    IF NOT dry_run THEN
        -- a real run is a write, whether or not it finds a move to make
        PERFORM intracker_data.require_writable_identity();
    END IF;
    PERFORM intracker_data.lock_assignment(rebalance.project_id);

    CREATE TEMP TABLE IF NOT EXISTS pg_temp.rebalance_load (user_id uuid PRIMARY KEY, points bigint, eligible boolean, capacity integer) ON COMMIT DROP;
    TRUNCATE pg_temp.rebalance_load;
    INSERT INTO pg_temp.rebalance_load
    SELECT l.user_id, l.open_points,
           l.role IN ('owner', 'editor') AND l.available AND u.is_active AND coalesce(l.capacity, 1) > 0,
           l.capacity
      FROM intracker.member_load l JOIN intracker_data.users u ON u.id = l.user_id
     WHERE l.project_id = rebalance.project_id;
    CREATE TEMP TABLE IF NOT EXISTS pg_temp.rebalance_moved (todo_id uuid PRIMARY KEY) ON COMMIT DROP;
    TRUNCATE pg_temp.rebalance_moved;

    LOOP
        SELECT * INTO lightest FROM pg_temp.rebalance_load WHERE eligible ORDER BY points, user_id LIMIT 1;
        SELECT * INTO heaviest FROM pg_temp.rebalance_load ORDER BY points DESC, user_id LIMIT 1;
        EXIT WHEN lightest IS NULL OR heaviest IS NULL OR heaviest.user_id = lightest.user_id;
        -- The largest unstarted todo whose move narrows the gap and fits.
        SELECT t.id, t.title, t.estimate INTO candidate
          FROM intracker_data.todos t
         WHERE t.project_id = rebalance.project_id AND t.assigned_to = heaviest.user_id AND t.status = 'todo'
           AND t.estimate < heaviest.points - lightest.points
           AND (lightest.capacity IS NULL OR lightest.points + t.estimate <= lightest.capacity)
           AND t.id NOT IN (SELECT m.todo_id FROM pg_temp.rebalance_moved m)
         ORDER BY t.estimate DESC, t.created_at, t.id
         LIMIT 1;
        EXIT WHEN candidate IS NULL;

        IF NOT dry_run THEN
            UPDATE intracker_data.todos t SET assigned_to = lightest.user_id WHERE t.id = candidate.id;
        END IF;
        INSERT INTO pg_temp.rebalance_moved VALUES (candidate.id);
        UPDATE pg_temp.rebalance_load SET points = points - candidate.estimate WHERE user_id = heaviest.user_id;
        UPDATE pg_temp.rebalance_load SET points = points + candidate.estimate WHERE user_id = lightest.user_id;
        todo_id := candidate.id; title := candidate.title; estimate := candidate.estimate;
        from_user := heaviest.user_id; to_user := lightest.user_id;
        RETURN NEXT;
        moves := moves + 1;
        EXIT WHEN moves >= 10000;
    END LOOP;
END
$$;
COMMENT ON FUNCTION intracker.rebalance(uuid, boolean) IS
    'Owners: move unstarted (todo status) todos from the most to the least loaded eligible member while that narrows the gap; returns the moves made, or with dry_run (the default) the moves it would make.';

-- Recompute counters from scratch; a row is a counter that drifted.  One
-- function per set of counters, so that a later version adds its own and
-- verify_counters only unions them.
CREATE FUNCTION intracker_data.assignment_counter_drift(project_id uuid)
RETURNS TABLE (counter text, project uuid, entity uuid, stored bigint, actual bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH actual_load AS (
        SELECT m.project_id, m.user_id,
               (SELECT count(*) FROM intracker_data.todos t
                 WHERE t.project_id = m.project_id AND t.assigned_to = m.user_id
                   AND t.status NOT IN ('done', 'cancelled')) AS open_todos,
               (SELECT coalesce(sum(t.estimate), 0) FROM intracker_data.todos t
                 WHERE t.project_id = m.project_id AND t.assigned_to = m.user_id
                   AND t.status NOT IN ('done', 'cancelled')) AS open_points,
               (SELECT count(*) FROM intracker_data.features f
                 WHERE f.project_id = m.project_id AND f.assigned_to = m.user_id AND f.status <> 'done') AS open_features
          FROM intracker_data.project_members m
         WHERE assignment_counter_drift.project_id IS NULL OR m.project_id = assignment_counter_drift.project_id
    ), load_drift AS (
        SELECT 'member_load.' || c.name AS counter, a.project_id, a.user_id AS entity_id, c.stored, c.actual
          FROM actual_load a
          LEFT JOIN LATERAL (SELECT * FROM intracker_data.member_load x
                              WHERE x.project_id = a.project_id AND x.user_id = a.user_id
                              ORDER BY x.generation DESC LIMIT 1) l ON true
          CROSS JOIN LATERAL (VALUES ('open_todos', l.open_todos::bigint, a.open_todos),
                                     ('open_points', l.open_points::bigint, a.open_points),
                                     ('open_features', l.open_features::bigint, a.open_features),
                                     ('live_rows', (SELECT count(*) FROM intracker_data.member_load x
                                                     WHERE x.project_id = a.project_id AND x.user_id = a.user_id), 1)
                                    ) AS c (name, stored, actual)
         WHERE c.stored IS DISTINCT FROM c.actual
    ), todo_drift AS (
        SELECT 'todos.' || c.name AS counter, t.project_id, t.id AS entity_id, c.stored, c.actual
          FROM intracker_data.todos t
          CROSS JOIN LATERAL (VALUES
              ('open_blocker_count', t.open_blocker_count::bigint,
               (SELECT count(*) FROM intracker_data.todo_dependencies d JOIN intracker_data.todos b ON b.id = d.blocked_by
                 WHERE d.todo_id = t.id AND b.status NOT IN ('done', 'cancelled'))),
              ('open_dependent_count', t.open_dependent_count::bigint,
               (SELECT count(*) FROM intracker_data.todo_dependencies d JOIN intracker_data.todos x ON x.id = d.todo_id
                 WHERE d.blocked_by = t.id AND x.status NOT IN ('done', 'cancelled'))),
              ('feature_active', t.feature_active::integer::bigint,
               coalesce((SELECT (f.status = 'in_progress')::integer FROM intracker_data.features f WHERE f.id = t.feature_id), 0)::bigint)
          ) AS c (name, stored, actual)
         WHERE (assignment_counter_drift.project_id IS NULL OR t.project_id = assignment_counter_drift.project_id)
           AND c.stored IS DISTINCT FROM c.actual
    )
    SELECT * FROM load_drift
    UNION ALL
    SELECT * FROM todo_drift;
END;
COMMENT ON FUNCTION intracker_data.assignment_counter_drift(uuid) IS
    'Drifted member_load counters and claim-order counters of todos (all projects when project_id is NULL).';

CREATE FUNCTION intracker.verify_counters(project_id uuid DEFAULT NULL)
RETURNS TABLE (counter text, project uuid, entity uuid, stored bigint, actual bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM intracker_data.assignment_counter_drift(verify_counters.project_id)
    UNION ALL
    SELECT * FROM intracker_data.progress_counter_drift(verify_counters.project_id)
    ORDER BY 1, 2, 3;
END;
COMMENT ON FUNCTION intracker.verify_counters(uuid) IS
    'Recompute every incrementally maintained counter (member load, claim order, progress) from scratch for your projects; returns one row per counter that drifted, none when all agree.';

-- Trigger functions (create_member_load, member_load_counter and the
-- claim-order counters) are for triggers only: no grant.
GRANT SELECT ON intracker_data.member_load, intracker.member_load TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker_data.assign(regclass, uuid, uuid, integer), intracker_data.lock_assignment(uuid),
    intracker_data.claim_next_todo(uuid),
    intracker.assign_todo(uuid, uuid, integer), intracker.assign_feature(uuid, uuid, integer),
    intracker.unassign_todo(uuid, integer), intracker.claim_next_todo(uuid),
    intracker.set_availability(uuid, boolean), intracker.set_capacity(uuid, uuid, integer),
    intracker.rebalance(uuid, boolean), intracker.verify_counters(uuid),
    intracker_data.assignment_counter_drift(uuid) TO intracker_user;
