"""The README's automation settings: each variable is read, the defaults are the documented ones,
and a wrong value names itself; the private-networks switch is shared with feeds."""
from __future__ import annotations

import pytest

from okr_extension.automation.settings import AutomationSettings
from okr_extension.feeds.settings import FeedSettings, SettingError

ENVIRONMENT = {
    "PLANERIX_WEBHOOKS_WORKER": ("0", "worker_enabled", False),
    "PLANERIX_WEBHOOKS_TICK_SECONDS": ("0.5", "tick_seconds", 0.5),
    "PLANERIX_WEBHOOKS_TIMEOUT": ("2.5", "timeout_seconds", 2.5),
    "PLANERIX_WEBHOOKS_LEASE_SECONDS": ("5", "lease_seconds", 5),
    "PLANERIX_WEBHOOKS_RETRY_SECONDS": ("1", "base_delay_seconds", 1.0),
    "PLANERIX_WEBHOOKS_MAX_RETRY_SECONDS": ("60", "max_delay_seconds", 60.0),
    "PLANERIX_WEBHOOKS_MAX_ATTEMPTS": ("3", "max_attempts", 3),
    "PLANERIX_AUTOMATION_EVALUATOR": ("0", "evaluator_enabled", False),
    "PLANERIX_AUTOMATION_SWEEP_SECONDS": ("5", "sweep_seconds", 5.0),
    "PLANERIX_DEADLINE_APPROACHING_DAYS": ("7", "deadline_days", 7),
    "PLANERIX_CHECKIN_MISSING_DAYS": ("14", "checkin_days", 14),
    "PLANERIX_ALLOW_PRIVATE_NETWORKS": ("1", "allow_private_networks", True),
}


@pytest.fixture
def clean_environment(monkeypatch):
    for name in [*ENVIRONMENT, "PLANERIX_FEEDS_ALLOW_PRIVATE_NETWORKS"]:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_are_the_documented_ones(clean_environment):
    settings = AutomationSettings.from_env()
    assert settings == AutomationSettings()
    assert (settings.worker_enabled, settings.tick_seconds, settings.timeout_seconds, settings.lease_seconds,
            settings.base_delay_seconds, settings.max_delay_seconds, settings.max_attempts, settings.jitter,
            settings.disable_after_seconds, settings.evaluator_enabled, settings.sweep_seconds,
            settings.deadline_days, settings.checkin_days, settings.allow_private_networks) == (
        True, 1, 10, 60, 10, 3600, 40, 0.2, 86400, True, 60, 3, 7, False)


@pytest.mark.parametrize("name", list(ENVIRONMENT))
def test_each_variable_is_read(clean_environment, name):
    value, field, expected = ENVIRONMENT[name]
    clean_environment.setenv(name, value)
    assert AutomationSettings.from_env() == AutomationSettings(**{field: expected})


def test_one_switch_for_feeds_and_webhooks(clean_environment):
    clean_environment.setenv("PLANERIX_FEEDS_ALLOW_PRIVATE_NETWORKS", "1")  # the old alias
    assert AutomationSettings.from_env().allow_private_networks is True
    assert FeedSettings.from_env().allow_private_networks is True
    clean_environment.setenv("PLANERIX_ALLOW_PRIVATE_NETWORKS", "0")
    assert AutomationSettings.from_env().allow_private_networks is False
    assert FeedSettings.from_env().allow_private_networks is False


def test_a_wrong_value_names_the_variable(clean_environment):
    clean_environment.setenv("PLANERIX_WEBHOOKS_MAX_ATTEMPTS", "many")
    with pytest.raises(SettingError, match="PLANERIX_WEBHOOKS_MAX_ATTEMPTS must be a positive whole number"):
        AutomationSettings.from_env()
