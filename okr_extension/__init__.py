"""The aiohttp sidecar: REST for goals, KPIs and links (``create_app``)."""
from okr_extension.app import create_app

__all__ = ["create_app"]
