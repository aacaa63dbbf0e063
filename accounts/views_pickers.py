"""The person search of a form's people picker (accounts/pickers.py): a fragment of radios or checkboxes."""

from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .access import staff_required
from .pickers import PICKERS, search


@staff_required
@require_GET
def person_search(request, picker):
    """Unknown picker: 404. The picker's people come through the same function, and the same refusal, as its
    form's: a person outside them is never listed, whatever is asked for."""
    chosen_picker = PICKERS.get(picker)
    if chosen_picker is None:
        raise Http404("No such search.")
    people = chosen_picker.people(request.staff)
    found = search(
        chosen_picker,
        people,
        request.GET.get("q", ""),
        chosen=request.GET.getlist(chosen_picker.field),
        exclude=request.GET.getlist("exclude"),
    )
    return render(
        request,
        "includes/person_choices.html",
        {
            "id": f"id_{chosen_picker.field}",
            "name": chosen_picker.field,
            "multiple": chosen_picker.multiple,
            "choices": found.choices,
            "status": found.status,
            "searched": True,
        },
    )
