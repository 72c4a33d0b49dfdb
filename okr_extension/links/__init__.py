"""Links from calendar items to goals: linking through the storage's write path, and reading
the index the storage plugin keeps (item_link and the item facts), never the item texts."""
