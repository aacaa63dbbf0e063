from celery import shared_task
from django.conf import settings

from .emails import send_templated_email
from .models import StaffMember


@shared_task(name="accounts.send_invitation")
def send_invitation(staff_id: int) -> None:
    from .services import invitation_path

    staff = StaffMember.objects.select_related("user", "organisation").filter(id=staff_id).first()
    if staff is None or not staff.user.is_active or staff.user.has_usable_password():
        return
    send_templated_email(
        "invitation",
        staff.user.email,
        {"staff": staff, "link": settings.SITE_URL + invitation_path(staff.user)},
    )


@shared_task(name="accounts.send_email_change_email")
def send_email_change_email(change_id: int, kind: str) -> None:
    """ "requested" and "done" go to the person's old address; "verify" carries the link to the new one."""
    from .email_change import confirm_path, verify_path
    from .models import EmailChange

    change = EmailChange.objects.select_related("staff__user", "staff__organisation").filter(id=change_id).first()
    if change is None:
        return
    context = {"change": change, "staff": change.staff}
    if kind == "requested":
        if change.status != EmailChange.Status.AWAITING_PERSON:
            return
        to, context["link"] = change.old_email, settings.SITE_URL + confirm_path(change)
    elif kind == "verify":
        if change.status != EmailChange.Status.AWAITING_NEW_ADDRESS:
            return
        to, context["link"] = change.new_email, settings.SITE_URL + verify_path(change)
    elif kind == "done":
        to = change.old_email
    else:
        raise ValueError(kind)
    send_templated_email(f"email_change_{kind}", to, context)


@shared_task(name="accounts.send_second_factor_reset_email")
def send_second_factor_reset_email(staff_id: int, actor_id: int) -> None:
    """Tells the person their second factor was removed, and by whom."""
    staff = StaffMember.objects.select_related("user", "organisation").filter(id=staff_id).first()
    actor = StaffMember.objects.select_related("user").filter(id=actor_id).first()
    if staff is None or not staff.user.is_active:
        return
    send_templated_email("second_factor_reset", staff.user.email, {"staff": staff, "actor": actor})


@shared_task(name="accounts.run_staff_import", acks_late=True)
def run_staff_import(job_id: int) -> None:
    """A large staff import (accounts/import_jobs.py); safe to deliver twice."""
    from .import_jobs import staff_import_job_run

    try:
        staff_import_job_run(job_id)
    except Exception as error:
        from .import_jobs import StaffImportJob, _fail

        job = StaffImportJob.objects.filter(pk=job_id).first()
        if job is not None:
            _fail(job, f"The import stopped ({type(error).__name__}); what was saved before stays: run it again.")
        raise
