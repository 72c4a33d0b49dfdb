"""Automation: goal events written to an outbox with the change that caused them, and their
delivery to signed webhooks by a worker that runs in every process."""
