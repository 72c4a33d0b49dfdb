"""Argon2 verifications are bounded per process: each takes 64 MiB while it runs, and 16
clients whose first requests arrived together once took a server to 1.1 GB. Requests of one
account that arrive together verify its password once; different accounts verify at most
``accounts.ARGON2_AT_ONCE`` at a time."""
from __future__ import annotations

import threading

import pytest
from argon2 import PasswordHasher

from storage_plugin import accounts


@pytest.fixture
def verifications(monkeypatch):
    """Counts argon2 verifications and the most that ran at once."""
    seen = {"calls": 0, "running": 0, "most": 0}
    lock = threading.Lock()

    class Counting(PasswordHasher):
        def verify(self, *args):
            with lock:
                seen["calls"] += 1
                seen["running"] += 1
                seen["most"] = max(seen["most"], seen["running"])
            try:
                return super().verify(*args)
            finally:
                with lock:
                    seen["running"] -= 1

    monkeypatch.setattr(accounts, "_hasher", Counting())
    return seen


def _all_at_once(checks) -> list:
    barrier = threading.Barrier(len(checks))
    results = [None] * len(checks)

    def run(n, check):
        barrier.wait()
        results[n] = check()
    threads = [threading.Thread(target=run, args=(n, check)) for n, check in enumerate(checks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_parallel_requests_of_one_account_verify_once(verifications):
    credentials = accounts.VerifiedCredentials()
    stored = accounts.hash_password("correct horse")
    results = _all_at_once([lambda: credentials.check("alice", "correct horse", stored)] * 8)
    assert results == [True] * 8
    assert verifications["calls"] == 1
    # A wrong password is still checked (and refused), and the right one still remembered.
    assert credentials.check("alice", "wrong horse", stored) is False
    assert credentials.check("alice", "correct horse", stored) is True
    assert verifications["calls"] == 2


def test_different_accounts_verify_a_bounded_number_at_once(verifications):
    credentials = accounts.VerifiedCredentials()
    users = [(f"user{n}", f"password-{n}", accounts.hash_password(f"password-{n}")) for n in range(5)]
    checks = [lambda u=u: credentials.check(*u) for u in users]
    checks += [lambda: accounts.password_matches(None, "an unknown account's guess")] * 2
    assert _all_at_once(checks) == [True] * 5 + [False] * 2
    assert verifications["calls"] == 7
    assert 1 <= verifications["most"] <= accounts.ARGON2_AT_ONCE
