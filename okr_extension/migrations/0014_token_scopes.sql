-- Token scopes (okr_extension/token_scopes.py): what a personal token may do, and optionally the one
-- organisation it may reach. Tokens made before scopes existed keep the power they had: 'admin'.
ALTER TABLE api_token
    ADD COLUMN scopes text[] NOT NULL DEFAULT '{admin}',
    ADD COLUMN organisation_id uuid REFERENCES organisation (id) ON DELETE CASCADE,
    ADD CONSTRAINT api_token_scopes_known
        CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['read', 'write', 'ingest', 'admin']);
