"""README, "Dashboard": the screenshots it shows are the ones the browser tests take, and the
documented regeneration command writes where it says."""
from __future__ import annotations

import re

from tests.browser import SCREENSHOTS_ENV, screenshot_folder
from tests.conftest import REPO


def test_every_screenshot_in_the_readme_is_committed_and_taken_by_a_browser_test():
    readme = (REPO / "README.md").read_text()
    shown = set(re.findall(r"docs/screenshots/([\w-]+\.png)", readme))
    assert {"overview.png", "key-result.png", "kpi.png", "heatmap.png", "week.png", "settings.png"} <= shown
    browser_tests = (REPO / "tests" / "test_web_browser.py").read_text()
    for name in shown:
        assert (REPO / "docs" / "screenshots" / name).stat().st_size > 0, name
        stem = name.removesuffix(".png")
        assert f'"{name}"' in browser_tests or (stem.startswith("phone-") and 'f"phone-{name}.png"' in browser_tests), name
    assert f"{SCREENSHOTS_ENV}=docs/screenshots python -m pytest -p no:randomly tests/test_web_browser.py" in readme


def test_the_screenshot_folder_follows_the_variable(monkeypatch, tmp_path, tmp_path_factory):
    monkeypatch.setenv(SCREENSHOTS_ENV, str(tmp_path / "shots"))
    assert screenshot_folder(tmp_path_factory) == tmp_path / "shots" and (tmp_path / "shots").is_dir()
    monkeypatch.delenv(SCREENSHOTS_ENV)
    assert screenshot_folder(tmp_path_factory) != tmp_path / "shots"
