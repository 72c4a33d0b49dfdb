"""Discovery as clients do it: well-known redirect, principal, calendar home."""
import caldav
import requests


def test_well_known_redirects_to_the_root(base_url, user):
    response = requests.get(f"{base_url}/.well-known/caldav", auth=(user.name, user.password),
                            allow_redirects=False)
    assert response.status_code in (301, 302, 303, 307, 308)
    assert response.headers["Location"].rstrip("/") in ("", base_url)


def test_unauthenticated_request_gets_401_with_challenge(base_url):
    response = requests.request("PROPFIND", f"{base_url}/", headers={"Depth": "0"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_wrong_password_is_refused(base_url, user):
    response = requests.request("PROPFIND", user.url(), auth=(user.name, "not-" + user.password),
                                headers={"Depth": "0"})
    assert response.status_code == 401


def test_principal_and_calendar_home_with_the_caldav_library(base_url, user):
    client = caldav.DAVClient(url=base_url + "/", username=user.name, password=user.password)
    principal = client.principal()
    assert str(principal.url).rstrip("/").endswith(f"/{user.name}")
    home = principal.calendar_home_set
    assert str(home.url).rstrip("/").endswith(f"/{user.name}")
    created = principal.make_calendar(name="Work", cal_id="work")
    # The default calendar and task list come with the account; inbox and outbox are no calendars.
    assert sorted(str(c.url) for c in principal.calendars()) == sorted(
        [str(created.url)] + [str(created.url).replace("/work/", f"/{name}/") for name in ("personal", "personal-tasks")])
    assert created.get_display_name() == "Work"


def test_current_user_principal_by_propfind(base_url, user):
    body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>'
            '<D:current-user-principal/></D:prop></D:propfind>')
    response = requests.request("PROPFIND", f"{base_url}/", data=body, auth=(user.name, user.password),
                                headers={"Depth": "0", "Content-Type": "application/xml"})
    assert response.status_code == 207
    assert f"<href>/{user.name}/</href>" in response.text
