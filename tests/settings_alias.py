"""The test settings of a project that keeps its Django Q imports, with the alias turned on."""

from tests.settings import *  # noqa: F403

QCOMPAT_DJANGO_Q_ALIAS = True
