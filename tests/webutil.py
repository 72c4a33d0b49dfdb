"""A person's browser in miniature for the dashboard: a requests session that signs in through the
form and sends forms with their CSRF token (the browser tests use real Chromium)."""
from __future__ import annotations

import re

import requests

TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_token(html: str) -> str:
    match = TOKEN.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


class Dashboard:
    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self.session = requests.Session()

    def url(self, path: str) -> str:
        return self.api_url + path

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.url(path), **kwargs)

    def sign_in(self, login: str, password: str) -> requests.Response:
        form = self.get("/app/login")
        assert form.status_code == 200, form.text
        return self.session.post(self.url("/app/login"), data={
            "csrf_token": csrf_token(form.text), "login": login, "password": password, "next": "/app/"},
            allow_redirects=False)

    def post_form(self, page: str, action: str, fields: dict) -> requests.Response:
        """Send a form the way the page at ``page`` would (with that page's CSRF token)."""
        token = csrf_token(self.get(page).text)
        return self.session.post(self.url(action), data={"csrf_token": token, **fields}, allow_redirects=False)
