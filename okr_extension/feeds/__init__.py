"""ICS feeds: calendars published under a secret URL, external feeds imported on a schedule.

Publishing: ``options`` (what a feed includes), ``selection`` (which stored items,
in SQL), ``ical`` + ``builder`` (the iCalendar document, from stored texts
without parsing them), ``publishing`` (feeds, secrets and the cache keyed by the
calendar's revision). Subscriptions: ``fetch`` (conditional, bounded HTTP),
``importer`` (split a feed by UID, apply the difference through
``storage_plugin.writer``), ``scheduler`` (leases, backoff, the background loop),
``subscriptions`` (their rows and status). SQL lives in ``queries``; HTTP
handlers are in ``okr_extension.handlers.feeds`` and ``.subscriptions``.
"""
