-- Reading functions for agents: what the views show, as functions with
-- filters and bounds, so that each is one tool of intracker-mcp (src/mcp/)
-- and one /rpc/ call of PostgREST.  They run as the caller: RLS decides
-- what they see, and a project the caller is not in is PT404, not an empty
-- list (as everywhere in the API).

CREATE FUNCTION intracker.list_projects()
RETURNS SETOF intracker.projects
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM intracker_data.require_user();
    RETURN QUERY SELECT p.* FROM intracker.projects p ORDER BY p.name, p.id;
END
$$;
COMMENT ON FUNCTION intracker.list_projects() IS
    'The projects you are a member of, by name.';

CREATE FUNCTION intracker.list_features(project_id uuid)
RETURNS SETOF intracker.features
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM intracker_data.require_role(list_features.project_id, 'viewer', 'list features');
    RETURN QUERY
    SELECT f.* FROM intracker.features f
     WHERE f.project_id = list_features.project_id
     ORDER BY f.status = 'done', array_position(ARRAY['low', 'medium', 'high', 'critical'], f.priority) DESC, f.created_at, f.id;
END
$$;
COMMENT ON FUNCTION intracker.list_features(uuid) IS
    'The features of a project with their progress: open ones first, then by priority and age.';

CREATE FUNCTION intracker.list_todos(project_id uuid, status text DEFAULT NULL, feature_id uuid DEFAULT NULL,
                                     assigned_to uuid DEFAULT NULL, max_rows integer DEFAULT 100)
RETURNS SETOF intracker.todos
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM intracker_data.require_role(list_todos.project_id, 'viewer', 'list todos');
    IF max_rows IS NULL OR max_rows NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000' USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
    SELECT t.* FROM intracker.todos t
     WHERE t.project_id = list_todos.project_id
       AND (list_todos.status IS NULL OR t.status = list_todos.status)
       AND (list_todos.feature_id IS NULL OR t.feature_id = list_todos.feature_id)
       AND (list_todos.assigned_to IS NULL OR t.assigned_to = list_todos.assigned_to)
     ORDER BY t.status IN ('done', 'cancelled'), array_position(ARRAY['low', 'medium', 'high', 'critical'], t.priority) DESC,
              t.due_date NULLS LAST, t.created_at, t.id
     LIMIT max_rows;
END
$$;
COMMENT ON FUNCTION intracker.list_todos(uuid, text, uuid, uuid, integer) IS
    'The todos of a project, filtered by status, feature and assignee (each optional), open ones first, then by priority, due date and age; at most max_rows (1 to 1000, default 100).';

CREATE FUNCTION intracker.get_my_todos(project_id uuid DEFAULT NULL)
RETURNS SETOF intracker.my_todos
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF get_my_todos.project_id IS NULL THEN
        PERFORM intracker_data.require_user();
    ELSE
        PERFORM intracker_data.require_role(get_my_todos.project_id, 'viewer', 'list your todos');
    END IF;
    RETURN QUERY
    SELECT t.* FROM intracker.my_todos t
     WHERE get_my_todos.project_id IS NULL OR t.project_id = get_my_todos.project_id
     ORDER BY array_position(ARRAY['low', 'medium', 'high', 'critical'], t.priority) DESC, t.due_date NULLS LAST, t.created_at, t.id;
END
$$;
COMMENT ON FUNCTION intracker.get_my_todos(uuid) IS
    'Your open todos (not done, not cancelled), in one project or all, by priority, due date and age.';

CREATE FUNCTION intracker.get_todo(todo_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found intracker.todos;
BEGIN
    PERFORM intracker_data.project_of('intracker_data.todos', get_todo.todo_id);
    SELECT t.* INTO found FROM intracker.todos t WHERE t.id = get_todo.todo_id;
    RETURN to_jsonb(found) || jsonb_build_object(
        'blocked_by', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', b.id, 'title', b.title, 'status', b.status)
                                                 ORDER BY b.title, b.id), '[]')
                         FROM intracker.todo_dependencies d JOIN intracker.todos b ON b.id = d.blocked_by
                        WHERE d.todo_id = get_todo.todo_id),
        'blocks', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', x.id, 'title', x.title, 'status', x.status)
                                             ORDER BY x.title, x.id), '[]')
                     FROM intracker.todo_dependencies d JOIN intracker.todos x ON x.id = d.todo_id
                    WHERE d.blocked_by = get_todo.todo_id));
END
$$;
COMMENT ON FUNCTION intracker.get_todo(uuid) IS
    'One todo as jsonb, with blocked_by (the todos it waits for) and blocks (the todos waiting for it), each with id, title and status.';

GRANT EXECUTE ON FUNCTION intracker.list_projects(), intracker.list_features(uuid),
    intracker.list_todos(uuid, text, uuid, uuid, integer), intracker.get_my_todos(uuid), intracker.get_todo(uuid)
    TO intracker_user;
