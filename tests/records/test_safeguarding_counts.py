"""Issue 16, fault 6: a safeguarding decision is counted alike on the safeguarding page, the key person's
actions, the dashboard and the key person's notification centre: once its record is signed (see
SafeguardingDecision.objects.awaiting_confirmation and docs/decisions.md), and its wait is worded alike,
counted from the signing."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from records import services
from supervision.slots import LONDON
from tests.factories import PASSWORD

from .helpers import written_record

pytestmark = pytest.mark.django_db


def text(client, url):
    return " ".join(client.get(url).content.decode().split("<main", 1)[1].split())


def pages(cast, login):
    """What each page says: the DSL's safeguarding page and dashboard figure, the key person's actions
    and notification centre."""
    dsl = login(cast.dsl)
    safeguarding, dashboard = text(dsl, "/records/safeguarding/"), text(dsl, "/dashboard/safeguarding-decisions/")
    tile = text(dsl, "/dashboard/")
    supervisee = login(cast.supervisee)
    return safeguarding, dashboard, tile, text(supervisee, "/actions/"), text(supervisee, "/notifications/")


def test_a_decision_counts_everywhere_once_signed_and_its_wait_reads_alike(cast, login):
    signed_on = timezone.localdate() - timedelta(days=91)
    with time_machine.travel(timezone.datetime.combine(signed_on, timezone.datetime.min.time(), LONDON)
                             + timedelta(hours=14), tick=False):  # fmt: skip
        record = written_record(cast, days_ago=1)
        services.decision_add(
            actor=cast.supervisor, record=record, child_reference="CP-0042", decision="Refer to early help",
            key_person=cast.supervisee,
        )  # fmt: skip
    safeguarding, dashboard, tile, actions, notifications = pages(cast, login)
    # In a draft it may still change: nowhere yet, and the key person's centre has nothing to ask.
    assert "CP-0042" not in safeguarding and "CP-0042" not in actions
    assert 'stat-number">0</span> <span class="stat-label">safeguarding decisions not on the child' in tile
    assert "Nothing needs your attention" in notifications and 'id="decisions-to-confirm"' not in notifications

    with time_machine.travel(timezone.datetime.combine(signed_on, timezone.datetime.min.time(), LONDON)
                             + timedelta(hours=15), tick=False):  # fmt: skip
        services.record_submit(actor=cast.supervisor, record=record)
        services.record_sign(actor=cast.supervisee, record=record, password=PASSWORD)
        services.record_sign(actor=cast.supervisor, record=record, password=PASSWORD)
    safeguarding, dashboard, tile, actions, notifications = pages(cast, login)
    assert "CP-0042" in safeguarding and "CP-0042" in actions
    assert 'stat-number">1</span> <span class="stat-label">safeguarding decision not on the child' in tile
    day = signed_on.strftime("%a %-d %b %Y")
    for page in (safeguarding, dashboard, actions):
        assert "91 days" in page and day in page
        assert "today" not in page.lower().split("cp-0042")[-1][:400]
    assert "Nothing needs your attention" not in notifications
    assert "You are the key person for 1 safeguarding decision not yet confirmed" in notifications


def test_signed_today_reads_alike(cast, login):
    record = written_record(cast, days_ago=1)
    services.decision_add(
        actor=cast.supervisor, record=record, child_reference="CP-0007", decision="Tell the social worker",
        key_person=cast.supervisee,
    )  # fmt: skip
    services.record_submit(actor=cast.supervisor, record=record)
    services.record_sign(actor=cast.supervisee, record=record, password=PASSWORD)
    services.record_sign(actor=cast.supervisor, record=record, password=PASSWORD)
    safeguarding, dashboard, tile, actions, notifications = pages(cast, login)
    for page in (safeguarding, dashboard, actions):
        assert "Signed today" in page and "Made today" not in page and "made today" not in page
    assert reverse("records:action-list") in notifications
