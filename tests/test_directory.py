"""The directory: the addresses that name an account, matched whatever their case."""
import uuid

import pytest

from storage_plugin import accounts, directory


def _user(engine) -> str:
    name = f"dir-{uuid.uuid4().hex[:8]}"
    accounts.add(engine, name, "a long password")
    return name


def test_an_address_finds_its_account_whatever_its_case(engine):
    name = _user(engine)
    with engine.begin() as conn:
        directory.set_identity(conn, name, email="Bob.Smith@Example.org", display_name="Bob Smith")
    with engine.connect() as conn:
        assert directory.account_for_address(conn, "MAILTO:bob.smith@EXAMPLE.ORG") == name
        assert directory.account_for_address(conn, "mailto:nobody@example.org") is None
        assert directory.account_for_address(conn, "/bob/") is None
        assert directory.addresses_of(conn, name) == ["mailto:bob.smith@example.org"]


def test_a_new_email_replaces_the_old_and_an_address_has_one_owner(engine):
    first, second = _user(engine), _user(engine)
    email = f"{first}@example.org"
    with engine.begin() as conn:
        directory.set_identity(conn, first, email=email)
    with pytest.raises(accounts.AccountError, match="already belongs"):
        with engine.begin() as conn:
            directory.set_identity(conn, second, email=email.upper())
    with engine.begin() as conn:
        directory.set_identity(conn, first, email=f"new-{email}")
    with engine.connect() as conn:
        assert directory.addresses_of(conn, first) == [f"mailto:new-{email}"]
        assert directory.account_for_address(conn, f"mailto:{email}") is None


@pytest.mark.parametrize("bad", ["no-at-sign", "two@@example.org", "a@b", "x y@example.org"])
def test_what_is_not_an_email_is_refused_with_a_reason(engine, bad):
    name = _user(engine)
    with pytest.raises(accounts.AccountError, match="not an email address"):
        with engine.begin() as conn:
            directory.set_identity(conn, name, email=bad)
