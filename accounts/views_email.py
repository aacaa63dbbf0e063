"""A change of sign-in address: the person's own page, the links in the two emails, and an admin's
approval (where the person's address is gone) or withdrawal. The rules are in accounts/email_change.py."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from .access import get_staff_for_admin, org_admin_required, staff_required
from .email_change import (
    change_to_confirm,
    change_to_verify,
    email_change_cancel,
    email_change_complete,
    email_change_confirm,
    open_change,
)
from .forms_email import EmailChangeAdminForm, EmailChangeDecisionForm
from .models import EmailChange
from .reauth import confirm_password


def _errors(error: ValidationError) -> str:
    return " ".join(error.messages)


@staff_required
@require_http_methods(["GET", "POST"])
def email_change_mine(request):
    """The signed-in person's own answer to a change of their address; confirming takes their password."""
    change = open_change(request.staff)
    waiting = change if change is not None and change.status == EmailChange.Status.AWAITING_PERSON else None
    form = EmailChangeDecisionForm(request.POST or None, needs_password=True)
    if request.method == "POST" and waiting is not None and form.is_valid():
        if form.cleaned_data["decision"] == "refuse":
            email_change_cancel(change=waiting, actor=request.user, refused=True, request=request)
            messages.success(request, "Refused: your address stays as it is.")
            return redirect("home")
        try:
            # Outside the service's transaction: a wrong password counts towards the lockout.
            confirm_password(
                user=request.user,
                password=form.cleaned_data["password"],
                request=request,
                purpose="staff.email_change_confirm",
                password_only=True,
                obj=request.staff,
            )
            email_change_confirm(
                change=waiting, by=EmailChange.ConfirmedBy.SESSION, actor=request.user, request=request
            )
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                for field, errors in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, error)
        else:
            messages.success(request, f"Confirmed. We have sent a link to {waiting.new_email}: follow it to finish.")
            return redirect("home")
    return render(request, "accounts/email_change.html", {"change": change, "waiting": waiting, "form": form})


@require_http_methods(["GET", "POST"])
def email_change_confirm_link(request, token):
    """The link sent to the current address. Opening it changes nothing (mail scanners open links)."""
    change = change_to_confirm(token)
    form = EmailChangeDecisionForm(request.POST or None, needs_password=False)
    if change is not None and request.method == "POST" and form.is_valid():
        if form.cleaned_data["decision"] == "refuse":
            email_change_cancel(change=change, actor=None, refused=True, request=request)
            messages.success(request, "Refused: your address stays as it is.")
            return redirect("accounts:login")
        try:
            email_change_confirm(change=change, by=EmailChange.ConfirmedBy.OLD_ADDRESS, request=request)
        except ValidationError as error:
            messages.error(request, _errors(error))
            return redirect("accounts:login")
        messages.success(request, f"Confirmed. We have sent a link to {change.new_email}: follow it to finish.")
        return redirect("accounts:login")
    return render(request, "accounts/email_change_link.html", {"change": change, "form": form, "step": "confirm"})


@require_http_methods(["GET", "POST"])
def email_change_verify_link(request, token):
    """The link sent to the new address: following it (a POST) makes the new address the sign-in."""
    change = change_to_verify(token)
    if change is not None and request.method == "POST":
        try:
            email_change_complete(change=change, request=request)
        except ValidationError as error:
            messages.error(request, _errors(error))
            return redirect("accounts:login")
        messages.success(request, f"Done. Sign in with {change.new_email} from now on.")
        return redirect("accounts:login")
    return render(request, "accounts/email_change_link.html", {"change": change, "step": "verify"})


@org_admin_required
@require_POST
def staff_email_change(request, code):
    """Withdraw a pending change, or approve it as a second admin where the person's address is gone."""
    staff = get_staff_for_admin(request.staff, code)
    change = open_change(staff)
    if change is None:
        messages.info(request, "No change of address is waiting.")
        return redirect("accounts:staff-edit", code=staff.code)
    form = EmailChangeAdminForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose whether to approve or cancel the change.")
    elif form.cleaned_data["action"] == "cancel":
        email_change_cancel(change=change, actor=request.user, request=request)
        messages.success(request, f"Cancelled: {staff.full_name} keeps signing in with {staff.email}.")
    else:
        try:
            email_change_confirm(change=change, by=EmailChange.ConfirmedBy.SECOND_ADMIN, actor=request.user,
                                 request=request)  # fmt: skip
        except ValidationError as error:
            messages.error(request, _errors(error))
        else:
            messages.success(request, f"Approved. {change.new_email} takes effect once it is verified from its inbox.")
    return redirect("accounts:staff-edit", code=staff.code)
