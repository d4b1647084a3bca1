from __future__ import annotations

from types import ModuleType

from django.apps import AppConfig
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class QCompatConfig(AppConfig):
    name = "qcompat"
    label = "qcompat"
    default_auto_field = "django.db.models.AutoField"

    def __init__(self, app_name: str, app_module: ModuleType | None) -> None:
        super().__init__(app_name, app_module)
        # Django creates every app config before it imports any models module, and
        # models modules are where Django Q code most often imports django_q.
        from qcompat import django_q_alias

        django_q_alias.install_if_enabled()

    @property
    def verbose_name(self) -> str | Promise:  # type: ignore[override]
        """The admin's heading for qcompat's models: Django Q's ``label``, else "Tasks"."""
        from django.core.exceptions import ImproperlyConfigured

        from qcompat import conf

        try:
            label = conf.admin_label()
        except ImproperlyConfigured:
            label = None  # the system check qcompat.E001 reports it
        return label or _("Tasks")

    def ready(self) -> None:
        from django.core import checks

        # Registers qcompat's Celery tasks and its signed serializer in every
        # process that loads Django: web processes send, workers execute.
        from qcompat import cluster, worker  # noqa: F401
        from qcompat.checks import check_q_cluster

        checks.register(check_q_cluster)
        cluster.connect()
