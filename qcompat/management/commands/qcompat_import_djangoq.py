"""``manage.py qcompat_import_djangoq``: copy Django Q's task history into qcompat's table."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import io
import pickle
import zlib
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, router, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from qcompat.management.progress import ProgressBar
from qcompat.models import Task

#: Django Q's columns that every version has, and those that came later.
REQUIRED_COLUMNS = ("id", "name", "func", "started", "stopped", "success")
OPTIONAL_COLUMNS = ("hook", "args", "kwargs", "result", "group", "attempt_count")

_LIMITS = {"name": 100, "func": 256, "hook": 256, "group": 100}
# Pickles start with the PROTO opcode from protocol 2 on; zlib streams with 0x78.
_ZLIB_HEADER = 0x78


class UndecodableRow(Exception):
    """A row of Django Q's table that cannot become a qcompat task; the message says why."""


@dataclasses.dataclass
class Report:
    total: int = 0
    imported: int = 0
    present: int = 0
    failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)


class Command(BaseCommand):
    help = (
        "Copies Django Q's task history (the django_q_task table) into qcompat's Task table, "
        "in batches, keeping ids, names, functions, hooks, arguments, results, groups, times "
        "and success. Running it again copies only what is missing. Rows that cannot be "
        "decoded are reported at the end instead of stopping the copy. Django Q stored "
        "arguments and results as unsigned pickle and this command unpickles them, as Django "
        "Q did: run it only on a database you trust."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help="The database alias that holds Django Q's table (default: %(default)s). "
            "qcompat's rows go where the database router writes Task rows.",
        )
        parser.add_argument(
            "--table", default="django_q_task", help="Django Q's table (default: %(default)s)."
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            help="Rows read and written at a time (default: %(default)s).",
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="Do not draw the progress bar."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        alias, table, batch_size = options["database"], options["table"], options["batch_size"]
        if alias not in connections:
            raise CommandError(f"There is no database {alias!r} in DATABASES.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        source = DjangoQTable(alias, table)
        report = Report(total=source.count())
        progress = ProgressBar(
            self.stderr, report.total, f"Importing {table}", enabled=not options["no_progress"]
        )
        target = router.db_for_write(Task)
        done = 0
        for rows in source.batches(batch_size):
            self._import_batch(rows, target, report)
            done += len(rows)
            progress.update(done)
        progress.finish()
        self._summarize(table, alias, report)

    def _import_batch(self, rows: list[dict[str, Any]], target: str, report: Report) -> None:
        ids = [str(row["id"]) for row in rows]
        present = set(Task.objects.using(target).filter(pk__in=ids).values_list("pk", flat=True))
        report.present += len(present)
        tasks = []
        for row in rows:
            if str(row["id"]) in present:
                continue
            try:
                tasks.append(Task(**task_fields(row)))
            except UndecodableRow as error:
                report.failed.append((str(row["id"]), str(error)))
        try:
            with transaction.atomic(using=target):
                # ignore_conflicts: a task a worker stored meanwhile keeps its own row.
                Task.objects.using(target).bulk_create(tasks, ignore_conflicts=True)
            report.imported += len(tasks)
        except (DatabaseError, pickle.PicklingError, TypeError, AttributeError):
            # One row spoilt the batch; find it by writing the rows one at a time.
            for task in tasks:
                try:
                    with transaction.atomic(using=target):
                        Task.objects.using(target).bulk_create([task], ignore_conflicts=True)
                    report.imported += 1
                except (DatabaseError, pickle.PicklingError, TypeError, AttributeError) as error:
                    report.failed.append((task.pk, f"it could not be written ({error})."))

    def _summarize(self, table: str, alias: str, report: Report) -> None:
        self.stdout.write(
            f"Read {report.total} rows of {table} in database {alias!r}: imported "
            f"{report.imported}, {report.present} were already imported, "
            f"{len(report.failed)} could not be imported."
        )
        for task_id, reason in report.failed:
            self.stdout.write(f"  {task_id}: {reason}")
        if report.failed:
            raise CommandError(
                f"{len(report.failed)} of {report.total} rows could not be imported; they are "
                "listed above. Running the command again retries them.",
                returncode=1,
            )


class DjangoQTable:
    """Django Q's table, read with plain SQL so that django-q need not be installed."""

    def __init__(self, alias: str, table: str) -> None:
        self.connection = connections[alias]
        self.table = table
        with self.connection.cursor() as cursor:
            if table not in self.connection.introspection.table_names(cursor):
                raise CommandError(f"There is no table {table} in database {alias!r}.")
            present = {
                column.name
                for column in self.connection.introspection.get_table_description(cursor, table)
            }
        missing = [column for column in REQUIRED_COLUMNS if column not in present]
        if missing:
            raise CommandError(
                f"{table} in database {alias!r} is not Django Q's task table: it has no "
                f"column {', '.join(missing)}."
            )
        self.columns = [*REQUIRED_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in present)]

    def count(self) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {self._quoted(self.table)}")  # noqa: S608
            return int(cursor.fetchone()[0])

    def batches(self, size: int) -> Iterator[list[dict[str, Any]]]:
        """Rows in id order, ``size`` at a time; paging by id stays fast on any size."""
        columns = ", ".join(self._quoted(column) for column in self.columns)
        table, key = self._quoted(self.table), self._quoted("id")
        first = f"SELECT {columns} FROM {table} ORDER BY {key} LIMIT %s"  # noqa: S608
        after = f"SELECT {columns} FROM {table} WHERE {key} > %s ORDER BY {key} LIMIT %s"  # noqa: S608
        last: str | None = None
        while True:
            with self.connection.cursor() as cursor:
                if last is None:
                    cursor.execute(first, [size])
                else:
                    cursor.execute(after, [last, size])
                rows = [dict(zip(self.columns, values, strict=True)) for values in cursor]
            if not rows:
                return
            yield rows
            last = rows[-1]["id"]

    def _quoted(self, name: str) -> str:
        return str(self.connection.ops.quote_name(name))


class _ObjectWrapper:
    """Stands in for django-picklefield's wrapper, which Django Q's pickles may name.

    The field wraps model instances and callables before pickling them; its class
    has one slot, ``_obj``, holding the value.
    """

    __slots__ = ("_obj",)
    _obj: Any


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("picklefield.fields", "_ObjectWrapper"):
            return _ObjectWrapper
        return super().find_class(module, name)


def decode_pickled(value: Any) -> Any:
    """A value of django-picklefield's ``PickledObjectField``: base64 of a pickle, which the
    field may have compressed with zlib."""
    if value is None:
        return None
    if isinstance(value, bytes | memoryview):
        value = bytes(value).decode("latin-1")
    try:
        data = base64.b64decode(str(value).encode())
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"it is not base64 ({error})") from error
    if data[:1] == bytes([_ZLIB_HEADER]):
        data = zlib.decompress(data)
    decoded = _Unpickler(io.BytesIO(data)).load()
    if isinstance(decoded, _ObjectWrapper):
        return decoded._obj
    return decoded


