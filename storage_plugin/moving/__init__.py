"""Moving in and out: import a Radicale store, export one back.

``radicale_store`` reads and writes Radicale's ``multifilesystem`` layout;
``importer`` stores what it reads through the plugin's own write path
(``storage_plugin.writer``), so occurrences and goal links are indexed as for a PUT.
"""
