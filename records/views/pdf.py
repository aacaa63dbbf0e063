"""The signed PDF of a record: the participants, and auditors inside a live grant, download it; anyone
signed in to the organisation checks an uploaded copy at /records/verify/ (the PDF's footer sends its
readers there), and is told which record it is only when they may reach it."""

from django import forms
from django.contrib import messages
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils import dateformat, timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import staff_required
from accounts.audit import audit_event
from accounts.templatetags.dates import day_and_time

from ..access import get_record_for_user
from ..late_files import pdf_wait, queue_lost_pdf
from ..models import RecordStatus
from ..pdf import pdf_filename, signing_self_signed, stored_pdf_path, verify_record_pdf

# Heads and DSLs read the notes on screen with a reason; the PDF goes to the people in the session and
# to auditors inside a live grant.
PDF_READERS = ("supervisor", "supervisee", "auditor")


def _wait_message(wait) -> str:
    if wait is None:
        return "The signed PDF is being made again: its file went missing. Try again in a minute or two."
    since = day_and_time(wait.since)
    ready_by = dateformat.format(timezone.localtime(wait.ready_by), "H:i")
    return f"The signed PDF is being prepared (since {since}). It will be ready by {ready_by} at the latest."


@staff_required
@require_GET
def record_pdf(request, code):
    record, capacity = get_record_for_user(request.staff, code)
    if capacity not in PDF_READERS:
        # The PDF is the notes: to a head or DSL (even one reading with a reason) it does not exist.
        raise Http404("No such record.")
    if record.status != RecordStatus.SIGNED:
        raise Http404("A record has a PDF once everyone has signed it.")
    path = stored_pdf_path(record)
    if path is None:
        # The file went missing, or its render is late: queue it again (once, however often people ask).
        if queue_lost_pdf(record, actor=request.user, request=request):
            record.refresh_from_db(fields=["pdf_queued_at"])
        messages.info(request, _wait_message(pdf_wait(record)))
        return redirect("records:record-detail", code=record.code)
    audit_event(
        action="record.pdf_downloaded",
        actor=request.user,
        obj=record,
        request=request,
        details={"sha256": record.pdf_sha256, "capacity": capacity}
        | ({"grant": str(record.grant_code), "purpose": record.grant_purpose} if capacity == "auditor" else {}),
    )
    response = FileResponse(
        path.open("rb"), as_attachment=True, filename=pdf_filename(record), content_type="application/pdf"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store, private"
    return response


class VerifyForm(forms.Form):
    MAX_BYTES = 20 * 1024 * 1024
    TOO_LARGE = "The file is larger than 20 MB: a record's PDF is far smaller."

    file = forms.FileField(
        label="Signed record (PDF)",
        help_text="The PDF of a supervision record, as downloaded. Up to 20 MB.",
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,application/pdf"}),
    )

    def __init__(self, *args, too_large=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.too_large = too_large
        if too_large:
            # The upload was cut off at the limit (CappedUpload): say so, rather than "required".
            self.fields["file"].required = False

    def clean_file(self):
        if self.too_large:
            raise forms.ValidationError(self.TOO_LARGE)
        upload = self.cleaned_data["file"]
        if upload.size > self.MAX_BYTES:
            raise forms.ValidationError(self.TOO_LARGE)
        data = upload.read()
        if not data.startswith(b"%PDF-"):
            raise forms.ValidationError("This is not a PDF file.")
        return data


class CappedUpload(FileUploadHandler):
    """Stops keeping an upload once it passes `limit` bytes: the rest of the request is read and dropped,
    never written to memory or disk, and the page says the file is too large."""

    def __init__(self, request, limit):
        super().__init__(request)
        self.limit = limit
        self.received = 0
        self.too_large = False

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.too_large = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size):
        return None


@csrf_exempt  # checked below, once the upload handler is in place (Django's documented order)
@staff_required
@require_http_methods(["GET", "POST"])
def record_verify(request):
    """Says whether an uploaded PDF is intact, which record of this organisation it is, and whether it
    matches what was stored. Shows no narrative: the person already holds the file."""
    cap = CappedUpload(request, VerifyForm.MAX_BYTES)
    request.upload_handlers.insert(0, cap)
    return _record_verify(request, cap)


@csrf_protect
def _record_verify(request, cap):
    result = None
    if request.method == "POST":
        form = VerifyForm(request.POST, request.FILES, too_large=cap.too_large)
    else:
        form = VerifyForm()
    if request.method == "POST" and form.is_valid():
        result = verify_record_pdf(actor=request.staff, data=form.cleaned_data["file"], request=request)
        form = VerifyForm()
    context = {"form": form, "result": result, "self_signed": signing_self_signed(request.staff.organisation_id)}
    return render(request, "records/record_verify.html", context)
