"""Planerix's PostgreSQL storage for Radicale: ``[storage] type = storage_plugin``."""
from storage_plugin.storage import Storage

__all__ = ["Storage"]
