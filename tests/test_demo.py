"""The demo project's one command: it starts, runs the examples, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.conftest import require_service

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo_project"
EXPECTED = [
    "async_task('math.copysign', 2, -2) -> -2.0",
    "async_task('math.modf', 2.5, hook='demo.hooks.print_result') -> (0.5, 2.0)",
    "returned (0.5, 2.0)",
    "result_group('modf') -> [(0.0, 0.0), (0.0, 1.0), (0.0, 2.0), (0.0, 3.0)]",
    "async_task('my.buggy.code', sync=True) -> success=False",
    "An error occurred: No module named 'my'",
]

pytestmark = pytest.mark.worker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_groups() -> dict[int, int]:
    """Every live (not zombie) process's id and process group, from /proc."""
    groups = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[0] != "Z":
            groups[int(stat.parent.name)] = int(fields[2])
    return groups


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Demo:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "rundemo", "--port", str(self.port)],
            cwd=DEMO_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            # As a shell starts a command in the background: Ctrl-C must still stop the demo.
            preexec_fn=ignore_sigint,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.output):
            try:
                self.output.append(self.lines.get(timeout=max(0, deadline - time.monotonic())))
            except queue.Empty:
                pytest.fail(f"The demo did not print {text!r}; it printed:\n" + self.text())

    def text(self) -> str:
        return "\n".join(self.output)

    def child_pids(self) -> list[int]:
        """The worker and the web server, as the demo announced them."""
        return [int(pid) for pid in re.findall(r"\(pid (\d+)\)", self.text())]

    def finish(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.reader.join(timeout=10)
        self.process.stdout.close()
        while not self.lines.empty():
            self.output.append(self.lines.get())
        # The children lead sessions of their own, so a demo killed before its clean-up
        # leaves them running.
        for group in set(self.child_pids()) & set(process_groups().values()):
            os.killpg(group, signal.SIGKILL)


def demo_env(tmp_path: Path, **variables: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DEMO_", "DJANGO_", "QCOMPAT_"))
    }
    return {**env, "DEMO_DATA_DIR": str(tmp_path / "demo-data"), **variables}


def run_demo(env: dict[str, str]) -> None:
    demo = Demo(env)
    try:
        demo.wait_for("Press Ctrl-C")
        for line in EXPECTED:
            assert line in demo.text()
        took = float(re.search(r"-> -2\.0 +\(in ([0-9.]+) s\)", demo.text()).group(1))
        assert took < 1
        pids = demo.child_pids()
        assert len(pids) == 2
        groups = process_groups()
        children = {pid for pid, group in groups.items() if group in pids}
        assert len(children) >= 4  # the worker, its two pool processes, the web server
        assert f"Admin: http://127.0.0.1:{demo.port}/admin/" in demo.text()
        with urllib.request.urlopen(f"http://127.0.0.1:{demo.port}/admin/login/") as response:
            assert response.status == 200

        demo.process.send_signal(signal.SIGINT)
        assert demo.process.wait(timeout=60) == 0
        demo.wait_for("Stopped the Celery worker")
        left = {pid for pid, group in process_groups().items() if group in pids}
        assert not left, f"processes the demo started are still running: {sorted(left)}"
    finally:
        demo.finish()


def test_demo_without_any_server(tmp_path):
    run_demo(demo_env(tmp_path))


def test_demo_on_redis_and_postgresql(tmp_path):
    require_service("Redis", "127.0.0.1", 6379)
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import psycopg

    name = f"qcompat_demo_{uuid.uuid4().hex[:8]}"
    with psycopg.connect("host=127.0.0.1 user=root dbname=postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        run_demo(
            demo_env(
                tmp_path,
                DEMO_BROKER_URL="redis://127.0.0.1:6379/11",
                DEMO_DATABASE_URL=f"postgres://root@127.0.0.1:5432/{name}",
            )
        )
    finally:
        with psycopg.connect("host=127.0.0.1 user=root dbname=postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
