"""Test-only instruments, switched on by environment variables in worker subprocesses."""

import time

from django.db.backends.signals import connection_created

from qcompat import signals


def slow_down_task_writes(seconds: float) -> None:
    """Delay every write to qcompat's task table, before it can commit.

    A hook dispatched before the write commits would find no row; the hook tests
    run against a worker with this switched on.
    """

    def delay(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE")) and "qcompat_task" in sql:
            time.sleep(seconds)
        return execute(sql, params, many, context)

    def install(sender, connection, **kwargs):
        # The wrapper object outlives each reconnection, and workers reconnect per task.
        if delay not in connection.execute_wrappers:
            connection.execute_wrappers.append(delay)

    connection_created.connect(install, weak=False)


def record_signals() -> None:
    from tests.models import SignalCall

    def pre_execute(sender, func, task, **kwargs):
        SignalCall.objects.create(
            signal="pre_execute",
            task_id=task["id"],
            func=f"{func.__module__}.{func.__qualname__}",
            payload={"keys": sorted(task), "sender": sender},
        )

    def post_execute(sender, task, **kwargs):
        SignalCall.objects.create(
            signal="post_execute",
            task_id=task["id"],
            func=task["func"],
            payload={
                "keys": sorted(task),
                "sender": sender,
                "success": task["success"],
                "result": repr(task["result"]),
            },
        )

    signals.pre_execute.connect(pre_execute, weak=False)
    signals.post_execute.connect(post_execute, weak=False)
