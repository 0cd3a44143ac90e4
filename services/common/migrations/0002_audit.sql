-- The access audit trail: one row per Brief and BriefStream (successful or not), Ingest and
-- DeleteDocument. It names who did what to which patient or documents, and how it ended; it
-- holds no other patient data. Rows are only ever added: UPDATE, DELETE and TRUNCATE are
-- refused by triggers (for every role, the table's owner included) and not granted to PUBLIC.

CREATE TABLE audit_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- When the call began, and how long it took until its outcome was known.
    started_at      timestamptz NOT NULL,
    duration_ms     double precision NOT NULL CHECK (duration_ms >= 0),
    -- The full method name, e.g. /briefing.v1.Orchestrator/Brief.
    method          text NOT NULL,
    -- The authenticated caller ("anonymous" while auth is off).
    subject         text NOT NULL,
    -- The patient a briefing was asked for; empty when the request's id was not a valid one.
    patient_id      text NOT NULL DEFAULT '',
    -- The gRPC status the call ended with: OK, NOT_FOUND, DEADLINE_EXCEEDED, ...
    outcome         text NOT NULL,
    -- The agent that wrote (or was writing) the briefing: offline, claude; empty before one
    -- was chosen. The model is the language model's name (empty for the offline agent).
    agent_mode      text NOT NULL DEFAULT '',
    model           text NOT NULL DEFAULT '',
    -- The guideline passages the served briefing cited, by Retriever chunk id.
    cited_chunk_ids text[] NOT NULL DEFAULT '{}',
    -- The documents an Ingest received or a DeleteDocument named.
    document_ids    text[] NOT NULL DEFAULT '{}',
    -- The OpenTelemetry trace of the call (32 hex digits); empty when spans are not exported.
    trace_id        text NOT NULL DEFAULT ''
);

CREATE INDEX audit_events_patient_idx ON audit_events (patient_id, id DESC);
CREATE INDEX audit_events_subject_idx ON audit_events (subject, id DESC);

CREATE FUNCTION audit_events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();

CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();

REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM PUBLIC;
