"""The badges the dashboard's lists build in Python and the agreement and decision pages render through the
same template tags: each wording and tone, once."""

import pytest
from django.template import Context, Template

from supervision.templatetags.dashboard_badges import contract_status_badge, decision_waiting


@pytest.mark.parametrize(
    ("status", "html"),
    [
        ("active", '<span class="badge text-bg-success">Active</span>'),
        ("awaiting signatures", '<span class="badge text-bg-warning">Awaiting signatures</span>'),
        ("review due", '<span class="badge text-bg-info">Review due</span>'),
        ("review overdue", '<span class="badge text-bg-danger">Review overdue</span>'),
        ("ended", '<span class="badge text-bg-secondary">Ended</span>'),
    ],
)
def test_an_agreements_status_badge(status, html):
    assert contract_status_badge(status) == html
    included = Template('{% include "supervision/includes/contract_status.html" with status=s %}')
    assert included.render(Context({"s": status})).strip() == html


@pytest.mark.parametrize(
    ("days", "text"),
    [
        (None, "Signed today"),
        (0, "Signed today"),
        (1, "1 day"),
        (2, "2 days"),
        (3, '<span class="badge text-bg-danger">3 days</span>'),
        (40, '<span class="badge text-bg-danger">40 days</span>'),
    ],
)
def test_how_long_a_decision_has_waited(days, text):
    assert decision_waiting(days) == text
    included = Template('{% include "records/includes/decision_waiting.html" with days=d %}')
    assert included.render(Context({"d": days})).strip() == text
