"""`planerix user passwd` revokes the user's personal API tokens, unless --keep-tokens."""
from __future__ import annotations

import subprocess

import requests

from conftest import REPO, planerix_command


def planerix(*args: str, stdin: str) -> subprocess.CompletedProcess:
    return subprocess.run(planerix_command("--log-level", "warning", *args), cwd=REPO, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_a_new_password_revokes_the_tokens_unless_kept(api_user_factory, api_server, database_url):
    user = api_user_factory("rotated")
    other = api_user_factory("bystander")
    tokens = [user.ok("POST", "/api/tokens", {"name": name})["token"] for name in ("a", "b")]
    untouched = other.ok("POST", "/api/tokens", {"name": "c"})["token"]

    def works(token: str) -> bool:
        answer = requests.get(api_server.url + "/api/tokens", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code in (200, 401), answer.text
        return answer.status_code == 200

    changed = planerix("user", "passwd", user.name, "--database-url", database_url, stdin="second-password\n")
    assert changed.returncode == 0, changed.stderr
    assert "2 API token(s) revoked" in changed.stdout
    assert not any(works(token) for token in tokens) and works(untouched)
    assert requests.get(api_server.url + "/api/tokens", auth=(user.name, user.password)).status_code == 401
    user.session.auth = (user.name, "second-password")
    kept = user.ok("POST", "/api/tokens", {"name": "kept"})["token"]

    again = planerix("user", "passwd", user.name, "--keep-tokens", "--database-url", database_url,
                     stdin="third-password\n")
    assert again.returncode == 0, again.stderr
    assert "API tokens kept" in again.stdout and works(kept)
    assert requests.get(api_server.url + "/api/tokens", auth=(user.name, "third-password")).status_code == 200
