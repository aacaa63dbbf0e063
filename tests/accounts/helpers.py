"""Builders shared by the staff page tests."""


def edit_form_data(staff, **overrides):
    """What the staff edit form posts back when nothing is touched; an override of None leaves a field out."""
    data = {
        "full_name": staff.user.full_name,
        "email": staff.user.email,
        "job_title": staff.job_title,
        "settings": [s.pk for s in staff.settings.all()],
        "employment_type": staff.employment_type,
        "start_date": staff.start_date.isoformat(),
        "leaving_date": staff.leaving_date.isoformat() if staff.leaving_date else "",
        "supervisor": staff.supervisor_id or "",
    }
    for day in staff.working_days.all():
        data[f"day_{day.weekday}_works"] = "on"
    if staff.new_to_post:
        data["new_to_post"] = "on"
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}
