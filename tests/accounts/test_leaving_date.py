"""Issue 11, finding 8 (first half): a leaving date before the person's last held session is refused,
with a message beside the field and nothing changed, on the leaver page and on the person's page.
(A leaving date set to the start date by mistake made the retention sweep delete a current employee's
records.)"""

from datetime import date

import pytest
import time_machine
from django.urls import reverse

from accounts.forms import StaffForm
from accounts.models import AuditEvent, StaffMember
from tests.records.helpers import held_session, written_record

pytestmark = pytest.mark.django_db

NOW = "2026-03-04 10:00 +0000"


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(NOW, tick=False):
        yield


def leaver_url(staff):
    return reverse("accounts:staff-leaver", kwargs={"code": staff.code})


def edit_url(staff):
    return reverse("accounts:staff-edit", kwargs={"code": staff.code})


def test_a_leaving_date_before_the_last_held_session_is_refused(cast, login):
    written_record(cast, days_ago=2)  # held on Mon 2 Mar 2026
    client = login(cast.org_admin)

    response = client.post(leaver_url(cast.supervisee), {"leaving_date": cast.supervisee.start_date.isoformat()})

    assert response.status_code == 200
    errors = response.context["form"].errors["leaving_date"]
    assert errors == [
        "Sid Supervisee was in a supervision session held on Mon 2 Mar 2026: the leaving date cannot be "
        "before their last held session."
    ]
    assert "Mon 2 Mar 2026" in response.content.decode()
    assert StaffMember.objects.get(pk=cast.supervisee.pk).leaving_date is None
    assert not AuditEvent.objects.filter(action="staff.leaver_marked").exists()


def test_the_supervisor_is_protected_too(cast, login):
    written_record(cast, days_ago=2)
    response = login(cast.org_admin).post(leaver_url(cast.supervisor), {"leaving_date": "2026-03-01"})
    assert "leaving date cannot be before their last held session" in response.content.decode()
    assert StaffMember.objects.get(pk=cast.supervisor.pk).leaving_date is None


def test_the_day_of_the_last_session_or_later_is_accepted(cast, login):
    written_record(cast, days_ago=2)
    response = login(cast.org_admin).post(leaver_url(cast.supervisee), {"leaving_date": "2026-03-02"})
    assert response.status_code == 302
    assert StaffMember.objects.get(pk=cast.supervisee.pk).leaving_date == date(2026, 3, 2)


def test_sessions_not_held_do_not_count(cast, login):
    """A scheduled (or cancelled) session is not evidence that they were still working."""
    held_session(cast, days_ago=-7)  # booked for next week, not held
    response = login(cast.org_admin).post(leaver_url(cast.supervisee), {"leaving_date": "2026-02-27"})
    assert response.status_code == 302


def test_the_persons_page_refuses_it_too(cast, login):
    written_record(cast, days_ago=2)
    client = login(cast.org_admin)
    data = StaffForm.initial_from(cast.supervisee)
    post = {
        "full_name": data["full_name"],
        "email": data["email"],
        "job_title": data["job_title"],
        "settings": [s.pk for s in data["settings"]],
        "employment_type": data["employment_type"],
        "start_date": data["start_date"].isoformat(),
        "leaving_date": data["start_date"].isoformat(),
        "supervisor": data["supervisor"] or "",
        **{f"day_{d}_works": "on" for d in range(5)},
    }

    response = client.post(edit_url(cast.supervisee), post)

    assert response.status_code == 200
    assert "leaving date cannot be before their last held session" in str(response.context["form"].errors)
    assert StaffMember.objects.get(pk=cast.supervisee.pk).leaving_date is None
    assert not AuditEvent.objects.filter(action="staff.updated").exists()

    post["leaving_date"] = "2026-03-31"
    assert client.post(edit_url(cast.supervisee), post).status_code == 302
    assert StaffMember.objects.get(pk=cast.supervisee.pk).leaving_date == date(2026, 3, 31)
