-- Project documents: the specs, decisions and runbooks an agent reads
-- before it starts.  Versioned like todos (optimistic locking, events),
-- commentable (97_comments.sql), searchable and in the history; the context
-- documents list their titles.  Editors and owners write them, members
-- read them; a document's author or an owner deletes it.  Bodies are
-- Markdown, at most 200,000 characters.

CREATE TABLE intracker_data.documents (
    id              uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    project_id      uuid NOT NULL REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    title           text NOT NULL
                    CONSTRAINT documents_title_not_blank CHECK (btrim(title) <> '' AND length(title) <= 500),
    body            text NOT NULL DEFAULT ''
                    CONSTRAINT documents_body_length CHECK (length(body) <= 200000),
    kind            text NOT NULL DEFAULT 'note'
                    CONSTRAINT documents_kind_valid CHECK (kind IN ('note', 'spec', 'decision', 'runbook')),
    created_by      uuid REFERENCES intracker_data.users (id) DEFAULT intracker.current_user_id(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         integer NOT NULL DEFAULT 1,
    CONSTRAINT documents_id_project_key UNIQUE (id, project_id)
);
CREATE INDEX documents_project_updated_idx ON intracker_data.documents (project_id, updated_at DESC);
CREATE INDEX documents_created_by_idx ON intracker_data.documents (created_by);
COMMENT ON TABLE intracker_data.documents IS 'Project documents (intracker.documents is the API).';
COMMENT ON CONSTRAINT documents_title_not_blank ON intracker_data.documents IS 'title must not be blank (at most 500 characters).';
COMMENT ON CONSTRAINT documents_body_length ON intracker_data.documents IS 'body must be at most 200000 characters.';
COMMENT ON CONSTRAINT documents_kind_valid ON intracker_data.documents IS 'kind must be one of: note, spec, decision, runbook.';
COMMENT ON CONSTRAINT documents_project_id_fkey ON intracker_data.documents IS 'project_id must be a project.';
COMMENT ON CONSTRAINT documents_created_by_fkey ON intracker_data.documents IS 'created_by must be a user.';

SELECT pg_catalog.pg_extension_config_dump('intracker_data.documents', '');

CREATE TRIGGER documents_row_version BEFORE UPDATE ON intracker_data.documents
    FOR EACH ROW EXECUTE FUNCTION intracker_data.row_version('document');

ALTER TABLE intracker_data.documents ENABLE ROW LEVEL SECURITY;
CREATE POLICY documents_select ON intracker_data.documents FOR SELECT
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]));
CREATE POLICY documents_insert ON intracker_data.documents FOR INSERT
    WITH CHECK (project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]));
CREATE POLICY documents_update ON intracker_data.documents FOR UPDATE
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]))
    WITH CHECK (project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]));
CREATE POLICY documents_delete ON intracker_data.documents FOR DELETE
    USING ((created_by = (SELECT intracker.current_user_id())
            AND project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]))
           OR project_id = ANY ((SELECT intracker_data.my_project_ids('owner'))::uuid[]));

CREATE VIEW intracker.documents WITH (security_invoker = true) AS
SELECT id, project_id, title, body, kind, created_by, created_at, updated_at, version
  FROM intracker_data.documents;
COMMENT ON VIEW intracker.documents IS
    'Specs, decisions, runbooks and notes of your projects (Markdown, at most 200,000 characters). Editors create and update them (a stale version fails with PT409); their author or an owner deletes them.';
COMMENT ON COLUMN intracker.documents.kind IS 'note, spec, decision or runbook.';
COMMENT ON COLUMN intracker.documents.version IS 'Optimistic lock: pass it as expected_version to update_document() (or SET version = n).';

CREATE FUNCTION intracker.create_document(project_id uuid, title text, body text, kind text DEFAULT 'note')
RETURNS intracker.documents
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id uuid;
    created intracker.documents;
    violated text;
    violated_column text;
BEGIN
    PERFORM intracker_data.require_role(create_document.project_id, 'editor', 'create documents');
    INSERT INTO intracker_data.documents AS d (project_id, title, body, kind)
    VALUES (create_document.project_id, create_document.title, create_document.body, create_document.kind)
    RETURNING d.id INTO new_id;
    SELECT * INTO created FROM intracker.documents d WHERE d.id = new_id;
    RETURN created;