def _decoded(row: dict[str, Any], column: str) -> Any:
    try:
        return decode_pickled(row.get(column))
    except Exception as error:
        raise UndecodableRow(f"{column} cannot be unpickled: {error}.") from error


def _moment(value: Any, column: str) -> datetime.datetime:
    if isinstance(value, str):
        value = parse_datetime(value)
    if not isinstance(value, datetime.datetime):
        raise UndecodableRow(f"{column} is {value!r}, not a date and time.")
    # Django keeps naive UTC in databases without time zones, when USE_TZ is on.
    if settings.USE_TZ and timezone.is_naive(value):
        return timezone.make_aware(value, datetime.UTC)
    if not settings.USE_TZ and timezone.is_aware(value):
        return timezone.make_naive(value)
    return value


def task_fields(row: dict[str, Any]) -> dict[str, Any]:
    """The fields of qcompat's ``Task`` for one row of Django Q's table."""
    for column, limit in _LIMITS.items():
        text = row.get(column)
        if text is not None and len(str(text)) > limit:
            raise UndecodableRow(f"{column} is longer than {limit} characters.")
    args = _decoded(row, "args")
    if isinstance(args, list):
        args = tuple(args)
    if args is not None and not isinstance(args, tuple):
        raise UndecodableRow(f"args is a {type(args).__name__}, not a tuple.")
    kwargs = _decoded(row, "kwargs")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise UndecodableRow(f"kwargs is a {type(kwargs).__name__}, not a dict.")
    return {
        "id": str(row["id"]),
        "name": row["name"] or "",
        "func": row["func"],
        "hook": row.get("hook"),
        "args": args,
        "kwargs": kwargs,
        "result": _decoded(row, "result"),
        "group": row.get("group"),
        "started": _moment(row["started"], "started"),
        "stopped": _moment(row["stopped"], "stopped"),
        "success": bool(row["success"]),
        # Django Q gave rows older than the column 0 attempts, too.
        "attempt_count": int(row.get("attempt_count") or 0),
    }
