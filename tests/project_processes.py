"""Running a test project's commands in subprocesses, the way a deployment runs them.

Long-running commands (workers) get a session of their own, are stopped with
SIGTERM to their pid alone, as a process manager stops its main process, and
are then checked to have left no process behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def project_env(settings_module: str, *paths: Path, **extra: str) -> dict[str, str]:
    """The environment of a process of the project, on the test database."""
    python_path = [*(str(path) for path in paths), str(ROOT), os.environ.get("PYTHONPATH", "")]
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "QCOMPAT_WORKER_DB_NAME": str(connection.settings_dict["NAME"]),
        "PYTHONPATH": os.pathsep.join(python_path),
        **extra,
    }


def run_python(
    code: str, env: dict[str, str], timeout: float = 120, setup: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``code``, after ``django.setup()`` unless told not to, as a project's script would."""
    prefix = "import django\ndjango.setup()\n" if setup else ""
    return subprocess.run(
        [sys.executable, "-c", prefix + code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_django(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``manage.py`` for the settings in ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Service:
    """A long-running command whose output goes to a log file."""

    def __init__(
        self, command: list[str], env: dict[str, str], log_path: Path, cwd: Path = ROOT
    ) -> None:
        self.command = command
        self.env = env
        self.log_path = log_path
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, ready: str = " ready.", timeout: float = 60) -> None:
        # Appending keeps what earlier commands logged to the same file.
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command} exited early:\n{self.log()}")
            if ready in self.log():
                return
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"{self.command} was not ready in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def terminate(self, timeout: float = 30) -> int | None:
        """SIGTERM to the main process only; its exit status, or None if it had to be killed."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def stop(self) -> None:
        """SIGTERM to the main process, then SIGKILL to whatever is left of its session."""
        if self.process is not None:
            self.terminate()
            self.kill()

    def group_alive(self, wait: float = 5) -> bool:
        """Whether any process of the session is left, after ``wait`` seconds to exit."""
        deadline = time.monotonic() + wait
        while True:
            try:
                os.killpg(self.pid, 0)
            except ProcessLookupError:
                return False
            if time.monotonic() >= deadline:
                return True
            time.sleep(0.1)

    def kill(self) -> None:
        """Kill whatever is left of the session; the command leads it, so its pid names it."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
