"""Issue 16, fault 5: the caseload, the planner and the agreement pages say the same about when an
agreement is due and how often (one rule, rules.py, in one wording)."""

from datetime import date

import pytest
import time_machine
from django.urls import reverse

from accounts.models import EmploymentType
from supervision import services
from supervision.models import Contract, HalfTerm
from supervision.planner import plan_half_term
from supervision.rules import frequency_wording
from tests.factories import StaffFactory
from tests.supervision.helpers import signed_contract

pytestmark = pytest.mark.django_db

NOT_DUE = "not due until Mon 29 Dec 2025"
FREQUENCY = "Monthly while new to post (agreement: half-termly)"


@pytest.fixture
def newcomer(cast):
    """An agency teaching assistant, new to post, who started on Mon 24 Nov 2025: owed supervision after
    5 weeks in post, so not in Autumn 2 (which ends before Mon 29 Dec)."""
    services.calendar_generate_default(organisation=cast.organisation, start_year=2025)
    person = StaffFactory(
        organisation=cast.organisation, settings=[cast.primary], employment_type=EmploymentType.AGENCY,
        start_date=date(2025, 11, 24), new_to_post=True, user__full_name="Ava Agency",
    )  # fmt: skip
    return signed_contract(person, cast.supervisor, start=date(2025, 11, 24))


@time_machine.travel(date(2025, 11, 26).isoformat() + "T09:00:00+00:00", tick=False)
def test_the_caseload_says_what_the_planner_says(cast, login, newcomer):
    half_term = HalfTerm.objects.current_or_next(cast.organisation, date(2025, 11, 26))
    plan = plan_half_term(organisation=cast.organisation, half_term=half_term, contracts=Contract.objects.all())
    (unplaced,) = [u for u in plan.unplaced if u.contract.pk == newcomer.pk]
    assert unplaced.reason.startswith(NOT_DUE)

    page = " ".join(login(cast.supervisor).get(reverse("supervision:calendar")).content.decode().split())
    row = page[page.index("Ava Agency") :]
    row = row[: row.index("</tr>")]
    assert "Not due until Mon 29 Dec 2025" in row and "Not booked this half term" not in row
    assert FREQUENCY in row
    # Nothing to book before they are due: no Book button on their row.
    assert f"?contract={newcomer.code}" not in row


def test_the_agreement_pages_word_the_frequency_the_same(cast, login, newcomer):
    client = login(cast.supervisor)
    detail = client.get(reverse("supervision:contract-detail", args=[newcomer.code])).content.decode()
    assert FREQUENCY in detail
    listing = client.get(reverse("supervision:contract-list")).content.decode()
    assert FREQUENCY in listing


def test_a_running_override_says_until_when(cast, newcomer):
    services.override_add(
        actor=cast.supervisor, contract=newcomer, frequency="weekly", reason="Complex child-protection work",
        starts=date(2025, 12, 1), ends=date(2026, 1, 30),
    )  # fmt: skip
    assert frequency_wording(newcomer, date(2025, 12, 2)) == "Weekly until Fri 30 Jan 2026 (agreement: half-termly)"
    # Once it ends, new to post still raises it.
    assert frequency_wording(newcomer, date(2026, 2, 2)) == FREQUENCY
    newcomer.supervisee.new_to_post = False
    assert frequency_wording(newcomer, date(2026, 2, 2)) == "Half-termly"
