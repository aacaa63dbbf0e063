"""Issue 13: when `make run` is killed (SIGTERM, SIGHUP, or make going away), its web server, worker and
beat go too, and the port is free again.

Each test starts bin/serve (the part of bin/run that starts the three processes, which bin/run becomes)
in a session of its own, on a free port with the filesystem broker in a temporary folder, waits until
it says it is running, kills it one way or another and polls until every process it started is gone.
"""

import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.db.utils import ConnectionHandler

# Real processes started and killed: run alone, before the parallel run (bin/test).
pytestmark = pytest.mark.serial

SERVE = Path(settings.BASE_DIR) / "bin" / "serve"
STARTED_WITHIN = 120  # seconds: three Django processes starting on a busy machine
GONE_WITHIN = 30  # seconds: the worker finishes its (empty) current work first


def beat_database(path: Path) -> str:
    """A SQLite database holding only django-celery-beat's tables, which beat needs to run (made
    directly from the models: far quicker than migrating)."""
    url = f"sqlite:///{path}"
    database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}
    connection = ConnectionHandler({"default": database})["default"]
    try:
        with connection.schema_editor() as editor:
            for model in apps.get_app_config("django_celery_beat").get_models():
                editor.create_model(model)
    finally:
        connection.close()
    return url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def processes_marked(marker: str) -> list[int]:
    """Live (not zombie) processes whose environment carries `marker`: everything this run started,
    grandchildren included."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() not in (entry / "environ").read_bytes():
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.append(int(entry.name))
    return found


def poll(condition, seconds: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def _hangup_as_a_terminal_sends_it():
    """In the child, before bin/serve starts: SIGHUP's default action, whatever the suite was started
    under. A shell cannot trap a signal ignored when it starts, and `nohup make test` ignores SIGHUP for
    everything it starts: bin/serve would then rightly stay up, as `nohup make run` should, and the test of
    a closed terminal would fail for the way the suite was run."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


@pytest.fixture
def run(tmp_path, django_db_blocker):
    """run(wrapped=False) starts bin/serve (under a parent shell when wrapped, as make is) and waits
    until it answers: (the process started, the port, the marker in every process's environment)."""
    started = []
    marker = f"MAKE_RUN_TEST_{uuid.uuid4().hex}"

    def _run(wrapped=False):
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
        with django_db_blocker.unblock():  # a database of its own, not the tests'
            database_url = beat_database(tmp_path / "db.sqlite3")
        env.update(
            PORT=str(port),
            DATABASE_URL=database_url,
            CELERY_DATA_DIR=str(tmp_path / "celery"),
            LOG_DIR=str(tmp_path / "log"),
            MAKE_RUN_TEST=marker,
            PYTHONUNBUFFERED="1",
        )
        command = ["bash", "-c", f"'{SERVE}'; echo 'bin/serve ended'"] if wrapped else [str(SERVE)]
        output = (tmp_path / "output.txt").open("wb")
        process = subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_hangup_as_a_terminal_sends_it,
        )
        started.append(process)
        said = lambda: "Supervision is running at" in (tmp_path / "output.txt").read_text(errors="replace")  # noqa: E731
        assert poll(said, STARTED_WITHIN, 0.5), (tmp_path / "output.txt").read_text(errors="replace")
        assert not port_free(port)
        # The web server, the worker and beat (and their children), the watchdog, bin/serve.
        assert len(processes_marked(marker)) >= 5
        return process, port, marker

    yield _run
    for process in started:
        # Whatever a failed test left behind: its session only.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    for pid in processes_marked(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def assert_all_gone(process, port, marker):
    started = time.monotonic()
    gone = poll(lambda: not processes_marked(marker), GONE_WITHIN)
    seconds = time.monotonic() - started
    assert gone, f"still running after {GONE_WITHIN} s: {processes_marked(marker)}"
    assert port_free(port)
    process.wait(timeout=5)
    return seconds


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_make_run_stops_the_server_worker_and_beat(run, signum):
    process, port, marker = run()
    os.kill(process.pid, signum)
    assert_all_gone(process, port, marker)
    assert process.returncode == 128 + signum


def test_when_what_started_it_goes_away_the_three_go_too(run):
    # make killed with SIGHUP dies without passing the signal on: bin/serve sees its parent go.
    wrapper, port, marker = run(wrapped=True)
    os.kill(wrapper.pid, signal.SIGKILL)
    wrapper.wait(timeout=5)
    assert_all_gone(wrapper, port, marker)


def test_killed_outright_the_watchdog_stops_the_three(run):
    process, port, marker = run()
    os.kill(process.pid, signal.SIGKILL)
    assert_all_gone(process, port, marker)
