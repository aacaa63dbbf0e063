"""Signing in and the organisation admin's staff pages. Each person's home reads across apps, so it lives in
records (`records/views/home.py`)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.http import FileResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import import_jobs, staff_import
from .access import admin_settings, get_staff_for_admin, org_admin_required
from .audit import audit_event
from .email_change import email_change_message, email_change_request, open_change
from .forms import (
    LeaverForm,
    LegalHoldForm,
    PasswordChangeForm,
    PasswordResetForm,
    RolesForm,
    SetPasswordForm,
    SignInForm,
    StaffFilterForm,
    StaffForm,
    StaffImportForm,
)
from .imports import pending_import_store
from .models import AuditEvent, PendingImport, Role, RoleAssignment, StaffMember
from .oidc import configured_providers
from .second_factor import has_second_factor
from .services import (
    OWN_ROLES_MESSAGE,
    staff_create,
    staff_invite,
    staff_mark_leaver,
    staff_set_legal_hold,
    staff_set_roles,
    staff_update,
)
from .views_security import start_second_step


class SignInView(auth_views.LoginView):
    form_class = SignInForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        # "Sign in with Microsoft/Google" where this installation has an app registration for it.
        return super().get_context_data(**kwargs, providers=configured_providers())

    def form_valid(self, form):
        user = form.get_user()
        if has_second_factor(user):
            # The password is right; nobody is signed in until a code is right too.
            return start_second_step(
                self.request, user, self.get_redirect_url() or resolve_url(settings.LOGIN_REDIRECT_URL)
            )
        response = super().form_valid(form)
        audit_event(action="auth.signed_in", actor=user, request=self.request)
        return response


@require_POST
def sign_out(request):
    if request.user.is_authenticated:
        audit_event(action="auth.signed_out", actor=request.user, request=request)
    return auth_views.LogoutView.as_view()(request)


class PasswordResetView(auth_views.PasswordResetView):
    form_class = PasswordResetForm
    template_name = "accounts/password_reset.html"
    email_template_name = "emails/password_reset_body.txt"
    html_email_template_name = "emails/password_reset_body.html"
    subject_template_name = "emails/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password-reset-done")
    extra_email_context = None

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        form.fields["email"].label = "Email address"
        return form


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_set.html"
    form_class = SetPasswordForm
    success_url = reverse_lazy("accounts:password-reset-complete")
    extra_context = {"title": "Choose a new password"}

    def form_valid(self, form):
        response = super().form_valid(form)
        audit_event(action="auth.password_reset", actor=form.user, request=self.request)
        return response


class InvitationView(PasswordResetConfirmView):
    """The link in an invitation: set a password, then sign in."""

    extra_context = {"title": "Welcome: choose your password", "invitation": True}

    def get_user(self, uidb64):
        # An invitation is for an account nobody has set a password for yet; once one is set, the link
        # is dead even inside its three days (a forgotten password goes through the reset page).
        user = super().get_user(uidb64)
        return user if user is not None and not user.has_usable_password() else None

    def form_valid(self, form):
        response = super(PasswordResetConfirmView, self).form_valid(form)
        audit_event(action="auth.invitation_accepted", actor=form.user, request=self.request)
        messages.success(self.request, "Your password is set. Sign in with your email address and new password.")
        return response


def _today():
    from django.utils import timezone

    return timezone.localdate()


STAFF_PAGE_SIZE = 50


@org_admin_required
@require_GET
def staff_list(request):
    admin = request.staff
    settings_qs = admin_settings(admin)
    form = StaffFilterForm(request.GET or None, settings_qs=settings_qs)
    qs = StaffMember.objects.manageable_by(admin)
    status = "current"
    if form.is_valid():
        data = form.cleaned_data
        status = data.get("status") or "current"
        if data.get("q"):
            q = data["q"].strip()
            qs = qs.filter(Q(user__full_name__icontains=q) | Q(user__email__icontains=q) | Q(job_title__icontains=q))
        # Memberships and roles as subqueries, not joins: a join repeats a person once a match, and the
        # DISTINCT that removed the repeats sorted every person of the organisation on every column.
        if data.get("setting"):
            qs = qs.filter(
                pk__in=StaffMember.settings.through.objects.filter(setting=data["setting"]).values("staffmember_id")
            )
        if data.get("role"):
            qs = qs.filter(pk__in=RoleAssignment.objects.filter(role=data["role"]).values("staff_id"))
        if data.get("employment_type"):
            qs = qs.filter(employment_type=data["employment_type"])
    if status == "current":
        qs = qs.current()
    elif status == "leavers":
        qs = qs.leavers()
    elif status == "listed":
        # Leavers whose records the retention sweep has listed for deletion, in their grace period.
        qs = qs.filter(retention_deletes_on__gte=_today(), legal_hold=False)
    # The page's ids first (people and their names only), then its rows with their supervisors, settings
    # and roles: joined before the LIMIT, the supervisor's name was joined for every person.
    ids = qs.order_by("user__full_name", "id").values_list("pk", flat=True)
    page = Paginator(ids, STAFF_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = list(
        StaffMember.objects.filter(pk__in=list(page.object_list))
        .select_related("user", "supervisor__user")
        .prefetch_related(
            "settings",
            "working_days",
            Prefetch("role_assignments", queryset=RoleAssignment.objects.select_related("setting")),
        )
        .order_by("user__full_name", "id")
    )
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode(), "status": status}
    template = "accounts/includes/staff_table.html" if request.htmx else "accounts/staff_list.html"
    return render(request, template, context)


def _staff_form_kwargs(request, instance=None):
    return {
        "organisation": request.staff.organisation,
        # Closed settings are not offered; a person's membership of one is kept (`_settings_not_offered`).
        "settings_qs": admin_settings(request.staff).open(),
        "instance": instance,
    }


@org_admin_required
@require_http_methods(["GET", "POST"])
def staff_add(request):
    form = StaffForm(request.POST or None, **_staff_form_kwargs(request))
    if request.method == "POST" and form.is_valid():
        staff = staff_create(
            actor=request.user, organisation=request.staff.organisation, data=form.to_data(), request=request
        )
        if form.cleaned_data.get("send_invitation"):
            staff_invite(actor=request.user, staff=staff, request=request)
            messages.success(request, f"{staff.full_name} was added and an invitation is on its way to {staff.email}.")
        else:
            messages.success(request, f"{staff.full_name} was added.")
        return redirect("accounts:staff-edit", code=staff.code)
    return render(request, "accounts/staff_form.html", {"form": form, "title": "Add a person"})


@org_admin_required
@require_http_methods(["GET", "POST"])
def staff_edit(request, code):
    staff = get_staff_for_admin(request.staff, code)
    form = StaffForm(request.POST or None, **_staff_form_kwargs(request, staff))
    if request.method == "POST" and form.is_valid():
        data = form.to_data()
        change = None
        if data.email != staff.user.email and staff.user.has_signed_in:
            # Never applied here: it waits for the person (accounts/email_change.py).
            change = email_change_request(
                actor=request.user,
                staff=staff,
                new_email=data.email,
                old_address_gone=form.cleaned_data.get("old_address_gone", False),
                request=request,
            )
            data.email = staff.user.email
        changes = staff_update(actor=request.user, staff=staff, data=data, request=request)
        if change is not None:
            messages.success(request, email_change_message(change))
        else:
            messages.success(request, "Saved." if changes else "Nothing had changed.")
        return redirect("accounts:staff-edit", code=staff.code)
    history = AuditEvent.objects.filter(
        organisation=request.staff.organisation, object_type="staffmember", object_code=str(staff.code)
    ).select_related("actor")[:20]
    return render(
        request,
        "accounts/staff_form.html",
        {
            "form": form,
            "staff": staff,
            "title": staff.full_name,
            "history": history,
            "email_change": open_change(staff),
        },
    )


@org_admin_required
@require_http_methods(["GET", "POST"])
def staff_leaver(request, code):
    staff = get_staff_for_admin(request.staff, code)
    form = LeaverForm(request.POST or None, staff=staff, initial={"leaving_date": staff.leaving_date or _today()})
    if request.method == "POST" and form.is_valid():
        staff_mark_leaver(
            actor=request.user, staff=staff, leaving_date=form.cleaned_data["leaving_date"], request=request
        )
        messages.success(request, f"{staff.full_name} leaves on {form.cleaned_data['leaving_date']:%a %-d %b %Y}.")
        return redirect("accounts:staff-edit", code=staff.code)
    return render(request, "accounts/staff_leaver.html", {"form": form, "staff": staff})


@org_admin_required
@require_http_methods(["GET", "POST"])
def staff_roles(request, code):
    staff = get_staff_for_admin(request.staff, code)
    settings_qs = list(admin_settings(request.staff))
    org_wide = request.staff.role_scope(Role.ORG_ADMIN) == "organisation"
    form = RolesForm(request.POST or None, staff=staff, settings_qs=settings_qs, org_wide=org_wide)
    own = staff.pk == request.staff.pk
    if request.method == "POST" and own:
        # Separation of duties: another organisation admin changes an admin's roles.
        form = RolesForm(request.POST, staff=staff, settings_qs=settings_qs, org_wide=org_wide)
        removing = form.is_valid() and not any(r == Role.ORG_ADMIN for r, _ in form.roles())
        form.add_error(
            Role.ORG_ADMIN.value,
            "You cannot remove your own organisation admin role." if removing else OWN_ROLES_MESSAGE,
        )
    elif request.method == "POST" and form.is_valid():
        try:
            result = staff_set_roles(
                actor=request.user, staff=staff, roles=form.roles(), manageable_settings=settings_qs,
                request=request,
            )  # fmt: skip
        except ValidationError as error:
            form.add_error(Role.AUDITOR.value, error)
        else:
            messages.success(
                request, "Roles saved." if result["added"] or result["removed"] else "Nothing had changed."
            )
            return redirect("accounts:staff-edit", code=staff.code)
    return render(request, "accounts/staff_roles.html", {"form": form, "staff": staff, "own": own})


@org_admin_required
@require_POST
def staff_invite_view(request, code):
    staff = get_staff_for_admin(request.staff, code)
    try:
        staff_invite(actor=request.user, staff=staff, request=request)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"An invitation is on its way to {staff.email}.")
    return redirect("accounts:staff-edit", code=staff.code)


@org_admin_required
@require_http_methods(["GET", "POST"])
def staff_import_view(request):
    admin = request.staff
    settings_qs = list(admin_settings(admin))
    org_wide = admin.role_scope(Role.ORG_ADMIN) == "organisation"
    context = {"columns": staff_import.COLUMNS, "settings": settings_qs}
    owner = {"user": request.user, "organisation": admin.organisation}
    if request.method == "POST":
        form = StaffImportForm(request.POST, request.FILES, **owner)
        if form.is_valid():
            confirming = "confirm" in request.POST
            # The admin's answer for each row that looks like someone already here ("resolve-<row>").
            resolutions = {
                key.removeprefix("resolve-"): value for key, value in request.POST.items() if key.startswith("resolve-")
            }
            result = staff_import.parse(
                form.cleaned_data["text"],
                organisation=admin.organisation,
                allowed_settings=settings_qs,
                org_wide=org_wide,
                manageable=StaffMember.objects.manageable_by(admin),
                importer=admin,
                resolutions=resolutions,
                full_list=form.cleaned_data["full_list"],
            )
            pending = form.cleaned_data["pending"]
            if result.ok and confirming and pending is not None and not result.undecided:
                return _staff_import_confirm(request, form, result, pending, resolutions)
            context.update(staff_import.preview(result))
            context["undecided_on_confirm"] = confirming and result.ok and bool(result.undecided)
            token = ""
            if result.ok:
                token = pending_import_store(kind=PendingImport.Kind.STAFF, text=form.cleaned_data["text"], **owner)
            form = StaffImportForm(
                initial={
                    "token": token,
                    # Ticked by default: the upload form does not carry the box, only the confirmation does.
                    "send_invitations": form.cleaned_data["send_invitations"] if confirming else True,
                    "full_list": form.cleaned_data["full_list"],
                },
                **owner,
            )
    else:
        form = StaffImportForm(**owner)
    context["form"] = form
    return render(request, "accounts/staff_import.html", context)


def _staff_import_confirm(request, form, result, pending, resolutions):
    """Import now, or queue a large file for a worker and follow it on its own page."""
    admin = request.staff
    send = form.cleaned_data["send_invitations"]
    try:
        if import_jobs.runs_in_background(result):
            job = import_jobs.staff_import_job_start(
                actor=admin, pending=pending, resolutions=resolutions, send_invitations=send, request=request
            )
            return redirect("accounts:staff-import-job", code=job.code)
        summary = staff_import.apply(
            result,
            actor=request.user,
            organisation=admin.organisation,
            send_invitations=send,
            request=request,
            pending=pending,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(reverse("accounts:staff-list"))
    text = (
        f"Import finished: {summary['created']} added, {summary['updated']} updated, {summary['unchanged']} unchanged."
    )
    if summary["email_changes"]:
        plural = "s" if summary["email_changes"] != 1 else ""
        text += (
            f" {summary['email_changes']} change{plural} of email asked for: each takes effect when the person "
            "confirms it."
        )
    messages.success(request, text)
    return redirect(reverse("accounts:staff-list"))


@org_admin_required
@require_GET
def staff_import_sample(request):
    path = settings.BASE_DIR / "docs" / "staff-import-sample.csv"
    return FileResponse(
        path.open("rb"), as_attachment=True, filename="staff-import-sample.csv", content_type="text/csv"
    )


class PasswordChangeView(auth_views.PasswordChangeView):
    form_class = PasswordChangeForm
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("home")

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}

    def form_valid(self, form):
        response = super().form_valid(form)
        audit_event(action="auth.password_changed", actor=self.request.user, request=self.request)
        messages.success(self.request, "Your password is changed.")
        return response


@org_admin_required
@require_POST
def staff_legal_hold(request, code):
    """Set or release a legal hold from the person's page; the reason goes into the audit trail."""
    staff = get_staff_for_admin(request.staff, code)
    form = LegalHoldForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
        return redirect(reverse("accounts:staff-edit", kwargs={"code": staff.code}) + "#legal-hold")
    hold = form.cleaned_data["hold"]
    changed = staff_set_legal_hold(
        actor=request.user, staff=staff, hold=hold, reason=form.cleaned_data["reason"], request=request
    )
    if not changed:
        messages.info(request, "Nothing had changed.")
    elif hold:
        messages.success(request, f"Legal hold set: {staff.full_name}'s records are kept until it is released.")
    else:
        messages.success(
            request,
            f"Legal hold released: {staff.full_name}'s records are deleted once the retention period has passed.",
        )
    return redirect(reverse("accounts:staff-edit", kwargs={"code": staff.code}) + "#legal-hold")
