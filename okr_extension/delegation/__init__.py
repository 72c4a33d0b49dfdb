"""Delegation (``/api/delegations``): the account's owner makes another user their read or write
proxy. The same grants are CalDAV's calendar-proxy-read/-write groups (``server.delegation``);
what a proxy may do is decided by ``storage_plugin.sharing``, for CalDAV and the API alike."""
