"""The test settings plus a Django Q cluster configuration, as a migrating project has it."""

from tests.settings import *  # noqa: F403
from tests.settings import TEST_QUEUE_PREFIX

QUEUE = f"{TEST_QUEUE_PREFIX}-qcluster"

Q_CLUSTER = {
    "name": QUEUE,
    "workers": 2,
    "recycle": 1,
    "max_rss": 250_000,
    "timeout": 30,
    "retry": 45,
    "ack_failures": True,
    "label": "Legacy tasks",
    "log_level": "INFO",
    "orm": "default",
}
