"""Team calendars and task lists: owned by an organisation, shared with its members or a squad."""
