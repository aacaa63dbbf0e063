"""Who may reach a record. Strangers get 404.

Participants: the supervisor (writes, signs last) and the people supervised (read, comment, sign).
Heads and DSLs reach the narrative only through reasoned access (a later issue); until then they see
flags and safeguarding decisions of their settings through `/records/safeguarding/`, never the notes.
"""

from django.shortcuts import get_object_or_404

from accounts.models import StaffMember

from .models import Record


def get_record_for_user(staff: StaffMember, code) -> tuple[Record, str]:
    """(record, capacity) with capacity "supervisor" or "supervisee"; 404 for anyone else."""
    record = get_object_or_404(
        Record.objects.filter(organisation_id=staff.organisation_id)
        .of_participant(staff)
        .select_related(
            "session__setting",
            "session__group",
            "session__contract__supervisee__user",
            "supervisor__user",
            "template_version__template",
            "organisation",
            "previous_record__session",
        ),
        code=code,
    )
    capacity = "supervisor" if record.supervisor_id == staff.id else "supervisee"
    return record, capacity
