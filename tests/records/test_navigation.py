"""The navigation bar by role (issue 16): each person's daily pages top-level, not under "More", and an
auditor's dashboard and audit trail shown only while a grant is live."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from records.models import AuditorGrant
from records.oversight import auditor_grant_approve, auditor_grant_create

pytestmark = pytest.mark.django_db


def _nav(login, staff):
    response = login(staff).get("/")
    assert response.status_code == 200
    top = [label for _name, label, _icon in response.context["nav_items"]]
    more = [label for _name, label, _icon in response.context["nav_more"]]
    return top, more, response.content.decode()


def _live_grant(cast):
    grant = auditor_grant_create(
        actor=cast.org_admin, auditor=cast.auditor, settings=[cast.primary], covers_from=date(2020, 1, 1),
        covers_until=date(2030, 1, 1), expires_at=timezone.now() + timedelta(days=30), purpose="Inspection",
    )  # fmt: skip
    return auditor_grant_approve(actor=cast.head, grant=grant)


def test_an_auditor_without_a_live_grant_sees_no_dashboard_or_audit_trail(cast, login):
    top, more, html = _nav(login, cast.auditor)
    assert "Dashboard" not in top + more
    assert "Audit trail" not in top + more
    # What they can still use: asking about their grants, and their exports.
    assert {"Auditor access", "Exports"} <= set(top)
    assert 'href="/dashboard/"' not in html and 'href="/audit/"' not in html


def test_an_auditor_with_a_live_grant_has_their_pages_top_level(cast, login):
    _live_grant(cast)
    top, more, _html = _nav(login, cast.auditor)
    assert {"Dashboard", "Auditor access", "Exports", "Audit trail"} <= set(top)
    assert not {"Auditor access", "Exports", "Audit trail"} & set(more)


def test_an_expired_grant_hides_the_auditors_dashboard_again(cast, login):
    grant = _live_grant(cast)
    AuditorGrant.objects.filter(pk=grant.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    top, more, _html = _nav(login, cast.auditor)
    assert "Dashboard" not in top + more and "Audit trail" not in top + more


def test_an_admin_has_staff_and_term_dates_top_level(cast, login):
    top, more, _html = _nav(login, cast.org_admin)
    assert {"Dashboard", "Staff", "Term dates"} <= set(top)
    assert not {"Staff", "Term dates"} & set(more)
    assert {"Audit trail", "Exports", "Auditor access"} <= set(more)


def test_a_dsl_has_safeguarding_follow_up_top_level(cast, login):
    top, more, _html = _nav(login, cast.dsl)
    assert "Safeguarding follow-up" in top and "Safeguarding follow-up" not in more
    assert "Staff" not in top + more


def test_a_supervisee_sees_only_their_own_pages(cast, login):
    top, more, _html = _nav(login, cast.supervisee)
    assert top == ["Calendar", "Records", "Actions", "Agreements"]
    assert more == ["Informal notes", "Groups"]
