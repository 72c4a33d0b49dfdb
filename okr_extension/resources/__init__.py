"""Rooms and resources of an organisation: managed by its admins, seen by its members, booked by
inviting them (storage_plugin.resources answers the invitations)."""
