"""Goal resources: their storage, rights, validation against the database, and computed fields."""
