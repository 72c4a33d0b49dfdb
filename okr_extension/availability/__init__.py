"""Free-busy and working hours: whose busy time a user may see, the REST form of the CalDAV
outbox's free-busy, common free time (find-time), and the caller's own working hours."""
