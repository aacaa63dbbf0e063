"""Issue 13: nothing a signed-in person sees is cached, and every response carries a Permissions-Policy."""

import pytest
from django.urls import reverse

from config.middleware import PERMISSIONS_POLICY

pytestmark = pytest.mark.django_db


def policy(response) -> dict[str, str]:
    return dict(item.strip().split("=", 1) for item in response["Permissions-Policy"].split(","))


@pytest.mark.parametrize(
    "url",
    ["/accounts/login/", "/accounts/password-reset/", "/healthz", "/no-such-page/", "/calendar/feed/nothing.ics"],
)
def test_anonymous_and_public_pages_carry_the_permissions_policy(client, url):
    response = client.get(url)

    assert response["Permissions-Policy"] == PERMISSIONS_POLICY
    features = policy(response)
    for feature in ("camera", "microphone", "geolocation", "payment", "usb", "serial", "hid", "display-capture"):
        assert features[feature] == "()", feature
    # Passkeys are coming: WebAuthn stays allowed in our own pages, and only there.
    assert features["publickey-credentials-get"] == "(self)"
    assert features["publickey-credentials-create"] == "(self)"


def test_signed_in_pages_and_downloads_are_never_stored(cast, login):
    client = login(cast.org_admin)
    for url in ["/", reverse("accounts:staff-list"), reverse("accounts:audit-list"), "/audit/?format=csv"]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Cache-Control"] == "no-store, private", url
        assert "Permissions-Policy" in response, url


def test_a_signed_in_error_page_is_not_stored_either(cast, login):
    response = login(cast.supervisee).get(reverse("accounts:staff-list"))
    assert response.status_code == 403
    assert response["Cache-Control"] == "no-store, private"


def test_the_answer_to_someone_who_just_signed_out_is_not_stored(cast, login):
    client = login(cast.supervisee)
    response = client.post(reverse("accounts:logout"))
    assert response["Cache-Control"] == "no-store, private"
