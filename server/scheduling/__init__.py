"""CalDAV scheduling (RFC 6638) next to the Radicale application subclass: principal
properties, the inbox and outbox collections, and principal search."""
