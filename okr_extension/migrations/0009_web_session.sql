-- Dashboard sign-ins (okr_extension/web/sessions.py). Kept in the database so every server
-- process honours them; only the SHA-256 of the cookie's secret is stored, so a read of this
-- table does not let anyone sign in. The CSRF token is per session and goes into every form.
CREATE TABLE web_session (
    id_sha256  bytea PRIMARY KEY,
    account    text NOT NULL REFERENCES account (name) ON DELETE CASCADE ON UPDATE CASCADE,
    csrf_token text NOT NULL,
    created    timestamptz NOT NULL DEFAULT now(),
    expires    timestamptz NOT NULL
);
CREATE INDEX web_session_account_idx ON web_session (account);
CREATE INDEX web_session_expires_idx ON web_session (expires);
