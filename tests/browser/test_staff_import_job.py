"""A large staff import followed in the browser: the page polls its status and shows the result without
a reload, under the Content Security Policy (issue 15)."""

import pytest
from django.conf import settings
from django.utils import timezone

from accounts import demo
from accounts.import_jobs import staff_import_job_run
from accounts.models import StaffImportJob, StaffMember

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_progress_page_follows_the_job_to_its_result(page):
    demo.seed_people(timezone.localdate())
    admin = StaffMember.objects.get(user__email="admin@riverside.example")
    text = (settings.BASE_DIR / "docs" / "staff-import-sample.csv").read_text()
    job = StaffImportJob.objects.create(organisation=admin.organisation, requested_by=admin, text=text)

    sign_in(page, "admin@riverside.example", settings.DEMO_PASSWORD)
    page.goto(f"/staff/import/jobs/{job.code}/")
    assert page.get_by_text("Waiting for a worker to start it.").is_visible()

    staff_import_job_run(job.id)  # the worker
    page.get_by_text("Back to the staff list").wait_for()  # polled in, no reload
    job.refresh_from_db()
    counts = page.locator("#import-counts").inner_text()
    assert f"Rows added\n{job.created}" in counts and job.created > 0
    assert page.get_by_role("progressbar").get_attribute("aria-valuenow") == "100"
