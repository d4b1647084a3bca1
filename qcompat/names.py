"""Django Q's names for tasks: the four-word humanized form of a task's id."""

from __future__ import annotations

import re

from humanhash import humanize

_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")


def task_name_for(task_id: str) -> str:
    """Django Q's name for an id, with its algorithm and word list; other ids name themselves."""
    if _UUID.match(task_id):
        return str(humanize(task_id.replace("-", "")))
    return task_id[:100]
