"""Settings for qcompat's tests.

``QCOMPAT_TEST_DB`` picks the database: ``sqlite`` (a file, so that worker
subprocesses share it) or ``postgres``. Worker subprocesses get
``QCOMPAT_WORKER_DB_NAME`` to open the test database pytest-django created.
"""

import os
import tempfile
import uuid
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "qcompat-tests-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_celery_results",
    "qcompat",
    "tests",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASE_KIND = os.environ.get("QCOMPAT_TEST_DB", "sqlite")
WORKER_DB_NAME = os.environ.get("QCOMPAT_WORKER_DB_NAME")
if DATABASE_KIND == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ.get("QCOMPAT_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("QCOMPAT_PG_PORT", "5432"),
            "USER": os.environ.get("QCOMPAT_PG_USER", "root"),
            "NAME": WORKER_DB_NAME or os.environ.get("QCOMPAT_PG_NAME", "test"),
            "TEST": {"NAME": f"test_qcompat_{os.getpid()}"},
        }
    }
elif DATABASE_KIND == "sqlite":
    test_file = Path(tempfile.gettempdir()) / f"qcompat-test-{os.getpid()}.sqlite3"
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": WORKER_DB_NAME or str(BASE_DIR / "unused.sqlite3"),
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            "TEST": {"NAME": str(test_file)},
        }
    }
else:
    raise RuntimeError(f"QCOMPAT_TEST_DB must be sqlite or postgres, not {DATABASE_KIND!r}.")

# Each test run gets its own queues, so that runs never consume each other's messages.
TEST_QUEUE_PREFIX = os.environ.setdefault("QCOMPAT_TEST_QUEUE", f"qcompat-{uuid.uuid4().hex[:10]}")
CELERY_BROKER_URL = os.environ.get("QCOMPAT_TEST_BROKER", "redis://127.0.0.1:6379/14")
TEST_RABBITMQ_URL = os.environ.get("QCOMPAT_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672//")

STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
