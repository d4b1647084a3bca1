"""Django settings for the throughput benchmark; never the tests' database or queues.

``QCOMPAT_BENCH_DB`` picks the database: ``postgres`` (database ``qcompat_bench``,
created by the benchmark) or ``sqlite`` (a file, so that the worker subprocess
shares it). The benchmark sets it, and the worker inherits it.

PostgreSQL is found with the tests' ``QCOMPAT_PG_HOST``, ``QCOMPAT_PG_PORT`` and
``QCOMPAT_PG_USER``; ``QCOMPAT_BENCH_PG_NAME`` and ``QCOMPAT_BENCH_BROKER`` change
the benchmark's database name and broker URL.
"""

import os
import tempfile
from pathlib import Path

# Signs only the benchmark's throwaway messages and rows.
SECRET_KEY = "qcompat-bench-not-secret"  # noqa: S105
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = ["django_celery_results", "qcompat", "bench"]

DATABASE_KIND = os.environ.get("QCOMPAT_BENCH_DB", "postgres")
if DATABASE_KIND == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ.get("QCOMPAT_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("QCOMPAT_PG_PORT", "5432"),
            "USER": os.environ.get("QCOMPAT_PG_USER", "root"),
            "NAME": os.environ.get("QCOMPAT_BENCH_PG_NAME", "qcompat_bench"),
        }
    }
elif DATABASE_KIND == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(Path(tempfile.gettempdir()) / "qcompat-bench.sqlite3"),
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
else:
    raise RuntimeError(f"QCOMPAT_BENCH_DB must be postgres or sqlite, not {DATABASE_KIND!r}.")

# A Redis database (the tests use 14) and a queue of its own, so that the benchmark
# never consumes test messages; it empties the queue before every measurement.
CELERY_BROKER_URL = os.environ.get("QCOMPAT_BENCH_BROKER", "redis://127.0.0.1:6379/13")
CELERY_RESULT_BACKEND = "django-db"
CELERY_TASK_DEFAULT_QUEUE = "qcompat-bench"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
