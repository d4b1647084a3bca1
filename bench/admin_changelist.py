"""Time the task admin pages with 1,000,000 rows in ``Task`` on PostgreSQL.

Usage (from the repository root; PostgreSQL on 127.0.0.1:5432 by default)::

    python bench/admin_changelist.py [--rows 1000000] [--rebuild] [--repeat 5]

The rows go into a database of their own (``qcompat_admin_bench``, or
``QCOMPAT_ADMIN_BENCH_DB``), made once with ``INSERT ... SELECT generate_series`` and
kept for later runs; ``--rebuild`` makes them anew. Each page is requested
through Django's test client; the median time and the number of SQL queries
are printed.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = os.environ.get("QCOMPAT_ADMIN_BENCH_DB", "qcompat_admin_bench")
os.environ.update(
    DJANGO_SETTINGS_MODULE="tests.settings", QCOMPAT_TEST_DB="postgres", QCOMPAT_PG_NAME=BENCH_DB
)

import django  # noqa: E402

FUNCS = [f"app.jobs.job_{n}" for n in range(20)] + ["math.copysign", "math.modf"]
GROUPS = 200  # every fifth task is in one of these groups


def create_database() -> None:
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


def fill(rows: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    from qcompat import serializers

    call_command("migrate", verbosity=0)
    failure = "bad input : Traceback (most recent call last):\n" + '  File "app/jobs.py"\n' * 20
    values = {
        "args": serializers.dumps((2, -2)),
        "kwargs": serializers.dumps({"precision": 3}),
        "result": serializers.dumps(-2.0),
        "failure": serializers.dumps(failure + "ValueError: bad input\n"),
    }
    started = time.monotonic()
    with connection.cursor() as cursor:
        # One task in twenty fails; every fifth belongs to a group of 1,000 tasks.
        cursor.execute(
            """
            INSERT INTO qcompat_task (id, name, func, hook, args, kwargs, result, exception,
                                      "group", started, stopped, success, attempt_count)
            SELECT md5(i::text),
                   'task-' || substr(md5(i::text || 'name'), 1, 12),
                   (%(funcs)s::text[])[1 + i %% %(nfuncs)s],
                   NULL, %(args)s, %(kwargs)s,
                   CASE WHEN i %% 20 = 0 THEN %(failure)s ELSE %(result)s END,
                   CASE WHEN i %% 20 = 0
                        THEN '{"exc_type": "ValueError", "exc_message": ["bad input"]}'::jsonb
                   END,
                   CASE WHEN i %% 5 = 0 THEN 'batch-' || (i / 5000) END,
                   now() - make_interval(secs => %(rows)s - i) - interval '20 ms',
                   now() - make_interval(secs => %(rows)s - i),
                   i %% 20 <> 0, 1
            FROM generate_series(1, %(rows)s) AS i
            """,
            {**values, "funcs": FUNCS, "nfuncs": len(FUNCS), "rows": rows},
        )
        cursor.execute("ANALYZE qcompat_task")
    print(f"Inserted {rows:,} rows in {time.monotonic() - started:.1f} s.")


def existing_rows() -> int | None:
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM qcompat_task")
            return int(cursor.fetchone()[0])
    except DatabaseError:
        return None


def measure(client, url: str, repeat: int) -> tuple[float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    for attempt in range(repeat + 1):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - started
        if attempt:  # the first request warms caches and is not counted
            times.append(elapsed)
    return statistics.median(times) * 1000, len(queries), response.status_code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rebuild", action="store_true", help="make the rows anew")
    parser.add_argument("--repeat", type=int, default=5, help="timed requests per page")
    options = parser.parse_args()

    django.setup()
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from qcompat.models import Task

    have = None if options.rebuild else existing_rows()
    if have == options.rows:
        print(f"Reusing {have:,} rows in database {BENCH_DB}; --rebuild makes them anew.")
    else:
        connection.close()
        create_database()
        fill(options.rows)

    user = User.objects.filter(username="bench").first() or User.objects.create_superuser(
        "bench", "bench@example.com", "bench"
    )
    client = Client()
    client.force_login(user)
    success_id = (
        connection.cursor()
        .execute("SELECT id FROM qcompat_task WHERE success ORDER BY stopped DESC LIMIT 1")
        .fetchone()[0]
    )
    success_name = Task.objects.get(pk=success_id).name
    failure_id = (
        connection.cursor()
        .execute("SELECT id FROM qcompat_task WHERE NOT success ORDER BY stopped DESC LIMIT 1")
        .fetchone()[0]
    )
    week_ago = urlencode({"stopped__gte": timezone.now() - datetime.timedelta(days=7)})
    pages = [
        ("successful tasks, page 1", "/admin/qcompat/success/"),
        ("successful tasks, page 2", "/admin/qcompat/success/?p=2"),
        ("successful tasks, page 1000", "/admin/qcompat/success/?p=1000"),
        ("failed tasks, page 1", "/admin/qcompat/failure/"),
        ("failed tasks, page 2", "/admin/qcompat/failure/?p=2"),
        ("successful, group filter", "/admin/qcompat/success/?group=batch-17"),
        ("failed, group filter", "/admin/qcompat/failure/?group=batch-17"),
        ("successful, past 7 days", f"/admin/qcompat/success/?{week_ago}"),
        ("successful, search function", "/admin/qcompat/success/?q=copysign"),
        ("successful, search no match", "/admin/qcompat/success/?q=nosuchtask"),
        ("successful, search a name", f"/admin/qcompat/success/?q={success_name}"),
        ("failed, search group", "/admin/qcompat/failure/?q=batch-17"),
        ("successful, search task id", f"/admin/qcompat/success/?q={success_id}"),
        ("successful task detail", f"/admin/qcompat/success/{success_id}/change/"),
        ("failed task detail", f"/admin/qcompat/failure/{failure_id}/change/"),
    ]
    print(f"{'page':<32} {'median ms':>10} {'queries':>8} {'status':>7}")
    for label, url in pages:
        ms, queries, status = measure(client, url, options.repeat)
        print(f"{label:<32} {ms:>10.1f} {queries:>8} {status:>7}")


if __name__ == "__main__":
    main()
