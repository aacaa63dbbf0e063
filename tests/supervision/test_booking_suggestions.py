"""Issue 16: the booking page's suggested free times are buttons, as on the rebook page (one partial), which
fill in the form's date and time; without JavaScript the button reloads the page with them filled in."""

import re

import pytest
import time_machine

from supervision import services
from supervision.models import Session
from tests.supervision.helpers import signed_contract

pytestmark = pytest.mark.django_db


@time_machine.travel("2025-11-03 08:00 +0000")
def test_the_suggested_times_are_buttons_that_fill_the_form(cast, login):
    services.ensure_calendar(cast.organisation)
    contract = signed_contract(cast.supervisee, cast.supervisor)
    client = login(cast.supervisor)
    html = client.get(f"/calendar/book/?contract={contract.code}").content.decode()
    suggestions = html.split('id="suggest-heading"')[1]
    buttons = re.findall(r'<button[^>]*data-fill-date="([\d-]+)" data-fill-time="([\d:]+)"[^>]*>Use this time', html)
    assert len(buttons) == 3
    day, hour = buttons[0]
    assert f'<input type="hidden" name="contract" value="{contract.code}">' in suggestions
    assert f'<input type="hidden" name="date" value="{day}">' in suggestions and 'method="get"' in suggestions

    # Pressed without JavaScript: the same page, the time filled in, nothing booked yet.
    filled = client.get(f"/calendar/book/?contract={contract.code}&date={day}&time={hour}").content.decode()
    assert re.search(rf'<input type="date" name="date" value="{day}"', filled)
    assert re.search(rf'<input type="time" name="time" value="{hour}"', filled)
    assert not Session.objects.exists()
    # Nonsense in the address is ignored, not an error.
    assert client.get(f"/calendar/book/?contract={contract.code}&date=soon&time=25:99").status_code == 200


@time_machine.travel("2025-11-03 08:00 +0000")
def test_a_groups_suggested_times_keep_the_group(cast, login):
    services.ensure_calendar(cast.organisation)
    group = services.group_create(
        actor=cast.head, name="Team around a child", setting=cast.primary, supervisor=cast.dsl,
        members=[cast.supervisee, cast.supervisor, cast.head], confidentiality_boundaries="Stays in the room.",
    )  # fmt: skip
    html = login(cast.dsl).get(f"/calendar/book/?group={group.code}").content.decode()
    suggestions = html.split('id="suggest-heading"')[1]
    assert f'<input type="hidden" name="group" value="{group.code}">' in suggestions
    assert "Use this time" in suggestions
