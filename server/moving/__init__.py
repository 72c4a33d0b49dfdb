"""Moving in and out: ``planerix import`` and ``planerix export``.

``radicale_store`` reads and writes Radicale's ``multifilesystem`` layout;
``radicale_import`` and ``ics_import`` store what they read through the plugin's own
write path (``storage_plugin.writer``), so occurrences and goal links are indexed as
for a PUT; ``radicale_export`` writes a store back; ``cli`` prints their reports.
"""
