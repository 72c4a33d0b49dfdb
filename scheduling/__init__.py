"""iTIP (RFC 5546) as CalDAV implicit scheduling (RFC 6638) uses it: pure logic on
``icalendar`` objects, no HTTP and no SQL. The storage plugin calls it inside a write and
delivers what it returns (``storage_plugin.scheduling``)."""
