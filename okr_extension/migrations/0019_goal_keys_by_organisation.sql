-- Goal data keyed by its organisation (storage_plugin/distribution.py): a distributed PostgreSQL
-- (Citus) places rows by organisation_id and can only enforce a primary key or a unique constraint
-- that includes it. Ids are random UUIDs, so (id, organisation_id) is as unique as (id); id comes
-- first so that lookups by id keep using the key's index. Foreign keys between goal tables become
-- composite (same organisation by construction), with their ON DELETE unchanged.

-- Every foreign key into a table whose key changes goes first (each depends on the old index).
ALTER TABLE objective DROP CONSTRAINT objective_parent_id_organisation_id_fkey;
ALTER TABLE key_result DROP CONSTRAINT key_result_objective_id_organisation_id_fkey,
                       DROP CONSTRAINT key_result_source_kpi_id_fkey;
ALTER TABLE check_in DROP CONSTRAINT check_in_key_result_id_fkey;
ALTER TABLE kpi_measurement DROP CONSTRAINT kpi_measurement_kpi_id_fkey;
ALTER TABLE automation_rule_run DROP CONSTRAINT automation_rule_run_rule_id_fkey;
ALTER TABLE webhook_delivery DROP CONSTRAINT webhook_delivery_webhook_id_fkey,
                             DROP CONSTRAINT webhook_delivery_event_seq_fkey;

-- objective's UNIQUE (id, organisation_id) becomes its primary key.
ALTER TABLE objective DROP CONSTRAINT objective_pkey, DROP CONSTRAINT objective_id_organisation_id_key,
                      ADD CONSTRAINT objective_pkey PRIMARY KEY (id, organisation_id);
ALTER TABLE key_result DROP CONSTRAINT key_result_pkey,
                       ADD CONSTRAINT key_result_pkey PRIMARY KEY (id, organisation_id);
ALTER TABLE check_in DROP CONSTRAINT check_in_pkey,
                     ADD CONSTRAINT check_in_pkey PRIMARY KEY (id, organisation_id);
ALTER TABLE kpi DROP CONSTRAINT kpi_pkey, ADD CONSTRAINT kpi_pkey PRIMARY KEY (id, organisation_id);
ALTER TABLE automation_rule DROP CONSTRAINT automation_rule_pkey,
                            ADD CONSTRAINT automation_rule_pkey PRIMARY KEY (id, organisation_id);
ALTER TABLE webhook DROP CONSTRAINT webhook_pkey, ADD CONSTRAINT webhook_pkey PRIMARY KEY (id, organisation_id);

-- The event outbox. ``seq`` (a sequence: unique by construction) stays the row's handle and
-- ``position`` the stream's global commit order: one SSE stream reads several organisations with
-- one Last-Event-ID, so the order stays global; the constraints only add the organisation.
-- Idempotency keys are per organisation (every key names its subject, which has one).
ALTER TABLE automation_event DROP CONSTRAINT automation_event_pkey,
                             ADD CONSTRAINT automation_event_pkey PRIMARY KEY (seq, organisation_id),
                             DROP CONSTRAINT automation_event_id_key,
                             ADD CONSTRAINT automation_event_id_key UNIQUE (id, organisation_id),
                             DROP CONSTRAINT automation_event_idempotency_key_key,
                             ADD CONSTRAINT automation_event_idempotency_key_key UNIQUE (organisation_id, idempotency_key),
                             DROP CONSTRAINT automation_event_position_key,
                             ADD CONSTRAINT automation_event_position_key UNIQUE (position, organisation_id);
-- The organisation routes the commit-time update to the event's shard.
CREATE OR REPLACE FUNCTION automation_event_position() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7426118350005);
    UPDATE automation_event SET position = nextval('automation_event_position')
        WHERE seq = NEW.seq AND organisation_id = NEW.organisation_id;
    RETURN NULL;
END $$;

-- Child rows without the column get it from their parent.
ALTER TABLE kpi_measurement ADD COLUMN organisation_id uuid;
UPDATE kpi_measurement m SET organisation_id = k.organisation_id FROM kpi k WHERE k.id = m.kpi_id;
ALTER TABLE kpi_measurement ALTER COLUMN organisation_id SET NOT NULL,
    DROP CONSTRAINT kpi_measurement_pkey,
    ADD CONSTRAINT kpi_measurement_pkey PRIMARY KEY (kpi_id, measured_at, organisation_id);

