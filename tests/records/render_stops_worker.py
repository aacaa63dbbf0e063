"""A Celery worker whose record renders stop half way, for tests that kill a worker mid-render.

Run as ``python tests/records/render_stops_worker.py -A config worker ...``, with Celery's arguments.
When a render reaches WeasyPrint, it writes the file named by RENDER_STOPS_MARKER and waits there, so the
test kills a worker that is provably inside the render, however fast the machine renders.
"""

import os
import sys
import time
from pathlib import Path

from celery.signals import task_prerun


@task_prerun.connect
def stop_renders_half_way(sender=None, **kwargs):
    if sender is None or sender.name != "records.render_record_pdf":
        return
    from records import pdf

    marker = Path(os.environ["RENDER_STOPS_MARKER"])

    def stopped(*args, **kwargs):
        marker.write_text(str(os.getpid()))
        time.sleep(3600)  # the test kills the worker here
        raise AssertionError("the worker should have been killed")

    pdf.html_to_pdf = stopped


if __name__ == "__main__":
    from celery.__main__ import main

    sys.path[0] = str(Path(__file__).resolve().parents[2])  # the project, not this folder
    sys.argv = ["celery", *sys.argv[1:]]
    main()
