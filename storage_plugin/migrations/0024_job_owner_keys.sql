-- The scheduling and email outboxes keyed by the account whose data their work touches (issue #17,
-- storage_plugin/distribution.py): a job's id stays unique by its sequence, the key gains the account.
-- A scheduling job is queued only for a local recipient (external ones get an email_job), and it
-- is delivered into that recipient's calendars under their lock: keyed by recipient_account.
ALTER TABLE schedule_job DROP CONSTRAINT schedule_job_pkey;
ALTER TABLE schedule_job ADD CONSTRAINT schedule_job_pkey PRIMARY KEY (id, recipient_account);

-- An invitation email is queued by its organizer's write and reports back into the organizer's
-- copy (SCHEDULE-STATUS): keyed by organizer_account.
ALTER TABLE email_job DROP CONSTRAINT email_job_pkey;
ALTER TABLE email_job ADD CONSTRAINT email_job_pkey PRIMARY KEY (id, organizer_account);
