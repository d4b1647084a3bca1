import os

from django.apps import AppConfig


class TestsConfig(AppConfig):
    name = "tests"
    label = "tests"

    def ready(self) -> None:
        from tests import instrumentation

        if os.environ.get("QCOMPAT_TEST_RECORD_SIGNALS"):
            instrumentation.record_signals()
        if os.environ.get("QCOMPAT_TEST_SLOW_STORE_MS"):
            instrumentation.slow_down_task_writes(
                float(os.environ["QCOMPAT_TEST_SLOW_STORE_MS"]) / 1000
            )