ALTER TABLE automation_rule_run ADD COLUMN organisation_id uuid;
UPDATE automation_rule_run r SET organisation_id = u.organisation_id FROM automation_rule u WHERE u.id = r.rule_id;
ALTER TABLE automation_rule_run ALTER COLUMN organisation_id SET NOT NULL,
    DROP CONSTRAINT automation_rule_run_pkey,
    ADD CONSTRAINT automation_rule_run_pkey PRIMARY KEY (id, organisation_id),
    DROP CONSTRAINT automation_rule_run_rule_id_run_key_key,
    ADD CONSTRAINT automation_rule_run_rule_id_run_key_key UNIQUE (rule_id, run_key, organisation_id);

ALTER TABLE webhook_delivery ADD COLUMN organisation_id uuid;
UPDATE webhook_delivery d SET organisation_id = w.organisation_id FROM webhook w WHERE w.id = d.webhook_id;
ALTER TABLE webhook_delivery ALTER COLUMN organisation_id SET NOT NULL,
    DROP CONSTRAINT webhook_delivery_pkey,
    ADD CONSTRAINT webhook_delivery_pkey PRIMARY KEY (id, organisation_id);
DROP INDEX webhook_delivery_event_idx;
CREATE INDEX webhook_delivery_event_idx ON webhook_delivery (event_seq, organisation_id);

-- A subject's state belongs to its goal's organisation; the state of a goal that no longer
-- exists is never read again (a new goal gets a new id).
ALTER TABLE automation_subject_state ADD COLUMN organisation_id uuid;
UPDATE automation_subject_state s SET organisation_id = g.organisation_id FROM (
    SELECT 'kpi' AS subject_type, id, organisation_id FROM kpi
    UNION ALL SELECT 'key_result', id, organisation_id FROM key_result
    UNION ALL SELECT 'objective', id, organisation_id FROM objective) g
    WHERE g.subject_type = s.subject_type AND g.id = s.subject_id;
DELETE FROM automation_subject_state WHERE organisation_id IS NULL;
ALTER TABLE automation_subject_state ALTER COLUMN organisation_id SET NOT NULL,
    ADD FOREIGN KEY (organisation_id) REFERENCES organisation ON DELETE CASCADE,
    DROP CONSTRAINT automation_subject_state_pkey,
    ADD CONSTRAINT automation_subject_state_pkey PRIMARY KEY (subject_type, subject_id, organisation_id);

-- The foreign keys again, composite, with the same ON DELETE as before.
ALTER TABLE objective ADD CONSTRAINT objective_parent_id_organisation_id_fkey
    FOREIGN KEY (parent_id, organisation_id) REFERENCES objective (id, organisation_id) ON DELETE SET NULL (parent_id);
ALTER TABLE key_result
    ADD CONSTRAINT key_result_objective_id_organisation_id_fkey
        FOREIGN KEY (objective_id, organisation_id) REFERENCES objective (id, organisation_id) ON DELETE CASCADE,
    ADD CONSTRAINT key_result_source_kpi_id_fkey
        FOREIGN KEY (source_kpi_id, organisation_id) REFERENCES kpi (id, organisation_id) ON DELETE SET NULL (source_kpi_id);
ALTER TABLE check_in ADD CONSTRAINT check_in_key_result_id_fkey
    FOREIGN KEY (key_result_id, organisation_id) REFERENCES key_result (id, organisation_id) ON DELETE CASCADE;
ALTER TABLE kpi_measurement ADD CONSTRAINT kpi_measurement_kpi_id_fkey
    FOREIGN KEY (kpi_id, organisation_id) REFERENCES kpi (id, organisation_id) ON DELETE CASCADE;
ALTER TABLE automation_rule_run ADD CONSTRAINT automation_rule_run_rule_id_fkey
    FOREIGN KEY (rule_id, organisation_id) REFERENCES automation_rule (id, organisation_id) ON DELETE CASCADE;
ALTER TABLE webhook_delivery
    ADD CONSTRAINT webhook_delivery_webhook_id_fkey
        FOREIGN KEY (webhook_id, organisation_id) REFERENCES webhook (id, organisation_id) ON DELETE CASCADE,
    ADD CONSTRAINT webhook_delivery_event_seq_fkey
        FOREIGN KEY (event_seq, organisation_id) REFERENCES automation_event (seq, organisation_id) ON DELETE CASCADE;
