"""Answers by mail: the iTIP REPLYs that mail clients (Gmail, Outlook, Apple Mail, Thunderbird)
send when an invitee outside Planerix presses accept, read from an IMAP mailbox.

``settings`` reads the ``[email] imap_*`` options; ``ledger`` holds the mailbox's lease and the
record of the answers taken (storage_plugin migration 0017); ``mailbox`` is the IMAP session
(the standard library's imaplib); ``poller`` runs in every server process and polls when its
process holds the lease: each unseen mail's REPLY is checked (scheduling.imip.replies_in: the
From address must be the one attendee answering), applied through the path the RSVP pages take
(storage_plugin.outside_answers) and the mail marked seen once that committed.
"""
