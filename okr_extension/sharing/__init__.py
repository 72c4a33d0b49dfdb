"""Sharing: calendars and task lists shared with a user, a squad or an organisation
(``/api/shares``), and squads, named groups inside an organisation
(``/api/organisations/{id}/squads``). Who may read what is decided by ``storage_plugin.sharing``,
for CalDAV and the API alike."""
