"""Celery apps set up the standard Django way, one per deployment under test.

Three share the Redis broker and differ in their result backend; one runs on
RabbitMQ. Each consumes its own queue; ``task_routes`` sends ``tests.jobs.routed_*``
(keyed by the function's path) to a second queue.
"""

from celery import Celery
from django.conf import settings


def make_app(variant: str, result_backend: str | None, broker_url: str | None = None) -> Celery:
    app = Celery(f"qcompat-tests-{variant}")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    if broker_url is not None:
        app.conf.broker_url = broker_url
    if result_backend is not None:
        app.conf.result_backend = result_backend
    queue = f"{settings.TEST_QUEUE_PREFIX}-{variant}"
    app.conf.task_default_queue = queue
    app.conf.task_routes = {
        "tests.jobs.routed_*": {"queue": f"{queue}-routed"},
        "tests.hooks.*": {"queue": f"{queue}-routed"},
    }
    app.autodiscover_tasks()
    return app


no_backend = make_app("no-backend", None)
django_db = make_app("django-db", "django-db")
task_backend = make_app("task-backend", "qcompat.backends.TaskBackend")
# Celery's first-steps deployment: RabbitMQ, with results sent back over AMQP.
rabbitmq_rpc = make_app("rabbitmq-rpc", "rpc://", settings.TEST_RABBITMQ_URL)
# For a worker whose writes to the task table are slowed down on purpose.
slow_store = make_app("slow-store", None)

APPS = {
    "no-backend": no_backend,
    "django-db": django_db,
    "task-backend": task_backend,
    "rabbitmq-rpc": rabbitmq_rpc,
    "slow-store": slow_store,
}
