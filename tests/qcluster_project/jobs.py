"""Functions that report, from inside a worker, what the worker made of Q_CLUSTER."""

import os

from celery import current_task


def where_and_how():
    """The worker process that ran the task, and the options Celery ran it with."""
    return {
        "pid": os.getpid(),
        "acks_late": current_task.acks_late,
        "acks_on_failure_or_timeout": current_task.acks_on_failure_or_timeout,
        "time_limit": current_task.request.timelimit,
        "queue": current_task.request.delivery_info.get("routing_key"),
    }
