"""Headless Chromium (Debian's package) driven by Playwright, for the dashboard's browser tests.

In CI (``CI=true``) a missing Chromium fails the tests: .ci/run installs it, so its absence is a
broken machine, not a reason to skip. Elsewhere the tests skip with the command that fixes it.
Screenshots go to ``DASHBOARD_SCREENSHOTS`` when set (not a PLANERIX_ name: conftest clears
those), else to a temporary folder; the README's are regenerated with
``DASHBOARD_SCREENSHOTS=docs/screenshots python -m pytest -p no:randomly tests/test_web_browser.py``.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS_ENV = "DASHBOARD_SCREENSHOTS"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


def require_chromium() -> str:
    if os.path.exists(CHROMIUM) or shutil.which(CHROMIUM):
        return CHROMIUM
    reason = f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + ": the browser tests must run in CI", pytrace=False)
    pytest.skip(reason)


def screenshot_folder(tmp_path_factory) -> Path:
    folder = os.environ.get(SCREENSHOTS_ENV)
    if folder:
        path = Path(folder)
        if not path.is_absolute():
            path = Path(__file__).resolve().parent.parent / path
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screenshots")
