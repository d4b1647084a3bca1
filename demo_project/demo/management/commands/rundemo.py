"""``manage.py rundemo``: the whole demo in one command, stopped by Ctrl-C."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from qcompat import async_task, delete_group, fetch, result_group

ADMIN_LOGIN = ("admin", "admin")
WAIT_MS = 30_000
START_SECONDS = 60


def interrupt(signum, frame):
    raise KeyboardInterrupt


class Child:
    """A process of the demo, in a session of its own, its output in a log file."""

    def __init__(self, label: str, command: list[str], log_path: Path) -> None:
        self.label = label
        self.log_path = log_path
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "demo_project.settings",
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(settings.BASE_DIR), os.environ.get("PYTHONPATH")])
            ),
            "PYTHONUNBUFFERED": "1",
        }
        with log_path.open("wb") as log:
            # A session of its own keeps Ctrl-C away from the child, so that rundemo
            # stops it in order; and a signal to its group reaches the worker's pool too.
            self.process = subprocess.Popen(
                command,
                cwd=settings.BASE_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def check_running(self) -> None:
        if self.process.poll() is not None:
            raise CommandError(
                f"The {self.label} exited with code {self.process.returncode}. "
                f"Its log, {self.log_path}, ends with:\n{self.log()[-2000:]}"
            )

    def stop(self) -> None:
        # SIGTERM to the leader alone: a worker then shuts its pool down in order.
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        # Whatever the leader left behind in its group goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


class Command(BaseCommand):
    help = (
        "Migrate, create a demo admin login, start a Celery worker and the web server, "
        "run the examples of Django Q's task documentation and print their results; "
        "Ctrl-C stops everything."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="the web server's port")

    def say(self, text: str = "") -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def handle(self, *args, port: int, **options):
        # Set explicitly: a shell that starts a command in the background leaves SIGINT
        # ignored, and Python then leaves it so.
        signal.signal(signal.SIGINT, interrupt)
        signal.signal(signal.SIGTERM, interrupt)
        children: list[Child] = []
        try:
            self.prepare()
            worker = self.start_worker()
            children.append(worker)
            web = self.start_web_server(port)
            children.append(web)
            self.run_examples(worker)
            self.say()
            self.say(f"Admin: http://127.0.0.1:{port}/admin/  (login: {' / '.join(ADMIN_LOGIN)})")
            self.say(f"Logs: {worker.log_path} and {web.log_path}")
            self.say("Press Ctrl-C to stop the worker and the web server.")
            while True:
                for child in children:
                    child.check_running()
                time.sleep(0.5)
        except KeyboardInterrupt:
            self.say("\nStopping...")
        finally:
            # A second Ctrl-C must not cut the clean-up short.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            for child in reversed(children):
                child.stop()
                self.say(f"Stopped the {child.label} (pid {child.process.pid}).")

    def prepare(self) -> None:
        processed = settings.DATA_DIR / "broker" / "processed"
        if processed.is_dir():
            shutil.rmtree(processed)
            processed.mkdir()
        call_command("migrate", interactive=False, verbosity=0)
        username, password = ADMIN_LOGIN
        user = User.objects.filter(username=username).first() or User(username=username)
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        self.say(f"Database ready ({settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}).")

    def start_worker(self) -> Child:
        command = [
            sys.executable, "-m", "celery", "-A", "demo_project", "worker",
            "--pool", "prefork", "--concurrency", "2", "--loglevel", "INFO",
            "--hostname", "demo@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        worker = Child("Celery worker", command, settings.DATA_DIR / "worker.log")
        broker = settings.CELERY_BROKER_URL
        self.say(f"Starting a Celery worker on {broker} (pid {worker.process.pid})...")
        deadline = time.monotonic() + START_SECONDS
        while " ready." not in worker.log():
            worker.check_running()
            if time.monotonic() > deadline:
                raise CommandError(
                    f"The Celery worker did not start in {START_SECONDS} s; see {worker.log_path}."
                )
            time.sleep(0.1)
        return worker

    def start_web_server(self, port: int) -> Child:
        command = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
        web = Child("web server", command, settings.DATA_DIR / "web.log")
        self.say(f"Starting the web server on port {port} (pid {web.process.pid})...")
        deadline = time.monotonic() + START_SECONDS
        while True:
            web.check_running()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=2):
                    return web
            except OSError:
                if time.monotonic() > deadline:
                    raise CommandError(
                        f"The web server did not answer in {START_SECONDS} s; see {web.log_path}."
                    ) from None
                time.sleep(0.1)

    def run_examples(self, worker: Child) -> None:
        self.say("\nThe examples of Django Q's task documentation, run by the worker:")
        started = time.monotonic()
        task_id = async_task("math.copysign", 2, -2)
        value = self.wait_for(task_id)
        took = time.monotonic() - started
        self.say(f"  async_task('math.copysign', 2, -2) -> {value!r}  (in {took:.2f} s)")

        task_id = async_task("math.modf", 2.5, hook="demo.hooks.print_result")
        value = self.wait_for(task_id)
        self.say(f"  async_task('math.modf', 2.5, hook='demo.hooks.print_result') -> {value!r}")
        name = fetch(task_id).name
        deadline = time.monotonic() + WAIT_MS / 1000
        while not (lines := [line for line in worker.log().splitlines() if name in line]):
            if time.monotonic() > deadline:
                raise CommandError(f"The hook did not run in the worker; see {worker.log_path}.")
            time.sleep(0.1)
        self.say(f"    the hook printed, in the worker: {lines[0].split('] ', 1)[-1]}")

        # As the documentation advises, the group is emptied before each run.
        delete_group("modf", tasks=True)
        for i in range(4):
            async_task("math.modf", i, group="modf")
        values = result_group("modf", count=4, wait=WAIT_MS)
        self.say("  for i in range(4): async_task('math.modf', i, group='modf')")
        self.say(f"    result_group('modf') -> {values!r}")

        task_id = async_task("my.buggy.code", sync=True)
        task = fetch(task_id)
        error = str(task.result).partition(" : ")[0]
        self.say(f"  async_task('my.buggy.code', sync=True) -> success={task.success}")
        self.say(f"    An error occurred: {error}")

    def wait_for(self, task_id: str):
        task = fetch(task_id, wait=WAIT_MS)
        if task is None:
            raise CommandError(f"Task {task_id} did not finish in {WAIT_MS // 1000} s.")
        return task.result
