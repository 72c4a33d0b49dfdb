"""Goal arithmetic as plain functions: progress, status and KPI health (no I/O)."""
