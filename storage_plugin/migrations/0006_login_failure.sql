-- Failed logins, counted per account name and per client address in a fixed window, so that
-- every process (CalDAV and the API, however many) refuses a password guesser alike
-- (storage_plugin.logins). Rows whose window has passed are deleted as new failures come in.
CREATE TABLE login_failure (
    kind         text NOT NULL CHECK (kind IN ('account', 'address')),
    key          text NOT NULL,
    failures     integer NOT NULL,
    window_start timestamptz NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX login_failure_window_idx ON login_failure (window_start);
