"""Issue 16: the demo's reminders lead to the exact item, as the sweep's do, and its safeguarding escalation
names the child reference."""

import pytest

from records.models import Record, RecordStatus, SafeguardingDecision
from supervision.models import Notification

from .test_demo import demo  # noqa: F401 (the module's seeded demo trust)

pytestmark = pytest.mark.django_db


def test_the_demo_reminders_lead_to_the_exact_item(demo):  # noqa: F811
    reminders = {n.object_code: n for n in Notification.objects.filter(object_type="demo")}
    record = Record.objects.get(
        status=RecordStatus.AWAITING_SUPERVISEE, session__contract__supervisee__user__email="staff@riverside.example"
    )
    assert reminders["record"].url == f"/records/{record.code}/"
    assert reminders["agenda"].url.startswith("/sessions/")
    assert reminders["overdue"].url.startswith("/calendar/book/?contract=")
    decision = SafeguardingDecision.objects.awaiting_confirmation().get()
    escalation = reminders["decision"]
    assert escalation.url == f"/records/safeguarding/?decision={decision.code}#decision-{decision.code}"
    assert decision.child_reference in escalation.body and decision.child_reference not in escalation.title
    assert escalation.recipient.user.email == "dsl@riverside.example"
