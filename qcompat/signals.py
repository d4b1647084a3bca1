"""Django Q's task signals, sent with the same names, sender and payloads.

- ``pre_enqueue(task)``: before a task is sent (or run, with ``sync=True``).
- ``pre_execute(func, task)``: in the worker, before the function runs.
- ``post_execute(task)``: in the worker, after the result is saved.

``task`` is Django Q's task dictionary: ``id, name, func, args, kwargs, started,
group, hook`` and, after execution, ``result, success, stopped``.
"""

from __future__ import annotations

from django.dispatch import Signal

SENDER = "django_q"

pre_enqueue = Signal()
pre_execute = Signal()
post_execute = Signal()
