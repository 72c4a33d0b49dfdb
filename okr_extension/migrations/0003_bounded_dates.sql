-- The API accepts days from 1900 to 9998 (okr_extension.models.common.Day), so that a
-- deadline's end or the next review never leaves the calendar. Days stored before that bound
-- (such as 9999-12-31 for "no deadline") move to its last day.
UPDATE objective SET start_date = LEAST(start_date, DATE '9998-12-31'), due_date = LEAST(due_date, DATE '9998-12-31')
    WHERE start_date > DATE '9998-12-31' OR due_date > DATE '9998-12-31';
UPDATE key_result SET due_date = DATE '9998-12-31' WHERE due_date > DATE '9998-12-31';
UPDATE kpi SET next_review = DATE '9998-12-31' WHERE next_review > DATE '9998-12-31';
