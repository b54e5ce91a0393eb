"""Swagger UI in a real browser (Debian's headless Chromium): every operation is there, and a person
can authorize and create a task with "Try it out"."""

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import token_for

from handlers.app import create_app

SCREENSHOT = Path(__file__).parent.parent / "reports" / "swagger-ui.png"
OPERATIONS = {"get_health", "list_tasks", "sync_tasks", "create_task", "get_task", "update_task", "delete_task",
              "toggle_task_completion"}


@pytest.fixture
def browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium and chromedriver are missing: apt-get install chromium chromium-driver")
        pytest.skip("browser test needs Debian's chromium and chromium-driver")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never download a browser or driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,2400"):
        options.add_argument(argument)
    session = webdriver.Chrome(service=Service(driver), options=options)
    session.implicitly_wait(0)
    yield session
    SCREENSHOT.parent.mkdir(exist_ok=True)
    session.save_screenshot(str(SCREENSHOT))  # kept as an artifact, and a first look when this fails
    session.quit()


def test_swagger_ui_authorizes_and_creates_a_task(browser, live_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 30)
    browser.get(f"{live_server.url}/docs/")
    wait.until(lambda page: len(page.find_elements(By.CSS_SELECTOR, ".opblock")) == len(OPERATIONS))
    listed = {element.get_attribute("id").rsplit("-", 1)[-1]
              for element in browser.find_elements(By.CSS_SELECTOR, ".opblock")}
    assert {name for name in OPERATIONS if any(i.endswith(name) for i in listed)} == OPERATIONS

    # The Servers drop-down names this server: not empty, and relative, so the page works behind any port.
    assert [option.text for option in browser.find_elements(By.CSS_SELECTOR, ".servers select option")] == [
        "/ - This server (where this page came from)"]

    browser.find_element(By.CSS_SELECTOR, ".btn.authorize").click()
    wait.until(shown.visibility_of_element_located((By.CSS_SELECTOR, ".modal-ux input"))).send_keys(
        token_for("ui_alice", exp_in=900))
    browser.find_element(By.CSS_SELECTOR, ".modal-ux .auth-btn-wrapper .authorize").click()
    browser.find_element(By.CSS_SELECTOR, ".modal-ux .btn-done").click()

    operation = browser.find_element(By.CSS_SELECTOR, "#operations-tasks-create_task")
    operation.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait.until(lambda _: operation.find_elements(By.CSS_SELECTOR, ".try-out__btn"))[0].click()
    user_field = wait.until(lambda _: operation.find_element(By.CSS_SELECTOR, "tr[data-param-name='user_id'] input"))
    user_field.clear()  # Swagger UI fills in the spec's example
    user_field.send_keys("ui_alice")
    body = operation.find_element(By.CSS_SELECTOR, "textarea.body-param__text")
    body.clear()
    body.send_keys(json.dumps({"title": "Made in Swagger UI", "description": "by a browser test"}))
    operation.find_element(By.CSS_SELECTOR, ".btn.execute").click()

    wait.until(lambda _: any(cell.text.strip() == "201" for cell in operation.find_elements(
        By.CSS_SELECTOR, ".live-responses-table tbody .response-col_status")))
    response_body = operation.find_element(By.CSS_SELECTOR, ".live-responses-table tbody .response-col_description pre")
    browser.execute_script("arguments[0].scrollIntoView()", response_body)
    created = json.loads(response_body.text)
    assert created["title"] == "Made in Swagger UI" and created["user_id"] == "ui_alice"


@pytest.mark.parametrize("prefix", ["", "/behind/a/proxy"])
def test_the_served_spec_names_this_server_under_its_path_prefix(settings, prefix):
    from starlette.testclient import TestClient

    with TestClient(create_app(settings), root_path=prefix) as client:
        servers = client.get("/openapi.json").json()["servers"]
    assert servers == [{"url": prefix or "/", "description": "This server (where this page came from)"}]