EXCEPTION
    WHEN check_violation OR not_null_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME, violated_column = COLUMN_NAME;
        PERFORM intracker_data.explain_violation(violated, violated_column);
        RAISE;
END
$$;
COMMENT ON FUNCTION intracker.create_document(uuid, text, text, text) IS
    'Create a document of a project: kind note (default), spec, decision or runbook; Markdown body of at most 200,000 characters. Editors and owners.';

CREATE FUNCTION intracker.update_document(document_id uuid, changes jsonb, expected_version integer)
RETURNS intracker.documents
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    updated intracker.documents;
BEGIN
    PERFORM intracker_data.apply_changes('intracker_data.documents', document_id, changes, expected_version);
    SELECT * INTO updated FROM intracker.documents d WHERE d.id = update_document.document_id;
    RETURN updated;
END
$$;
COMMENT ON FUNCTION intracker.update_document(uuid, jsonb, integer) IS
    'Change fields of a document (title, body, kind), e.g. {"body": "…"}. Editors and owners; PT409 if expected_version is stale.';

CREATE FUNCTION intracker.delete_document(document_id uuid)
RETURNS intracker.documents
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := intracker_data.require_user();
    target intracker.documents;
BEGIN
    PERFORM intracker_data.project_of('intracker_data.documents', document_id);    -- PT404 unless visible
    SELECT * INTO target FROM intracker.documents d WHERE d.id = delete_document.document_id;
    IF target.created_by IS DISTINCT FROM me THEN
        PERFORM intracker_data.require_role(target.project_id, 'owner', 'delete another user''s document');
    ELSE
        PERFORM intracker_data.require_role(target.project_id, 'editor', 'delete documents');
    END IF;
    DELETE FROM intracker_data.documents AS d WHERE d.id = target.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'document % not found', target.id
            USING ERRCODE = 'PT404',
                  HINT = 'It was deleted meanwhile.';
    END IF;
    RETURN target;
END
$$;
COMMENT ON FUNCTION intracker.delete_document(uuid) IS
    'Delete a document and return it as it was: its author (an editor), or an owner of the project. Its comments go with it.';

-- For agents (one tool each in intracker-mcp): the list without bodies,
-- and one document whole.
CREATE FUNCTION intracker.list_documents(project_id uuid, of_kind text DEFAULT NULL)
RETURNS TABLE (id uuid, title text, kind text, created_by uuid, created_at timestamptz, updated_at timestamptz,
               version integer)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM intracker_data.require_role(list_documents.project_id, 'viewer', 'list documents');
    RETURN QUERY
    SELECT d.id, d.title, d.kind, d.created_by, d.created_at, d.updated_at, d.version
      FROM intracker.documents d
     WHERE d.project_id = list_documents.project_id
       AND (list_documents.of_kind IS NULL OR d.kind = list_documents.of_kind)
     ORDER BY d.updated_at DESC, d.id;
END
$$;
COMMENT ON FUNCTION intracker.list_documents(uuid, text) IS
    'The documents of a project (only those of_kind note, spec, decision or runbook, optionally) without their bodies, most recently updated first; read one with get_document().';

CREATE FUNCTION intracker.get_document(document_id uuid)
RETURNS intracker.documents
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found_document intracker.documents;
BEGIN
    PERFORM intracker_data.project_of('intracker_data.documents', document_id);    -- PT404 unless visible
    SELECT * INTO found_document FROM intracker.documents d WHERE d.id = get_document.document_id;
    RETURN found_document;
END
$$;
COMMENT ON FUNCTION intracker.get_document(uuid) IS 'One document of your projects, body included.';

CREATE TRIGGER documents_refuse_read_only BEFORE INSERT OR UPDATE OR DELETE
    ON intracker_data.documents FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();
CREATE TRIGGER documents_events AFTER INSERT OR UPDATE OR DELETE ON intracker_data.documents
    FOR EACH ROW EXECUTE FUNCTION intracker_data.record_event('document', 'id', 'project_id');

GRANT SELECT ON intracker_data.documents, intracker.documents TO intracker_user;
GRANT INSERT (id, project_id, title, body, kind), UPDATE (title, body, kind, version), DELETE
    ON intracker_data.documents, intracker.documents TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker.create_document(uuid, text, text, text),
    intracker.update_document(uuid, jsonb, integer), intracker.delete_document(uuid),
    intracker.list_documents(uuid, text), intracker.get_document(uuid) TO intracker_user;
