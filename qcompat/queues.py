"""How many tasks wait in the broker."""

from __future__ import annotations

import contextlib
from typing import Any

from celery import current_app
from kombu import Connection
from kombu.exceptions import ChannelError


def queue_size(broker: Connection | None = None, cluster: str | None = None) -> int:
    """The number of messages waiting in a queue: ``cluster``, or the app's default queue.

    Tasks a worker has already taken (running, or reserved by its prefetch) are
    not counted, as in Django Q. A queue the broker does not know holds nothing.
    """
    app = current_app
    queue = cluster or app.conf.task_default_queue
    # A connection the caller passed in stays open for the caller.
    opened = contextlib.nullcontext(broker) if broker else app.connection_for_read()
    with opened as connection:
        try:
            channel: Any = connection.default_channel
            declared = channel.queue_declare(queue=queue, passive=True)
        except ChannelError:
            return 0
    return int(declared.message_count)
