-- Full-text search over todos, features, comments, documents and sessions.
--
-- intracker.search() takes what people type into a search box: web-search
-- syntax (quoted phrases, "or", -excluded words), the last word matched as
-- a prefix so that results come while typing, parsed with the text search
-- configuration intracker.search_config ('simple' by default: no stemming,
-- no stop words, any language).  It finds only what the caller may read:
-- it runs as the data's owner (SECURITY DEFINER, as the context documents
-- do) and keeps to the caller's projects itself, as row-level security
-- would, and searches session notes (summary, next steps) only where the
-- caller may read them (viewers: their own).  The statements it builds
-- hold nothing of the caller's but the configuration's name, quoted.
--
-- Each kind stores its texts' vector under 'simple' (a generated column,
-- titles weighing more than bodies) with a GIN index on it; search() reads
-- those under the default configuration, and under another one computes
-- the vectors in its statements, which indexes a database adds for that
-- configuration serve (README, "Search").  Of a kind's matches the 1,000
-- most recently updated are ranked, so a word found everywhere costs what
-- 1,000 rows do.  Snippets are cut from the first 20,000 characters of a
-- text.

-- Titles (weight A) and bodies (weight B) as one vector.  Runs of 2,048
-- characters or more without a space (a pasted blob) are left out, as
-- to_tsvector would, but without its NOTICE on every write.
CREATE FUNCTION intracker_data.search_vector(config regconfig, title text, body text)
RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN setweight(to_tsvector(config, regexp_replace(coalesce(title, ''), '(?:\S{128}){16}\S*', ' ', 'g')), 'A')
       || setweight(to_tsvector(config, regexp_replace(coalesce(body, ''), '(?:\S{128}){16}\S*', ' ', 'g')), 'B');
COMMENT ON FUNCTION intracker_data.search_vector(regconfig, text, text) IS
    'The search vector of a title (weight A) and a body (weight B) under a text search configuration; what the search indexes hold.';

-- A list's items as one text.  array_to_string() is STABLE (any element
-- type's output may be); for text it is not, and index expressions need
-- IMMUTABLE.
CREATE FUNCTION intracker_data.words_of(items text[])
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN array_to_string(items, ' ');
COMMENT ON FUNCTION intracker_data.words_of(text[]) IS 'The items of a text list as one text (for the session search indexes).';

-- Each kind's vector under 'simple', stored: computed when its texts are
-- written (not when other columns change), indexed, and read by the
-- ranking instead of parsing the texts again.  Not in the API's views.
ALTER TABLE intracker_data.todos ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (intracker_data.search_vector('simple', title, description)) STORED;
ALTER TABLE intracker_data.features ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (intracker_data.search_vector('simple', title, description)) STORED;
ALTER TABLE intracker_data.comments ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (intracker_data.search_vector('simple', NULL, body)) STORED;
ALTER TABLE intracker_data.documents ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (intracker_data.search_vector('simple', title, body)) STORED;
-- Sessions: what every member reads, and the working notes apart.
ALTER TABLE intracker_data.sessions ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (intracker_data.search_vector('simple', goal, intracker_data.words_of(blockers))) STORED;
ALTER TABLE intracker_data.sessions ADD COLUMN notes_search_vector tsvector
    GENERATED ALWAYS AS (intracker_data.search_vector('simple', summary, intracker_data.words_of(next_steps))) STORED;
