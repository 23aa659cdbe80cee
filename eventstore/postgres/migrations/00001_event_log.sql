-- The event log. Positions come from the sequence "positions" (CACHE 1:
-- the horizon argument in doc.go needs last_value to bound every position
-- handed out so far); each event records the id of the transaction that
-- wrote it, for auditors. Payloads that are JSON are kept as json (readable in SQL, the
-- exact bytes preserved); anything else goes to data_raw.

-- +goose Up
CREATE SEQUENCE positions AS bigint START 1 CACHE 1;

CREATE TABLE events (
    position       bigint PRIMARY KEY,
    stream         text NOT NULL,
    revision       bigint NOT NULL,
    id             uuid NOT NULL,
    type           text NOT NULL,
    data           json,
    data_raw       bytea,
    correlation_id text NOT NULL DEFAULT '',
    causation_id   text NOT NULL DEFAULT '',
    actor          text NOT NULL DEFAULT '',
    recorded       timestamptz NOT NULL DEFAULT now(),
    xid            xid8 NOT NULL DEFAULT pg_current_xact_id(),
    UNIQUE (stream, revision),
    UNIQUE (stream, id)
);

-- append_events appends to one stream under a transaction-level advisory
-- lock of the stream (keyed by p_lock_ns, the schema's, and the stream
-- name's hash: a collision only makes two streams wait for each other;
-- UNIQUE (stream, revision) stays the backstop). It returns one
-- row (0, n, last revision, last position) when it appended; (1, 0,
-- revision, 0) when expected does not match (revision -1: no stream); or
-- one row (2, ordinal, revision, position) per event id already recorded
-- in the stream, and appends nothing: the caller decides whether that is
-- a retry. expect: 0 any, 1 no stream, 2 stream exists, 3 exact p_rev.
-- +goose StatementBegin
CREATE FUNCTION append_events(
    p_lock_ns int, p_stream text, p_expect smallint, p_rev bigint, p_ids uuid[], p_types text[],
    p_data json[], p_raw bytea[], p_corr text[], p_cause text[], p_actor text[])
RETURNS TABLE (kind smallint, ord bigint, revision bigint, pos bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_n    int := cardinality(p_ids);
    v_last bigint;
    v_pos  bigint[];
BEGIN
    -- Taken before any position and held to the end of the transaction:
    -- the delivery horizon waits for every holder (see doc.go).
    LOCK TABLE events IN ROW EXCLUSIVE MODE;
    PERFORM pg_advisory_xact_lock(p_lock_ns, hashtext(p_stream));
    -- A new statement, so a snapshot taken after the lock: it sees every
    -- append to the stream that held the lock before.
    SELECT coalesce(max(e.revision), -1) INTO v_last FROM events e WHERE e.stream = p_stream;
    IF v_last >= 0 THEN
        RETURN QUERY SELECT 2::smallint, o.ord, e.revision, e.position
            FROM unnest(p_ids) WITH ORDINALITY AS o(id, ord)
            JOIN events e ON e.stream = p_stream AND e.id = o.id;
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;
    IF (p_expect = 1 AND v_last >= 0) OR (p_expect = 2 AND v_last < 0) OR (p_expect = 3 AND v_last <> p_rev) THEN
        RETURN QUERY SELECT 1::smallint, 0::bigint, v_last, 0::bigint;
        RETURN;
    END IF;
    v_pos := ARRAY(SELECT p FROM (SELECT nextval('positions') AS p FROM generate_series(1, v_n)) s ORDER BY p);
    INSERT INTO events (position, stream, revision, id, type, data, data_raw, correlation_id, causation_id, actor, xid)
    SELECT v_pos[i], p_stream, v_last + i, p_ids[i], p_types[i], p_data[i], p_raw[i], p_corr[i], p_cause[i], p_actor[i], pg_current_xact_id()
    FROM generate_series(1, v_n) AS i;
    RETURN QUERY SELECT 0::smallint, v_n::bigint, v_last + v_n, v_pos[v_n];
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION append_events;
DROP TABLE events;
DROP SEQUENCE positions;
