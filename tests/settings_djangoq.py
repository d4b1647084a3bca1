"""The test settings with django-q2 installed, for the steps that play a Django Q project.

Only subprocesses use them: django_q is never among the test process's apps.
"""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "django_q"]
Q_CLUSTER = {"name": "history", "orm": "default", "timeout": 60, "retry": 120}
