"""Sharing: who may use a collection of someone else's, decided in one place.

A share grants a user, a squad or an organisation ``read``, ``read-write`` or ``free-busy``
on one calendar or task list (storage migration 0010). ``access.access_of`` answers, for a
user and a collection path, "owner", the strongest access granted, or None; the Radicale
rights plugin (``rights``), Radicale's map sharing (``mounts``) and the sidecar all ask it.

A calendar shared with a user appears in their own home as ``/<user>/<owner>~<name>/``
(``mounts``): Radicale's map sharing remaps every request there to the owner's collection,
run as the owner with the share's permissions, so writes take the owner's lock and land in
the owner's sync log and link index.
"""
from storage_plugin.sharing.access import ACCESSES, access_of, mount_name, permissions_of  # noqa: F401
