"""What a qcompat task carries besides its arguments, in one message header.

The header travels with the Celery message, so the worker, the result backend
(also in the worker's main process, after a time limit) and ``sync=True`` all
read the same facts about a task.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from qcompat.names import task_name_for

HEADER = "qcompat"
#: The registered Celery task that runs every qcompat task, and the one that runs hooks.
EXECUTE_TASK_NAME = "qcompat.execute"
HOOK_TASK_NAME = "qcompat.hook"


@dataclasses.dataclass(frozen=True)
class TaskInfo:
    func: str
    started: datetime
    #: The caller's ``task_name``; None names the task after its id when it is stored.
    name: str | None = None
    group: str | None = None
    hook: str | None = None
    #: True or False when the caller said; None leaves it to ``Q_CLUSTER["save_limit"]``.
    save: bool | None = None
    #: The links of a chain still to run after this one, as signed pickle in base64:
    #: headers travel as JSON, and links carry arbitrary arguments.
    chain: str | None = None
    #: For one call of ``async_iter``: how many calls the iteration has, and the hook
    #: of the collated task.
    iter_count: int | None = None
    iter_hook: str | None = None

    def to_header(self) -> dict[str, Any]:
        # Unset fields stay out of the message; from_request() restores their defaults.
        header = {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if getattr(self, field.name) is not None
        }
        header["started"] = self.started.isoformat()
        return header

    @classmethod
    def from_request(cls, request: Any) -> TaskInfo | None:
        """Read the header from a Celery request, on a worker or under ``apply()``.

        A worker exposes message headers as request attributes; ``Task.apply()``
        keeps them only in ``request.headers``.
        """
        header = getattr(request, HEADER, None)
        if header is None:
            header = (getattr(request, "headers", None) or {}).get(HEADER)
        if not isinstance(header, dict):
            return None
        fields = dict(header)
        fields["started"] = datetime.fromisoformat(fields["started"])
        return cls(**fields)

    def as_django_q(self, task_id: str, args: Any, kwargs: Any, **more: Any) -> dict[str, Any]:
        """The task dictionary Django Q passes to its signals."""
        return {
            "id": task_id,
            "name": self.name or task_name_for(task_id),
            "func": self.func,
            "args": tuple(args or ()),
            "kwargs": dict(kwargs or {}),
            "started": self.started,
            "group": self.group,
            "hook": self.hook,
            **more,
        }
