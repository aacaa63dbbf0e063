"""Our wording, not Django's defaults, and plurals and dates that read right (issue 16)."""

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from supervision.dashboard import Dashboard, Listing
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

DJANGO_WORDS = ("New password confirmation", "case-sensitive", "Old password", "didn’t match", "didn't match")
NEW_PASSWORD = "a-long-new-passphrase-41"


def _no_django_words(html):
    assert [words for words in DJANGO_WORDS if words in html] == []


def test_the_password_change_page_asks_to_type_the_new_password_again(cast, login):
    client = login(cast.supervisee)
    page = client.get(reverse("accounts:password-change")).content.decode()
    assert "Type the new password again" in page and "Current password" in page
    _no_django_words(page)
    response = client.post(
        reverse("accounts:password-change"),
        {"old_password": cast.password, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD + "x"},
    )
    page = response.content.decode()
    assert "The two new passwords are not the same. Type the new password again." in page
    _no_django_words(page)


def test_the_reset_link_page_uses_our_words(cast):
    user = cast.supervisee.user
    url = reverse(
        "accounts:password-reset-confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    client = Client()
    page = client.get(url, follow=True)
    html = page.content.decode()
    assert "Type the new password again" in html
    _no_django_words(html)
    response = client.post(page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": "other"})
    assert "The two new passwords are not the same" in response.content.decode()


def test_a_wrong_password_at_sign_in_says_so_in_our_words(cast):
    response = Client().post(reverse("accounts:login"), {"username": cast.supervisee.user.email, "password": "wrong"})
    html = response.content.decode()
    assert "Enter the correct email address and password" in html
    _no_django_words(html)


def test_the_coverage_tile_counts_one_agreement_in_the_singular():
    one = [SimpleNamespace(signed=True)]
    assert Dashboard.tile_for(SimpleNamespace(running=True), "coverage", Listing(rows=one)).label == (
        "held and signed so far (1 of 1 agreement)"
    )
    two = [SimpleNamespace(signed=True), SimpleNamespace(signed=False)]
    tile = Dashboard.tile_for(SimpleNamespace(running=False), "coverage", Listing(rows=two))
    assert tile.label == "held and signed (1 of 2 agreements)"


def test_the_admins_home_says_one_leaver(cast, login):
    StaffFactory(
        organisation=cast.organisation, settings=[cast.primary], leaving_date=timezone.localdate() - timedelta(days=3)
    )
    html = login(cast.org_admin).get("/").content.decode()
    assert re.search(r'stat-number">1</span><span class="stat-label">leaver<', html)


def test_exports_give_the_weekday_with_each_date(cast, login):
    response = login(cast.org_admin).get("/exports/compliance.csv")
    csv = b"".join(response.streaming_content).decode("utf-8-sig")
    assert re.search(r"As of,(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} [A-Z][a-z]{2} \d{4}", csv)
    assert not re.search(r"\d{4}-\d{2}-\d{2}", csv)
    response = login(cast.org_admin).get("/audit/?format=csv")
    trail = b"".join(response.streaming_content).decode("utf-8-sig")
    first_event = trail.splitlines()[1]
    assert re.match(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d,", first_event)
