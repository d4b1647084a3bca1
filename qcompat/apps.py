from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class QCompatConfig(AppConfig):
    name = "qcompat"
    label = "qcompat"
    verbose_name = _("Tasks")
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        # Registers qcompat's Celery tasks and its signed serializer in every
        # process that loads Django: web processes send, workers execute.
        from qcompat import worker  # noqa: F401
