"""The task admin in a real browser: headless Chromium, driven by Selenium.

It needs Debian's ``chromium`` and ``chromium-driver`` packages and the
``selenium`` package; without them it is skipped, except under ``CI=true``,
where it fails instead.
"""

from __future__ import annotations

import datetime
import os
import shutil
import uuid

import pytest
from django.utils import timezone

from qcompat.models import Task

CHROMIUM = os.environ.get("QCOMPAT_CHROMIUM", "chromium")
CHROMEDRIVER = os.environ.get("QCOMPAT_CHROMEDRIVER", "chromedriver")
PASSWORD = "browser-test"

pytestmark = pytest.mark.django_db(transaction=True)


def require_browser() -> None:
    missing = [name for name in (CHROMIUM, CHROMEDRIVER) if shutil.which(name) is None]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if not missing:
        return
    message = f"{' and '.join(missing)} not found; the browser test needs them."
    if os.environ.get("CI") == "true":
        pytest.fail(
            f"{message} CI must install them (apt: chromium chromium-driver; pip: selenium)."
        )
    pytest.skip(f"{message} Install chromium, chromium-driver and selenium to run it.")


@pytest.fixture
def browser():
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(shutil.which(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


def make_task(success: bool, **fields) -> Task:
    task_id = uuid.uuid4().hex
    stopped = timezone.now()
    return Task.objects.create(
        id=task_id,
        name=f"task-{task_id[:8]}",
        started=stopped - datetime.timedelta(seconds=1.5),
        stopped=stopped,
        success=success,
        attempt_count=1,
        kwargs={},
        **fields,
    )


def test_admin_in_a_browser(browser, live_server, django_user_model, settings):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    settings.Q_CLUSTER = {"sync": True}
    django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    succeeded = make_task(True, func="math.copysign", args=(2, -2), result=-2.0, group="signs")
    traceback = (
        'Traceback (most recent call last):\n  File "jobs.py", line 3\nTypeError: <b>no</b>\n'
    )
    failed = make_task(
        False,
        func="tests.jobs.add",
        args=(2, 3),
        result=f"<b>no</b> : {traceback}",
        exception={"exc_type": "TypeError", "exc_message": ["<b>no</b>"]},
    )

    def visible_text() -> str:
        return browser.find_element(By.TAG_NAME, "body").text

    def wait_until(condition) -> None:
        # A click returns before the next page has loaded; reading at once reads the old one.
        WebDriverWait(browser, 10).until(lambda _driver: condition())

    def absent(selector: str) -> bool:
        # Looking for what should not be there must not wait for it to appear.
        browser.implicitly_wait(0)
        try:
            return not browser.find_elements(By.CSS_SELECTOR, selector)
        finally:
            browser.implicitly_wait(5)

    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("boss")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    browser.find_element(By.LINK_TEXT, "Successful tasks").click()

    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert [row.find_element(By.CSS_SELECTOR, "th").text for row in rows] == [succeeded.name]
    assert "math.copysign" in rows[0].text
    assert "signs" in rows[0].text
    assert "1.500" in rows[0].text
    assert "1 successful task" in visible_text()
    assert browser.find_element(By.LINK_TEXT, "Revoke tasks").is_displayed()

    rows[0].find_element(By.LINK_TEXT, succeeded.name).click()
    wait_until(lambda: "View successful task" in visible_text())
    shown = [pre.text for pre in browser.find_elements(By.CSS_SELECTOR, "pre.qcompat-value")]
    assert shown == ["(2, -2)", "{}", "-2.0"]
    assert absent("[name=_save]")

    browser.get(f"{live_server.url}/admin/qcompat/failure/")
    row = browser.find_element(By.CSS_SELECTOR, "#result_list tbody tr")
    assert failed.name in row.text
    assert "<b>no</b> : Traceback" in row.text
    row.find_element(By.LINK_TEXT, failed.name).click()
    wait_until(lambda: "View failed task" in visible_text())
    error, trace = browser.find_elements(By.CSS_SELECTOR, "pre.qcompat-value")[2:]
    # Markup in an error message shows as text; nothing in it is rendered.
    assert error.text == "TypeError: <b>no</b>"
    assert trace.text == traceback.strip()
    assert absent("pre.qcompat-value b")

    browser.get(f"{live_server.url}/admin/qcompat/failure/")
    browser.find_element(By.CSS_SELECTOR, f"input.action-select[value='{failed.pk}']").click()
    Select(browser.find_element(By.NAME, "action")).select_by_visible_text(
        "Resubmit selected tasks"
    )
    browser.find_element(By.CSS_SELECTOR, "button[name=index], input[name=index]").click()
    wait_until(lambda: not absent(".messagelist"))
    assert "Resubmitted 1 task." in browser.find_element(By.CSS_SELECTOR, ".messagelist").text
    assert "0 failed tasks" in visible_text()
    assert absent("#result_list")

    browser.get(f"{live_server.url}/admin/qcompat/success/")
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 2
    assert "tests.jobs.add" in rows[0].text

    group_box = browser.find_element(By.CSS_SELECTOR, "#changelist-filter input[name=group]")
    group_box.send_keys("signs\n")
    wait_until(lambda: "group=signs" in browser.current_url)
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert [row.find_element(By.CSS_SELECTOR, "th").text for row in rows] == [succeeded.name]
    assert "group=signs" in browser.current_url
