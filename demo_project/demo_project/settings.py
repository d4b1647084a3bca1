"""Settings of the qcompat demo.

With no environment variables the demo needs no server at all: SQLite, and
kombu's ``filesystem://`` broker, both kept in ``DEMO_DATA_DIR`` (by default
``demo_project/.qcompat/``). Two variables switch to real servers:

- ``DEMO_BROKER_URL``, for example ``redis://127.0.0.1:6379/0``;
- ``DEMO_DATABASE_URL``, for example ``postgres://user:password@127.0.0.1:5432/qcompat_demo``.
"""

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DEMO_DATA_DIR") or BASE_DIR / ".qcompat").resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("DEMO_SECRET_KEY", "qcompat-demo-not-secret")
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "qcompat",
    "demo",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "demo_project.urls"
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
STATIC_URL = "static/"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def database(url: str | None) -> dict[str, object]:
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "demo.sqlite3"),
            # The worker's processes, the web server and rundemo all write to this file.
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ImproperlyConfigured(
            f"DEMO_DATABASE_URL must be a postgres:// URL, not {url!r}; "
            "leave it unset to use SQLite."
        )
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }


DATABASES = {"default": database(os.environ.get("DEMO_DATABASE_URL"))}

# The host means nothing to the filesystem transport; naming one keeps kombu from warning.
CELERY_BROKER_URL = os.environ.get("DEMO_BROKER_URL") or "filesystem://localhost/"
CELERY_TASK_DEFAULT_QUEUE = "qcompat-demo"
if CELERY_BROKER_URL.startswith("filesystem://"):
    BROKER_DIR = DATA_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # One folder both ways: every process writes and reads the same queue.
        "data_folder_in": str(BROKER_DIR / "messages"),
        "data_folder_out": str(BROKER_DIR / "messages"),
        "control_folder": str(BROKER_DIR / "control"),
        # Taking a message is a rename, atomic only within one filesystem; by default
        # kombu moves it to the system's temporary folder, which may be another one.
        "store_processed": True,
        "processed_folder": str(BROKER_DIR / "processed"),
        # kombu looks for new files once a second unless told otherwise.
        "polling_interval": 0.05,
    }
    for folder in ("messages", "control", "processed"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
