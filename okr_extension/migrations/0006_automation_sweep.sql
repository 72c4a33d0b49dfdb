-- The time-driven evaluator's work, one row per organisation: every process claims due rows
-- with FOR UPDATE SKIP LOCKED and a lease, evaluates the organisation's deadlines, silences
-- and overdue tasks at that moment, and sets the next run. Events it finds are keyed by what
-- they are about (a due date, a period, an occurrence), so a second look never repeats one.
CREATE TABLE automation_sweep (
    organisation_id uuid PRIMARY KEY REFERENCES organisation ON DELETE CASCADE,
    next_run timestamptz NOT NULL,
    lease_owner text,
    lease_until timestamptz,
    last_run timestamptz
);
CREATE INDEX automation_sweep_due_idx ON automation_sweep (next_run);
