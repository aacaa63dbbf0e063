"""Signing in through the real form, lockout, password reset and invitations, security headers."""

import re
from datetime import date

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, EmploymentType
from accounts.services import StaffData, invitation_path, staff_create

LOGIN_URL = "/accounts/login/"
NEW_PASSWORD = "a-long-new-passphrase-42"
LOCKED_TEXT = "This account is locked"


def sign_in(client, email, password, **extra):
    return client.post(LOGIN_URL, {"username": email, "password": password}, **extra)


def signed_in_as(client):
    response = client.get(reverse("home"))
    return response.context["me"] if response.status_code == 200 else None


def link_in(message, name):
    match = re.search(rf"https?://[^/\s]+(/accounts/{name}/[^/\s]+/[^/\s]+/)", message.body)
    assert match, message.body
    return match.group(1)


def set_password_through(client, link, password=NEW_PASSWORD):
    """Follow an emailed link and choose a password; returns the final response."""
    response = client.get(link, follow=True)
    assert response.context["validlink"], "the link should work"
    set_password_url = response.redirect_chain[-1][0]
    return client.post(set_password_url, {"new_password1": password, "new_password2": password})


# Signing in


def test_sign_in_through_the_form_goes_home(cast, client):
    assert client.get(LOGIN_URL).status_code == 200
    response = sign_in(client, "Supervisee@Cast.example", cast.password)
    assert response.status_code == 302
    assert response.url == reverse("home")
    assert signed_in_as(client) == cast.supervisee


def test_sign_in_returns_to_the_page_asked_for(cast, client):
    response = client.get(reverse("accounts:staff-list"))
    assert response.url == f"{LOGIN_URL}?next=/staff/"
    response = client.post(
        response.url, {"username": "admin@cast.example", "password": cast.password, "next": "/staff/"}
    )
    assert response.url == "/staff/"


def test_sign_in_does_not_redirect_to_another_site(cast, client):
    data = {"username": "admin@cast.example", "password": cast.password, "next": "https://evil.example/"}
    response = client.post(LOGIN_URL, data)
    assert response.url == reverse("home")


def test_a_wrong_password_is_refused_with_a_warning_about_lockout(cast, client):
    response = sign_in(client, "supervisee@cast.example", "not-the-password")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Enter the correct email address and password" in page
    assert "After 5 failed attempts the account is locked" in page
    assert signed_in_as(client) is None


def test_a_deactivated_person_cannot_sign_in(cast, client):
    cast.supervisee.user.is_active = False
    cast.supervisee.user.save()
    assert sign_in(client, "supervisee@cast.example", cast.password).status_code == 200
    assert signed_in_as(client) is None


# Lockout


def test_five_failed_sign_ins_lock_the_account_and_the_page_says_so(cast, client):
    statuses = [sign_in(client, "supervisee@cast.example", f"wrong-{i}").status_code for i in range(1, 5)]
    assert statuses == [200, 200, 200, 200]

    for attempt in (5, 6):
        response = sign_in(client, "supervisee@cast.example", f"wrong-{attempt}")
        assert response.status_code == 429, attempt
        page = response.content.decode()
        assert LOCKED_TEXT in page
        assert "too many failed sign-in attempts" in page
        assert "You can try again in 30 minutes" in page

    # The right password does not open a locked account.
    response = sign_in(client, "supervisee@cast.example", cast.password)
    assert response.status_code == 429
    assert LOCKED_TEXT in response.content.decode()
    assert signed_in_as(client) is None
    assert not AuditEvent.objects.filter(action="auth.signed_in").exists()


def test_lockout_is_for_the_email_from_that_address_only(cast, client):
    for i in range(5):
        sign_in(client, "supervisee@cast.example", f"wrong-{i}")
    assert sign_in(client, "supervisee@cast.example", cast.password).status_code == 429

    # The same person from another address signs in.
    elsewhere = Client(REMOTE_ADDR="10.0.0.2")
    response = sign_in(elsewhere, "supervisee@cast.example", cast.password)
    assert response.status_code == 302
    assert signed_in_as(elsewhere) == cast.supervisee
    # Another person from the first address signs in.
    colleague = Client()
    assert sign_in(colleague, "supervisor@cast.example", cast.password).status_code == 302


def test_a_successful_sign_in_resets_the_count(cast, client):
    for i in range(4):
        sign_in(client, "supervisee@cast.example", f"wrong-{i}")
    assert sign_in(client, "supervisee@cast.example", cast.password).status_code == 302
    client.post(reverse("accounts:logout"))
    for i in range(4):
        assert sign_in(client, "supervisee@cast.example", f"wrong-again-{i}").status_code == 200
    assert sign_in(client, "supervisee@cast.example", cast.password).status_code == 302


# Password reset


def test_password_reset_by_email_end_to_end(cast, client):
    response = client.post(reverse("accounts:password-reset"), {"email": "Supervisee@cast.example"})
    assert response.status_code == 302
    assert response.url == reverse("accounts:password-reset-done")
    [message] = mail.outbox
    assert message.to == ["supervisee@cast.example"]

    response = set_password_through(client, link_in(message, "reset"))
    assert response.status_code == 302
    assert response.url == reverse("accounts:password-reset-complete")
    assert AuditEvent.objects.filter(action="auth.password_reset", actor=cast.supervisee.user).count() == 1

    assert sign_in(Client(), "supervisee@cast.example", cast.password).status_code == 200
    fresh = Client()
    assert sign_in(fresh, "supervisee@cast.example", NEW_PASSWORD).status_code == 302
    assert signed_in_as(fresh) == cast.supervisee


