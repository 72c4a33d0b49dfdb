-- A key result may follow a KPI (okr_extension/goals/kpi_source.py): its current value is the KPI's
-- value over the key result's period, moved by every measurement instead of by check-ins. The
-- aggregation is the KPI's own when NULL. Deleting the KPI leaves the key result with its last value.
ALTER TABLE key_result
    ADD COLUMN source_kpi_id uuid REFERENCES kpi (id) ON DELETE SET NULL,
    ADD COLUMN source_aggregation text CHECK (source_aggregation IN ('sum', 'avg', 'min', 'max', 'last'));
CREATE INDEX key_result_source_kpi_idx ON key_result (source_kpi_id) WHERE source_kpi_id IS NOT NULL;
