-- Rules: when an event happens, or on an iCalendar schedule, do one action from a fixed
-- vocabulary (trigger and action are validated JSON, never code). Run by the evaluator in the
-- sweep of the rule's organisation, so each occurrence or event is handled by one process.
CREATE TABLE automation_rule (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organisation_id uuid NOT NULL REFERENCES organisation ON DELETE CASCADE,
    name text NOT NULL,
    -- Whose rights the actions use (a task is written into this account's calendar).
    created_by text NOT NULL REFERENCES account (name) ON DELETE CASCADE ON UPDATE CASCADE,
    trigger jsonb NOT NULL,
    action jsonb NOT NULL,
    enabled boolean NOT NULL DEFAULT true,
    max_runs_per_hour integer NOT NULL DEFAULT 10 CHECK (max_runs_per_hour BETWEEN 1 AND 1000),
    -- Handled up to here: the last occurrence (schedules) or stream position (events).
    cursor_time timestamptz,
    cursor_position bigint,
    created timestamptz NOT NULL,
    updated timestamptz NOT NULL
);
CREATE INDEX automation_rule_organisation_idx ON automation_rule (organisation_id);

-- The audit record of each run: one per occurrence or event, whatever its outcome.
CREATE TABLE automation_rule_run (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    rule_id uuid NOT NULL REFERENCES automation_rule ON DELETE CASCADE,
    run_key text NOT NULL,
    occurrence timestamptz,
    event_id uuid,
    outcome text NOT NULL CHECK (outcome IN ('done', 'failed', 'skipped')),
    detail jsonb NOT NULL DEFAULT '{}',
    ran timestamptz NOT NULL,
    UNIQUE (rule_id, run_key)
);
CREATE INDEX automation_rule_run_rule_idx ON automation_rule_run (rule_id, ran, id);