def test_password_reset_link_works_once(cast, client):
    client.post(reverse("accounts:password-reset"), {"email": "supervisee@cast.example"})
    link = link_in(mail.outbox[0], "reset")
    set_password_through(client, link)
    response = Client().get(link, follow=True)
    assert not response.context["validlink"]
    assert "This link no longer works" in response.content.decode()


def test_password_reset_for_an_unknown_address_sends_nothing_and_says_the_same(db, client):
    response = client.post(reverse("accounts:password-reset"), {"email": "nobody@cast.example"})
    assert response.status_code == 302
    assert response.url == reverse("accounts:password-reset-done")
    assert mail.outbox == []


# Invitations


@pytest.fixture
def invitee(cast):
    return staff_create(
        actor=cast.org_admin.user,
        organisation=cast.organisation,
        data=StaffData(
            full_name="Ivy Invitee",
            email="ivy@cast.example",
            job_title="Teaching Assistant",
            employment_type=EmploymentType.PERMANENT,
            start_date=date(2025, 9, 1),
            settings=[cast.primary],
            working_days={0: (None, None)},
        ),
    )


def test_an_invitation_link_sets_a_password_once(invitee, client):
    link = invitation_path(invitee.user)
    response = client.get(link, follow=True)
    assert "Welcome: choose your password" in response.content.decode()
    response = set_password_through(client, link)
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="auth.invitation_accepted", actor=invitee.user).count() == 1
    assert sign_in(Client(), "ivy@cast.example", NEW_PASSWORD).status_code == 302

    # Used once: the same link no longer works, and cannot set another password.
    again = Client()
    response = again.get(link, follow=True)
    assert not response.context["validlink"]
    assert "This link no longer works" in response.content.decode()
    response = again.post(link, {"new_password1": "another-passphrase-99", "new_password2": "another-passphrase-99"})
    invitee.user.refresh_from_db()
    assert invitee.user.check_password(NEW_PASSWORD)


def test_an_invitee_whose_link_expired_can_ask_for_a_new_one(invitee, client):
    """The expired-link page sends people to password reset: it must work before any password is set."""
    assert not invitee.user.has_usable_password()
    client.post(reverse("accounts:password-reset"), {"email": "ivy@cast.example"})
    [message] = mail.outbox
    set_password_through(client, link_in(message, "reset"))
    assert sign_in(Client(), "ivy@cast.example", NEW_PASSWORD).status_code == 302


def test_an_invitee_cannot_sign_in_before_setting_a_password(invitee, client):
    assert sign_in(client, "ivy@cast.example", "").status_code == 200
    assert sign_in(client, "ivy@cast.example", "anything-at-all").status_code == 200
    assert signed_in_as(client) is None


# Security headers and the Content Security Policy


@pytest.mark.parametrize("signed_in", [False, True], ids=["login-page", "home-page"])
def test_security_headers(cast, client, signed_in):
    if signed_in:
        client.force_login(cast.supervisee.user)
    response = client.get(reverse("home") if signed_in else LOGIN_URL)
    assert response.status_code == 200
    policy = dict(
        (directive.split(" ", 1) + [""])[:2]
        for directive in (d.strip() for d in response["Content-Security-Policy"].split(";"))
    )
    assert policy["script-src"] == "'self'"
    assert policy["default-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def _project_templates():
    roots = [settings.BASE_DIR / "templates"]
    roots += [p for p in settings.BASE_DIR.glob("*/templates") if (p.parent / "apps.py").exists()]
    files = sorted(path for root in roots for path in root.rglob("*.html"))
    assert files, "no templates found"
    return files


SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.I)
# onclick=, onload=... and htmx's hx-on, which evaluates its value as script.
EVENT_HANDLER = re.compile(r"<[a-z][^>]*?\s(on[a-z]+|hx-on[:\w-]*)\s*=", re.I | re.S)


@pytest.mark.parametrize("path", _project_templates(), ids=lambda p: str(p.relative_to(settings.BASE_DIR)))
def test_no_template_has_inline_script(path):
    text = path.read_text()
    inline = [attrs for attrs in SCRIPT_TAG.findall(text) if "src=" not in attrs]
    assert inline == [], "inline <script> (the Content Security Policy blocks it): move it to static/js"
    handler = EVENT_HANDLER.search(text)
    assert handler is None, f"inline event handler {handler.group(1)}=: use static/js/app.js"


def test_the_template_scan_finds_inline_script():
    assert [
        a
        for a in SCRIPT_TAG.findall('<script src="/static/a.js"></script><script>alert(1)</script>')
        if "src=" not in a
    ] == [""]
    assert EVENT_HANDLER.search('<button class="btn" onclick="go()">')
    assert EVENT_HANDLER.search('<form hx-on::after-request="reset()">')
    assert not EVENT_HANDLER.search('<a href="/" data-confirm="Sure?">Go on</a>')
