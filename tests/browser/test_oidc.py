"""Issue 12: "Sign in with Microsoft" in a real browser, through the local OpenID Connect provider of
tests/accounts/oidc_provider.py: the link, the provider's redirect back, and the Content Security Policy
(no console errors) on the way."""

import pytest
from django.core.cache import cache
from django.utils import timezone

from accounts import demo
from tests.accounts.oidc_provider import CLIENT_ID, CLIENT_SECRET, LocalProvider

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TENANT = "5f1e0c3a-2b7d-4c9e-8a61-0d3f9b2e7c11"


@pytest.fixture
def provider(settings, live_server):
    local = LocalProvider().start()
    settings.SITE_URL = live_server.url
    settings.MICROSOFT_CLIENT_ID = CLIENT_ID
    settings.MICROSOFT_CLIENT_SECRET = CLIENT_SECRET
    settings.MICROSOFT_AUTHORITY = f"{local.base}/ms"
    cache.clear()
    yield local
    local.stop()
    cache.clear()


@pytest.fixture
def demo_trust():
    trust = demo.seed_people(timezone.localdate())
    trust.microsoft_tenant_id = TENANT
    trust.save(update_fields=["microsoft_tenant_id"])
    return trust


def test_a_supervisor_signs_in_with_microsoft(provider, demo_trust, page, live_server):
    provider.person = {"tid": TENANT, "email": "supervisor@riverside.example", "name": "Sarah"}
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with Microsoft").click()
    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_role("heading", name="Hello, Sarah").is_visible()


def test_someone_not_on_the_staff_list_is_told_why(provider, demo_trust, page, live_server):
    provider.person = {"tid": TENANT, "email": "visitor@riverside.example"}
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with Microsoft").click()
    page.wait_for_url(f"{live_server.url}/accounts/login/")
    assert page.get_by_role("alert").get_by_text("No one here signs in as visitor@riverside.example").is_visible()
