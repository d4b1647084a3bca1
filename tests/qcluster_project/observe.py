"""What a worker of the qcluster project did with Q_CLUSTER, seen from the test process."""

from __future__ import annotations

from typing import Any

from tests.project_processes import run_python

WAIT_MS = 30_000


def enqueue(env: dict[str, str], count: int) -> list[str]:
    """Send tasks from a process of the project, which finds its queue in Q_CLUSTER too."""
    code = (
        "from qcompat import async_task\n"
        f"for _ in range({count}):\n"
        "    print(async_task('tests.qcluster_project.jobs.where_and_how'))\n"
    )
    done = run_python(code, env)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def worker_state(hostname: str) -> dict[str, Any]:
    """The worker's pool statistics, settings and queues, as ``celery inspect`` shows them."""
    from tests.celery_app import no_backend

    inspect = no_backend.control.inspect(destination=[hostname], timeout=3)
    return {
        "pool": inspect.stats()[hostname]["pool"],
        "conf": inspect.conf()[hostname],
        "queues": [queue["name"] for queue in inspect.active_queues()[hostname]],
    }


def delete_queue(name: str) -> None:
    from tests.celery_app import no_backend

    with no_backend.connection_for_write() as connection:
        connection.default_channel.queue_delete(name)