COMMENT ON COLUMN intracker_data.todos.search_vector IS 'Internal: title and description for search() (simple configuration).';
COMMENT ON COLUMN intracker_data.features.search_vector IS 'Internal: title and description for search() (simple configuration).';
COMMENT ON COLUMN intracker_data.comments.search_vector IS 'Internal: the body for search() (simple configuration).';
COMMENT ON COLUMN intracker_data.documents.search_vector IS 'Internal: title and body for search() (simple configuration).';
COMMENT ON COLUMN intracker_data.sessions.search_vector IS 'Internal: goal and blockers for search() (simple configuration).';
COMMENT ON COLUMN intracker_data.sessions.notes_search_vector IS 'Internal: summary and next steps (working notes) for search() (simple configuration).';
-- A GIN index batches new entries in a pending list that every search
-- reads through until (auto)vacuum merges it: a small one keeps searches
-- fast between vacuums, at the cost of merging more often.
CREATE INDEX todos_search_idx ON intracker_data.todos USING gin (search_vector) WITH (gin_pending_list_limit = 256);
CREATE INDEX features_search_idx ON intracker_data.features USING gin (search_vector) WITH (gin_pending_list_limit = 256);
CREATE INDEX comments_search_idx ON intracker_data.comments USING gin (search_vector) WITH (gin_pending_list_limit = 256);
CREATE INDEX documents_search_idx ON intracker_data.documents USING gin (search_vector) WITH (gin_pending_list_limit = 256);
CREATE INDEX sessions_search_idx ON intracker_data.sessions USING gin (search_vector) WITH (gin_pending_list_limit = 256);
CREATE INDEX sessions_notes_search_idx ON intracker_data.sessions USING gin (notes_search_vector)
    WITH (gin_pending_list_limit = 256);

-- A search box's text as a tsquery: websearch_to_tsquery's syntax, and its
-- last word a prefix (unless it ends a quoted phrase or is excluded), so
-- that "oauth cal" finds "OAuth callback".  NULL when nothing searchable
-- is left (only stop words or punctuation).
CREATE FUNCTION intracker_data.search_query(config regconfig, query text)
RETURNS tsquery
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    parsed text := websearch_to_tsquery(config, query)::text;
    last_word text := (regexp_match(btrim(query), '(\S+)$'))[1];
BEGIN
    IF parsed = '' THEN
        RETURN NULL;
    END IF;
    IF right(btrim(query), 1) <> '"' AND left(last_word, 1) <> '-' AND lower(last_word) <> 'or'
       AND parsed ~ '''(?:[^'']|'''')*''$' THEN
        parsed := parsed || ':*';
    END IF;
    RETURN parsed::tsquery;
END
$$;
COMMENT ON FUNCTION intracker_data.search_query(regconfig, text) IS
    'A search box''s text as a tsquery: web-search syntax, its last word matched as a prefix; NULL when nothing searchable is left.';

