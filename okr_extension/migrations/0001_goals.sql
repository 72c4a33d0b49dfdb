-- Goals: organisations, objectives, key results with check-ins, KPIs with measurements,
-- and personal API tokens. Progress, status and health are computed on read, never stored.
-- Ids are UUIDs: they travel inside calendar items (X-PLANERIX-* links) and must stay
-- unique across processes and shards.

CREATE TABLE organisation (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- Fractions of the expected pace below which a goal is at risk / off track.
    at_risk_below double precision NOT NULL DEFAULT 0.7,
    off_track_below double precision NOT NULL DEFAULT 0.5,
    created timestamptz NOT NULL DEFAULT now(),
    updated timestamptz NOT NULL DEFAULT now(),
    CHECK (0 <= off_track_below AND off_track_below <= at_risk_below AND at_risk_below <= 1)
);

CREATE TABLE membership (
    organisation_id uuid NOT NULL REFERENCES organisation ON DELETE CASCADE,
    account text NOT NULL REFERENCES account (name) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organisation_id, account)
);
CREATE INDEX membership_account_idx ON membership (account);

CREATE TABLE objective (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organisation_id uuid NOT NULL REFERENCES organisation ON DELETE CASCADE,
    title text NOT NULL,
    description text NOT NULL DEFAULT '',
    owner text NOT NULL REFERENCES account (name),
    -- A parent lives in the same organisation (composite key); deleting it detaches children.
    parent_id uuid,
    priority text NOT NULL DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high', 'critical')),
    status text NOT NULL DEFAULT 'active'
        CHECK (status IN ('draft', 'active', 'completed', 'archived', 'cancelled')),
    start_date date,
    due_date date,
    tags text[] NOT NULL DEFAULT '{}',
    created timestamptz NOT NULL DEFAULT now(),
    updated timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, organisation_id),
    FOREIGN KEY (parent_id, organisation_id) REFERENCES objective (id, organisation_id)
        ON DELETE SET NULL (parent_id),
    CHECK (parent_id IS DISTINCT FROM id),
    CHECK (start_date IS NULL OR due_date IS NULL OR start_date <= due_date)
);
CREATE INDEX objective_organisation_idx ON objective (organisation_id, created, id);
CREATE INDEX objective_parent_idx ON objective (parent_id);
CREATE INDEX objective_tags_idx ON objective USING gin (tags);

CREATE TABLE key_result (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    objective_id uuid NOT NULL,
    -- Copied from the objective (which never changes organisation) so that every
    -- goal row answers "which organisation" without a join.
    organisation_id uuid NOT NULL,
    title text NOT NULL,
    description text NOT NULL DEFAULT '',
    owner text NOT NULL REFERENCES account (name),
    kind text NOT NULL
        CHECK (kind IN ('increase_to', 'decrease_to', 'stay_above', 'stay_below', 'milestone')),
    start_value double precision NOT NULL DEFAULT 0,
    target_value double precision NOT NULL,
    current_value double precision NOT NULL DEFAULT 0,
    unit text NOT NULL DEFAULT '',
    weight double precision NOT NULL DEFAULT 1 CHECK (weight >= 0),
    due_date date,
    progress_mode text NOT NULL DEFAULT 'value' CHECK (progress_mode IN ('value', 'tasks')),
    created timestamptz NOT NULL DEFAULT now(),
    updated timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (objective_id, organisation_id) REFERENCES objective (id, organisation_id)
        ON DELETE CASCADE,
    CHECK (kind NOT IN ('increase_to', 'decrease_to') OR target_value <> start_value)
);
CREATE INDEX key_result_objective_idx ON key_result (objective_id);
CREATE INDEX key_result_organisation_idx ON key_result (organisation_id, created, id);

CREATE TABLE check_in (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    key_result_id uuid NOT NULL REFERENCES key_result ON DELETE CASCADE,
    organisation_id uuid NOT NULL REFERENCES organisation ON DELETE CASCADE,
    value double precision NOT NULL,
    confidence double precision CHECK (confidence BETWEEN 0 AND 1),
    note text NOT NULL DEFAULT '',
    author text NOT NULL REFERENCES account (name),
    created timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX check_in_key_result_idx ON check_in (key_result_id, created, id);
CREATE INDEX check_in_organisation_idx ON check_in (organisation_id, created, id);

CREATE TABLE kpi (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organisation_id uuid NOT NULL REFERENCES organisation ON DELETE CASCADE,
    name text NOT NULL,
    description text NOT NULL DEFAULT '',
    unit text NOT NULL DEFAULT '',
    target double precision,
    baseline double precision,
    warn_threshold double precision,
    alarm_threshold double precision,
    direction text NOT NULL DEFAULT 'higher_is_better'
        CHECK (direction IN ('higher_is_better', 'lower_is_better')),
    kind text NOT NULL DEFAULT 'gauge' CHECK (kind IN ('counter', 'gauge', 'percentage')),
    period text NOT NULL DEFAULT 'monthly'
        CHECK (period IN ('daily', 'weekly', 'monthly', 'quarterly', 'yearly')),
    aggregation text NOT NULL DEFAULT 'last' CHECK (aggregation IN ('sum', 'avg', 'last', 'min', 'max')),
    owner text NOT NULL REFERENCES account (name),
    tags text[] NOT NULL DEFAULT '{}',
    next_review date,
    created timestamptz NOT NULL DEFAULT now(),
    updated timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kpi_organisation_idx ON kpi (organisation_id, created, id);

-- One value per KPI and instant: re-sending a timestamp replaces its value (idempotent ingest).
CREATE TABLE kpi_measurement (
    kpi_id uuid NOT NULL REFERENCES kpi ON DELETE CASCADE,
    measured_at timestamptz NOT NULL,
    value double precision NOT NULL,
    note text NOT NULL DEFAULT '',
    source text NOT NULL DEFAULT '',
    author text NOT NULL REFERENCES account (name),
    recorded timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kpi_id, measured_at)
);

-- Personal API tokens: only a SHA-256 of the secret is kept (the secret is 256 random bits,
-- so a slow password hash adds nothing); the prefix lets a user recognise a token.
CREATE TABLE api_token (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account text NOT NULL REFERENCES account (name) ON DELETE CASCADE,
    name text NOT NULL,
    prefix text NOT NULL,
    secret_sha256 bytea NOT NULL UNIQUE,
    created timestamptz NOT NULL DEFAULT now(),
    last_used timestamptz,
    expires timestamptz
);
CREATE INDEX api_token_account_idx ON api_token (account);
