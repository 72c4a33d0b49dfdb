"""RSVP pages for attendees outside Planerix (links in invitation emails), and the API view of
the invitation emails an organizer's events sent."""

# Served without a login: the signed token in the path is the capability (okr_extension.auth).
PAGE_ROUTE = "/rsvp/{token}"
