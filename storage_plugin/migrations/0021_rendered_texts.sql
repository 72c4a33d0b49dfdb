-- What an answer carrying calendar-data needs of each item beyond its text, kept by PostgreSQL
-- itself on every write of the row (whatever code writes it), so a query of many items copies
-- texts without scanning them (storage_plugin.rendered):
-- * text_xml: the text escaped as XML character data (& < >), NULL when it has nothing to
--   escape (most texts), so it costs no space for them;
-- * vevent_bound: the count of "N:VEVENT" in the text's upper case, an upper bound of the lines
--   Radicale counts against [reporting] max_expand_occurrence (server.fast_report).
ALTER TABLE item
  ADD COLUMN text_xml text GENERATED ALWAYS AS (
    CASE WHEN strpos(text, '&') > 0 OR strpos(text, '<') > 0 OR strpos(text, '>') > 0
         THEN replace(replace(replace(text, '&', '&amp;'), '<', '&lt;'), '>', '&gt;') END) STORED,
  ADD COLUMN vevent_bound integer GENERATED ALWAYS AS (
    (octet_length(upper(text)) - octet_length(replace(upper(text), 'N:VEVENT', ''))) / 8) STORED;
