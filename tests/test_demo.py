"""The demo trust `make run` seeds: the whole of it in one transaction, once, telling the stories the
product shows (a realistic dashboard: mostly compliant, some overdue, a few unsigned)."""

import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import StaffMember
from records.models import Record, RecordStatus
from supervision.dashboard import Dashboard, default_half_term
from supervision.models import Contract, HalfTerm

from .conftest import module_transaction

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """Seeded once for the module (it takes a while) inside a transaction rolled back at the end; each
    test runs in a savepoint of it and reads the demo."""
    with module_transaction(django_db_blocker) as building:
        out = io.StringIO()
        with building():
            call_command("seed_demo", stdout=out)
        yield out.getvalue()


def _trust_dashboard(half_term=None):
    admin = StaffMember.objects.get(user__email="admin@riverside.example")
    today = timezone.localdate()
    half_terms = list(HalfTerm.objects.filter(organisation=admin.organisation).select_related("academic_year"))
    return Dashboard(
        viewer=admin,
        half_term=half_term or default_half_term(half_terms, today),
        settings=list(admin.organisation.settings.all()),
        whole_organisation=True,
        half_terms=half_terms,
        today=today,
    )


def test_prints_a_sign_in_for_each_role_and_a_second_run_changes_nothing(demo):
    for email in ("admin@", "head@", "dsl@", "supervisor@", "staff@", "auditor@"):
        assert f"{email}riverside.example" in demo
    counts = (Contract.objects.count(), Record.objects.count())
    out = io.StringIO()
    call_command("seed_demo", "--quiet-logins", stdout=out)
    assert "already exists" in out.getvalue()
    assert (Contract.objects.count(), Record.objects.count()) == counts


def test_coverage_over_six_half_terms_is_mostly_compliant(demo):
    history = _trust_dashboard().coverage_history()
    assert len(history) == 6
    ended = history[:-1]
    for point in ended:
        covered, owed = point["overall"]
        assert owed >= 25, point
        assert 0.75 <= covered / owed < 1, point  # mostly, not all


def test_some_overdue_last_half_term_and_amy_among_them(demo):
    dash = _trust_dashboard()
    last_ended = [h for h in dash.history if h.ends < dash.today][-1]
    overdue = dash.overdue(last_ended)
    assert 1 <= len(overdue) <= 4
    amy = next(r for r in overdue if r.contract.supervisee.user.email == "amy.hughes@riverside.example")
    assert amy.days_overdue > 0
    # Her supervisor is Sarah, not the DSL: the DSL's journey reads it with a reason.
    assert amy.contract.supervisor.user.email == "supervisor@riverside.example"


def test_a_few_unsigned_one_review_due_nothing_long_forgotten(demo):
    dash = _trust_dashboard()
    assert 1 <= len(dash.awaiting_signature()) <= 12
    assert len(dash.agreements_unsigned()) == 1
    assert [r.contract.supervisee.user.email for r in dash.review_due()] == ["amy.hughes@riverside.example"]
    assert dash.review_overdue() == []
    # Actions are reviewed at the next session: a handful overdue, not one per record.
    assert 1 <= len(dash.overdue_actions()) <= 15
    assert len(dash.safeguarding_decisions()) == 1


def test_older_agreements_were_renewed_at_the_start_of_the_year(demo):
    renewed = Contract.objects.filter(previous__isnull=False)
    assert renewed.count() >= 25
    for contract in renewed.select_related("previous"):
        assert contract.previous.end_date < contract.start_date
        assert contract.is_signed


def test_every_record_state_is_there(demo):
    statuses = set(Record.objects.values_list("status", flat=True))
    assert statuses == set(RecordStatus.values)


DEMO_PAGES = {
    # Each printed sign-in, and the pages of their role that must open for them.
    "admin@riverside.example": ["/", "/staff/", "/dashboard/", "/audit/", "/records/grants/", "/exports/"],
    "head@riverside.example": ["/", "/dashboard/", "/records/safeguarding/", "/records/grants/", "/calendar/"],
    "dsl@riverside.example": ["/", "/dashboard/", "/records/safeguarding/", "/records/"],
    "supervisor@riverside.example": ["/", "/calendar/", "/calendar/plan/", "/records/", "/actions/"],
    "staff@riverside.example": ["/", "/records/", "/actions/", "/exports/", "/accounts/email/"],
    # The demo auditor's grant was asked for by the admin and approved by the head (issue 11).
    "auditor@riverside.example": ["/", "/records/grants/", "/dashboard/", "/audit/", "/exports/"],
}


@pytest.mark.parametrize("email", list(DEMO_PAGES))
def test_every_demo_sign_in_works_and_opens_its_pages(demo, client, settings, email):
    response = client.post("/accounts/login/", {"username": email, "password": settings.DEMO_PASSWORD})
    assert response.status_code == 302, response.content.decode()[:2000]
    for url in DEMO_PAGES[email]:
        assert client.get(url).status_code == 200, (email, url)


def test_the_demo_admin_is_not_shown_the_setup_checklist(demo, client, settings):
    # The demo trust is set up already: its admin's home starts with the work, not with "Setting up".
    client.post("/accounts/login/", {"username": "admin@riverside.example", "password": settings.DEMO_PASSWORD})
    response = client.get("/")
    assert response.status_code == 200
    assert b'id="setup-checklist"' not in response.content


def test_the_demo_auditor_home_shows_a_live_grant(demo, client, settings):
    # Approved by a second person through the services, so the auditor's journey can be tried at once.
    client.post("/accounts/login/", {"username": "auditor@riverside.example", "password": settings.DEMO_PASSWORD})
    response = client.get("/")
    [grant] = response.context["grants"].live
    assert grant.approved_by.user.email == "head@riverside.example"
    assert grant.granted_by.user.email == "admin@riverside.example"
    page = response.content.decode()
    section = page[page.index('id="grants"') :]
    assert "Annual safeguarding audit of the primary school" in section
    assert "Riverside Primary School · sessions from" in section
    assert "open until" in section
