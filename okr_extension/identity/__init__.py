"""The account's own identity for scheduling: its email address and display name."""
