from celery import shared_task
from django.conf import settings

from .emails import send_templated_email
from .models import StaffMember


@shared_task(name="accounts.send_invitation")
def send_invitation(staff_id: int) -> None:
    from .services import invitation_path

    staff = StaffMember.objects.select_related("user", "organisation").filter(id=staff_id).first()
    if staff is None or not staff.user.is_active:
        return
    send_templated_email(
        "invitation",
        staff.user.email,
        {"staff": staff, "link": settings.SITE_URL + invitation_path(staff.user)},
    )
