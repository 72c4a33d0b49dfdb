"""The aiohttp sidecar: REST for goals, KPIs and links (``create_app``, ``migrate``)."""
from okr_extension.app import create_app
from okr_extension.schema import migrate

__all__ = ["create_app", "migrate"]
