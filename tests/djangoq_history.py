"""A Django Q project's task history, written by django-q2 itself.

``python -m tests.djangoq_history`` (with ``DJANGO_SETTINGS_MODULE=tests.settings_djangoq``)
creates Django Q's tables with django-q2's own migrations and stores tasks through
django-q2's own ``Task`` model, then spoils two rows the way a damaged table might be.
``HISTORY`` describes the tasks, for the test to compare the import with.
"""

import base64
import datetime
import decimal
import pickle
import zlib

UTC = datetime.UTC


def at(minute, second=0):
    return datetime.datetime(2025, 3, 4, 5, minute, second, 250_000, tzinfo=UTC)


HISTORY = {
    "0b86cb58d30c422c9cbdf3a2f9324665": {
        "name": "california-pluto-kentucky-uranus",
        "func": "math.copysign",
        "args": (2, -2),
        "kwargs": {},
        "result": -2.0,
        "group": "maths",
        "started": at(1),
        "stopped": at(1, 2),
        "success": True,
        "attempt_count": 1,
    },
    "1c0e6f1b9c4e4e0c8f3a8b7d6e5f4a31": {
        "name": "rich-types",
        "func": "tests.jobs.echo_types",
        "args": (decimal.Decimal("1.10"), frozenset({"a"})),
        "kwargs": {"when": at(2), "tags": {1, 2}},
        "result": at(3),
        "group": None,
        "started": at(2),
        "stopped": at(2, 5),
        "success": True,
        "attempt_count": 1,
    },
    "2d1f7a2cad5f5f1d9a4b9c8e7f6a5b42": {
        "name": "failed-division",
        "func": "operator.truediv",
        "args": (1, 0),
        "kwargs": {},
        "result": "division by zero : Traceback (most recent call last):\nZeroDivisionError",
        "group": "maths",
        "hook": "tests.jobs.echo",
        "started": at(3),
        "stopped": at(3, 1),
        "success": False,
        "attempt_count": 2,
    },
    "3e2a8b3dbe6a6a2eab5cad9f8a7b6c53": {
        "name": "returns-none",
        "func": "tests.jobs.return_none",
        "args": (),
        "kwargs": {},
        "result": None,
        "group": None,
        "started": at(4),
        "stopped": at(4, 1),
        "success": True,
        "attempt_count": 1,
    },
}
#: A task whose result is a user, which django-picklefield wraps before pickling it.
USER_TASK = "4f3b9c4ecf7b7b3fbc6dbe0a9b8c7d64"
#: A task whose arguments were stored compressed, as PickledObjectField(compress=True) does.
COMPRESSED_TASK = "5a4cad5fd08c8c4acd7ecf1bac9d8e75"
#: Rows that cannot be imported: arguments that are not base64, a result naming a lost class.
NOT_BASE64 = "6b5dbe6ae19d9d5bde8fd02cbdae9f86"
LOST_CLASS = "7c6ecf7bf2aeae6cef9ae13dcebfa097"


def fill():
    from django.contrib.auth.models import User
    from django.db import connection
    from django_q.models import Task

    for task_id, fields in HISTORY.items():
        Task.objects.create(id=task_id, **fields)
    user = User.objects.create(username="history-user")
    Task.objects.create(
        id=USER_TASK, name="user", func="tests.jobs.echo", args=(user.pk,), kwargs={},
        result=user, started=at(5), stopped=at(5, 1), success=True, attempt_count=1,
    )  # fmt: skip
    for task_id in (COMPRESSED_TASK, NOT_BASE64, LOST_CLASS):
        Task.objects.create(
            id=task_id, name=task_id[:8], func="tests.jobs.add", args=(1, 2), kwargs={},
            result=3, started=at(6), stopped=at(6, 1), success=True, attempt_count=1,
        )  # fmt: skip
    compressed = base64.b64encode(zlib.compress(pickle.dumps((1, 2), protocol=-1))).decode()
    lost = base64.b64encode(b"ctests.no_such_module\nGone\n.").decode()
    with connection.cursor() as cursor:
        update = "UPDATE django_q_task SET {} = %s WHERE id = %s"
        cursor.execute(update.format("args"), [compressed, COMPRESSED_TASK])
        cursor.execute(update.format("args"), ["***not base64***", NOT_BASE64])
        cursor.execute(update.format("result"), [lost, LOST_CLASS])


if __name__ == "__main__":
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", "django_q", verbosity=0)
    fill()
