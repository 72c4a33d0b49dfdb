"""ICS feeds: calendars published under a secret URL, external feeds imported on a schedule.

Publishing: ``options`` (what a feed includes), ``selection`` (which stored items,
as SQL conditions), ``ical`` + ``builder`` (the iCalendar document, assembled from
stored texts without parsing them), ``publishing`` (feeds, their secrets, and
serving with a cache keyed by the calendar's sync revision).

Subscriptions: ``fetch`` (conditional, bounded HTTP to public addresses),
``importer`` (split a feed by UID, apply the difference through
``storage_plugin.writer``), ``scheduler`` (leases, backoff, the background
loop), ``subscriptions`` (registration, status, changes, removal).

Shared: ``ownership`` (owner_only rights for calendar paths), ``queries`` (all
SQL), ``settings``, ``http`` (problem responses), ``runtime`` (what the app
holds). HTTP handlers: ``okr_extension.handlers.feeds`` and ``.subscriptions``.
"""
