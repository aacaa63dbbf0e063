"""The organisation's signing certificate (/organisation/signing-certificate/): organisation-wide admins
upload a PKCS#12 file; every PDF signed after it uses it. The password is a sensitive parameter: it is
kept out of error reports, never logged and never audited."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts.access import org_admin_required
from accounts.models import Role

from ..certificates import certificate_upload
from ..forms_certificate import SigningCertificateForm
from ..models import SigningCertificate
from ..pdf import signing_self_signed


@sensitive_post_parameters("password")
@org_admin_required
@require_http_methods(["GET", "POST"])
def signing_certificate(request):
    staff = request.staff
    if staff.role_scope(Role.ORG_ADMIN) != "organisation":
        raise PermissionDenied("Only an organisation-wide admin changes the signing certificate.")
    form = SigningCertificateForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        made = certificate_upload(actor=staff, checked=form.checked, request=request)
        messages.success(request, f"Record PDFs signed from now on use {made.subject}.")
        return redirect("records:signing-certificate")
    certificates = list(
        SigningCertificate.objects.filter(organisation_id=staff.organisation_id)
        .select_related("uploaded_by__user")
        .defer("key_encrypted", "certificate_pem", "chain_pem")
    )
    current = next((c for c in certificates if c.replaced_at is None), None)
    context = {
        "form": form,
        "current": current,
        "earlier": [c for c in certificates if c.replaced_at is not None],
        "self_signed": current is None and signing_self_signed(staff.organisation_id),
    }
    return render(request, "records/signing_certificate.html", context)
