-- Occurrences whose range is empty or reversed (DTEND at or before DTSTART, or an
-- end inside a daylight-saving gap) match a window only when the window surrounds
-- them (Radicale: window_start < end AND start < window_end). They are stored as
-- [end - 1, start + 1) with ``surrounds`` set and matched by containment, so they
-- no longer cut the index and send the series to Radicale's parser.
ALTER TABLE item_occurrence ADD COLUMN surrounds boolean NOT NULL DEFAULT false;