-- A kind's search vector in a statement of search_hits(): its stored
-- column under 'simple', else the texts' vector under config (which the
-- indexes a database adds for that configuration serve).  alias.title and
-- alias.body are columns; a body that is a list (blockers, next_steps) is
-- joined.
CREATE FUNCTION intracker_data.search_vector_of(config regconfig, alias text, title text, body text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE
    WHEN config = 'simple'::regconfig THEN
        alias || '.' || CASE title WHEN 'summary' THEN 'notes_search_vector' ELSE 'search_vector' END
    ELSE format('intracker_data.search_vector(%L, %s, %s)', config,
                coalesce(alias || '.' || title, 'NULL'),
                CASE WHEN body IN ('blockers', 'next_steps') THEN format('intracker_data.words_of(%s.%s)', alias, body)
                     ELSE alias || '.' || body END)
    END;
COMMENT ON FUNCTION intracker_data.search_vector_of(regconfig, text, text, text) IS
    'The search vector of a kind''s texts as search_hits() spells it in a statement: the stored column under simple, the computed vector otherwise.';

-- The search itself, as the data's owner; intracker.search() below is the
-- API.  (Two functions, because plpgsql refuses an argument and a result
-- column of the same name, project_id, which the API has.)
CREATE FUNCTION intracker_data.search_hits(query text, in_project uuid, kinds text[], max_results integer)
RETURNS TABLE (kind text, id uuid, project_id uuid, title text, snippet text, rank real, updated_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    all_kinds constant text[] := ARRAY['todo', 'feature', 'comment', 'document', 'session'];
    config regconfig;
    parsed tsquery;
    projects uuid[];
    -- each kind's best matches: its statement, with the configuration spelled out
    best text[] := '{}';
    ranked_per_kind constant integer := 1000;
    kind_of record;
BEGIN
    PERFORM intracker_data.require_user();
    IF query IS NULL OR btrim(query) = '' OR length(query) > 1000 THEN
        RAISE EXCEPTION 'query must be 1 to 1000 characters'
            USING ERRCODE = '22023',
                  HINT = 'Words, "quoted phrases", or between words, -word to exclude one.';
    END IF;
    IF max_results IS NULL OR max_results NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'max_results must be between 1 and 100'
            USING ERRCODE = '22023',
                  DETAIL = format('max_results is %s.', coalesce(max_results::text, 'NULL'));
    END IF;
    IF kinds IS NOT NULL AND (cardinality(kinds) = 0 OR NOT kinds <@ all_kinds OR array_position(kinds, NULL) IS NOT NULL) THEN
        RAISE EXCEPTION 'invalid value for kinds'
            USING ERRCODE = '22023',
                  DETAIL = format('kinds is %s.', kinds),
                  HINT = 'Any of todo, feature, comment, document, session; NULL for all.';
    END IF;
    BEGIN
        config := current_setting('intracker.search_config')::regconfig;
    EXCEPTION WHEN undefined_object OR invalid_text_representation THEN
        RAISE EXCEPTION 'intracker.search_config is not a text search configuration'
            USING ERRCODE = '22023',
                  DETAIL = format('intracker.search_config is %L.', current_setting('intracker.search_config')),
                  HINT = 'SELECT cfgname FROM pg_ts_config lists them; ''simple'' is the default.';
    END;
    IF in_project IS NOT NULL THEN
        PERFORM intracker_data.require_role(in_project, 'viewer', 'search this project');
        projects := ARRAY[in_project];
    ELSE
        projects := intracker_data.my_project_ids('viewer');
    END IF;
    parsed := intracker_data.search_query(config, query);
    IF parsed IS NULL THEN
        RETURN;
    END IF;

    -- Each kind's best: of its matches in the caller's projects (through
    -- its index), the RANKED_PER_KIND most recently updated are ranked, so
    -- that a word found everywhere costs what that many rows do.
    FOR kind_of IN
        SELECT * FROM (VALUES ('todo', 'todos', 'title', 'description', 'k.title'),
                              ('feature', 'features', 'title', 'description', 'k.title'),
                              -- a comment is titled by what it is about
                              ('comment', 'comments', NULL, 'body',
                               'coalesce((SELECT t.title FROM intracker_data.todos t WHERE t.id = k.todo_id),
                                         (SELECT f.title FROM intracker_data.features f WHERE f.id = k.feature_id),
                                         (SELECT d.title FROM intracker_data.documents d WHERE d.id = k.document_id))'),
                              ('document', 'documents', 'title', 'body', 'k.title'))
                     AS k (kind, table_name, title_column, body_column, title)
         WHERE kinds IS NULL OR k.kind = ANY (kinds)
    LOOP
        best := best || format($q$
            SELECT %1$L::text AS kind, k.id, k.project_id, %2$s AS title, left(coalesce(k.%3$I, ''), 20000) AS body,
                   ts_rank_cd(k.v, $1, 32) AS rank, k.updated_at
              FROM (SELECT k.*, %4$s AS v FROM intracker_data.%5$I k
                     WHERE %4$s @@ $1 AND k.project_id = ANY ($2)
                     ORDER BY k.updated_at DESC LIMIT %6$s) k
             ORDER BY rank DESC, k.updated_at DESC LIMIT $3$q$,
            kind_of.kind, kind_of.title, kind_of.body_column,
            intracker_data.search_vector_of(config, 'k', kind_of.title_column, kind_of.body_column),
            kind_of.table_name, ranked_per_kind);
    END LOOP;
    IF kinds IS NULL OR 'session' = ANY (kinds) THEN
        -- the notes only where the caller may read them
        best := best || format($q$
            SELECT 'session'::text AS kind, s.id, s.project_id, coalesce(s.goal, 'Work session') AS title,
                   left(concat_ws(E'\n', array_to_string(s.blockers, E'\n'),
                                  CASE WHEN s.notes THEN s.summary END,
                                  CASE WHEN s.notes THEN array_to_string(s.next_steps, E'\n') END), 20000) AS body,
                   greatest(ts_rank_cd(s.v, $1, 32), CASE WHEN s.notes THEN ts_rank_cd(s.notes_v, $1, 32) END) AS rank,
                   s.updated_at
              FROM (SELECT s.*, %1$s AS v, %2$s AS notes_v, coalesce(s.ended_at, s.started_at) AS updated_at,
                           intracker_data.may_read_session_notes(s.project_id, s.user_id) AS notes
                      FROM intracker_data.sessions s
                     WHERE (%1$s @@ $1 OR %2$s @@ $1) AND s.project_id = ANY ($2)
                     ORDER BY coalesce(s.ended_at, s.started_at) DESC LIMIT %3$s) s
             WHERE s.v @@ $1 OR (s.notes AND s.notes_v @@ $1)
             ORDER BY rank DESC, s.updated_at DESC LIMIT $3$q$,
            intracker_data.search_vector_of(config, 's', 'goal', 'blockers'),
            intracker_data.search_vector_of(config, 's', 'summary', 'next_steps'), ranked_per_kind);
    END IF;

    -- The best of all kinds; snippets for those only (ts_headline reads
    -- the whole text).
    -- (the body's snippet, or the title's when only the title matched)
    RETURN QUERY EXECUTE format($q$
        SELECT b.kind, b.id, b.project_id, b.title,
               CASE WHEN strpos(h.snippet, '**') > 0 OR b.title IS NULL THEN h.snippet
                    ELSE ts_headline(%1$L, b.title, $1, 'StartSel=**, StopSel=**, HighlightAll=true') END,
               b.rank, b.updated_at
          FROM (SELECT * FROM (%2$s) AS every_kind ORDER BY rank DESC, updated_at DESC, id LIMIT $3) AS b
         CROSS JOIN LATERAL (SELECT ts_headline(%1$L, coalesce(b.body, ''), $1,
                                                'StartSel=**, StopSel=**, MaxWords=30, MinWords=10, MaxFragments=2, FragmentDelimiter=" … "')
                                    AS snippet) AS h
         ORDER BY b.rank DESC, b.updated_at DESC, b.id$q$,
        config, array_to_string(ARRAY(SELECT '(' || statement || ')' FROM unnest(best) AS statement), ' UNION ALL '))
        USING parsed, projects, max_results;
END
$$;
COMMENT ON FUNCTION intracker_data.search_hits(text, uuid, text[], integer) IS
    'The body of intracker.search() (in_project: its project_id).';

CREATE FUNCTION intracker.search(query text, project_id uuid DEFAULT NULL, kinds text[] DEFAULT NULL,
                                 max_results integer DEFAULT 20)
RETURNS TABLE (kind text, id uuid, project_id uuid, title text, snippet text, rank real, updated_at timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM intracker_data.search_hits(query, project_id, kinds, max_results);
END;
COMMENT ON FUNCTION intracker.search(text, uuid, text[], integer) IS
    'Full-text search of what you may read: kind (todo, feature, comment, document, session), id, project_id, title, snippet (matches in **bold**), rank, updated_at; best first. Web-search syntax ("phrase", or, -word), the last word a prefix; in one project or all of yours; kinds NULL for all; at most max_results (1 to 100). Parsed with intracker.search_config (default simple).';

-- Writers compute the indexed vectors (index expressions run as the
-- writer), so they execute these two pure functions.
GRANT EXECUTE ON FUNCTION intracker.search(text, uuid, text[], integer),
    intracker_data.search_hits(text, uuid, text[], integer),
    intracker_data.search_vector(regconfig, text, text), intracker_data.words_of(text[]) TO intracker_user;
