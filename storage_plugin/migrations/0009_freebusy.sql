-- Free-busy from the occurrence index (RFC 6638 §5): every occurrence carries its free-busy type,
-- derived when the item is written from TRANSP, STATUS and the calendar owner's own PARTSTAT
-- (scheduling.freebusy.occurrence_fbtype), so busy time is one index scan per account and no
-- item is parsed to answer it.
--   B = BUSY, T = BUSY-TENTATIVE, F = FREE (transparent, cancelled, declined, tasks, journals).
ALTER TABLE item_occurrence ADD COLUMN fbtype "char" NOT NULL DEFAULT 'B'
      CHECK (fbtype IN ('B', 'T', 'F'));

-- Rows written before this migration: what the item columns already tell (tasks and journals
-- are free; a cancelled or tentative series by its master's STATUS). TRANSP, overrides and
-- PARTSTAT need the text: `planerix db reindex` stores those items again (their index no
-- longer matches their text, which `--verify-storage` and reindex detect).
UPDATE item_occurrence o SET fbtype = CASE
         WHEN i.component <> 'VEVENT' OR i.status = 'CANCELLED' THEN 'F'
         WHEN i.status = 'TENTATIVE' THEN 'T' ELSE 'B' END
  FROM item i WHERE i.id = o.item_id;

-- Busy time of an account: occurrences that are not free, by calendar and time.
CREATE INDEX item_occurrence_busy_idx ON item_occurrence USING gist (collection_id, span)
       WHERE fbtype <> 'F';

-- Working hours and other availability (RFC 7953 VAVAILABILITY) of an account, as the iCalendar
-- text the owner stored (CALDAV:calendar-availability); time outside it is BUSY-UNAVAILABLE.
CREATE TABLE account_availability (
    account  text PRIMARY KEY REFERENCES account (name) ON DELETE CASCADE ON UPDATE CASCADE,
    ical     text NOT NULL,
    updated  timestamptz NOT NULL DEFAULT now()
);
