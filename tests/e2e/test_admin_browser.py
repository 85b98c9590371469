"""The operators' admin and the API docs in a real browser: headless Chromium through login, couriers, a courier,
overdue deliveries; Swagger UI rendered from the server alone, under the Content-Security-Policy.

The viewport is a common laptop's, 1366x768, with the admin's navigation sidebar open (its default): what a
dispatcher must see, overdue deliveries first, fits in it without scrolling sideways.

Screenshots of every page go to artifacts/screenshots/ (git-ignored), also when an assertion fails.
"""

import importlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission, User
from django.utils import timezone
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.select import Select

from couriers.api.permissions import DISPATCHERS_GROUP
from couriers.models import Courier
from couriers.services import courier_create, order_event_handle
from tests import system_tools
from tests.fakes import FakeOrderClient

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = Path(settings.BASE_DIR) / "artifacts" / "screenshots"
PASSWORD = "a-browser-password"
# The admin's label colours (couriers.admin.COLOURS, OVERDUE_COLOUR) as the browser computes them.
BUSY = "rgba(230, 81, 0, 1)"
PAUSED = "rgba(117, 117, 117, 1)"
ASSIGNED = "rgba(21, 101, 192, 1)"
AWAITING = "rgba(178, 106, 0, 1)"
OVERDUE = "rgba(186, 33, 33, 1)"
VIEWPORT = {"width": 1366, "height": 768}

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),  # the live server's thread sees what the test commits
    system_tools.CHROMIUM,
]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--window-size={VIEWPORT['width']},{VIEWPORT['height']}",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP violations are console errors
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    # The window's size is not the page's: set the viewport itself.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**VIEWPORT, "deviceScaleFactor": 1, "mobile": False})
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


@pytest.fixture
def shoot(browser: WebDriver, request: pytest.FixtureRequest):
    folder = SCREENSHOTS / request.node.name
    folder.mkdir(parents=True, exist_ok=True)

    def save(name: str) -> None:
        browser.save_screenshot(str(folder / f"{name}.png"))

    return save


@pytest.fixture
def dispatch_floor(settings) -> dict[str, str]:
    """Through the services: two couriers on deliveries (one late), one paused, one order waiting, one done."""
    # Plain-HTTP live server: cookies the browser may send without TLS.
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    User.objects.create_superuser("operator", "operator@example.com", PASSWORD)
    courier_create(name="Carla Car", phone="+15550000001", transport_type="car")
    courier_create(name="Sasha Scooter", phone="+15550000002", transport_type="scooter")
    courier_create(name="Paula Paused", phone="+15550000003", transport_type="on_foot", status="paused")
    orders = FakeOrderClient()
    for order_id in ("order-done", "order-late", "order-on-time", "order-waiting"):
        orders.set(order_id, "cooking")
    order_event_handle(order_id="order-done", event_status="cooking", client=orders)
    orders.set("order-done", "completed")
    order_event_handle(order_id="order-done", event_status="completed", client=orders)
    # Assigned two hours ago: a car's 5 minutes are long gone.
    with mock.patch("django.utils.timezone.now", return_value=timezone.now() - timedelta(hours=2)):
        order_event_handle(order_id="order-late", event_status="cooking", client=orders)
    order_event_handle(order_id="order-on-time", event_status="cooking", client=orders)
    order_event_handle(order_id="order-waiting", event_status="created", client=orders)
    late_courier = Courier.objects.get(deliveries__order_id="order-late")
    return {"late_courier": late_courier.name}


def label(row: WebElement, text: str) -> WebElement:
    return row.find_element(By.XPATH, f".//span[normalize-space()='{text}']")


def result_rows(browser: WebDriver) -> dict[str, WebElement]:
    """The rows of a change list by their first, linked, column."""
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    return {row.find_element(By.CSS_SELECTOR, "th").text: row for row in rows}


def assert_in_view(browser: WebDriver, element: WebElement) -> None:
    """On screen without scrolling: inside the viewport, not clipped by the list's own scroller nor covered."""
    seen = browser.execute_script(
        """
        const element = arguments[0];
        const box = element.getBoundingClientRect();
        const results = element.closest('.results');
        const centre = document.elementFromPoint((box.left + box.right) / 2, (box.top + box.bottom) / 2);
        return {
            viewport: [innerWidth, innerHeight],
            box: [box.left, box.top, box.right, box.bottom],
            pageScrollsSideways: document.documentElement.scrollWidth > document.documentElement.clientWidth,
            listScrollsSideways: results !== null && results.scrollWidth > results.clientWidth,
            onTop: centre !== null && (centre === element || element.contains(centre)),
        };
        """,
        element,
    )
    left, top, right, bottom = seen["box"]
    width, height = seen["viewport"]
    assert (width, height) == (VIEWPORT["width"], VIEWPORT["height"])
    assert 0 <= left < right <= width, seen
    assert 0 <= top < bottom <= height, seen
    assert not seen["pageScrollsSideways"], seen
    assert not seen["listScrollsSideways"], seen
    assert seen["onTop"], seen


def csp_refusals(browser: WebDriver) -> list[str]:
    """What the Content-Security-Policy refused (a script, a style, a request) since the last call."""
    return [entry["message"] for entry in browser.get_log("browser") if "Content Security Policy" in entry["message"]]


def summary_link(browser: WebDriver, text: str) -> WebElement:
    return browser.find_element(By.ID, "fleet-summary").find_element(By.PARTIAL_LINK_TEXT, text)


def test_an_operator_walks_the_admin(browser, live_server, shoot, dispatch_floor):
    browser.get(f"{live_server.url}/admin/")
    shoot("01-login")
    browser.find_element(By.ID, "id_username").send_keys("operator")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    shoot("02-index")
    assert browser.find_element(By.ID, "user-tools").text.upper().startswith("WELCOME, OPERATOR")

    browser.find_element(By.LINK_TEXT, "Couriers").click()
    shoot("03-couriers")
    couriers = result_rows(browser)
    assert set(couriers) == {"Carla Car", "Sasha Scooter", "Paula Paused"}
    late = dispatch_floor["late_courier"]
    on_time = ({"Carla Car", "Sasha Scooter"} - {late}).pop()
    assert label(couriers[late], "busy").value_of_css_property("background-color") == BUSY
    assert label(couriers["Paula Paused"], "paused").value_of_css_property("background-color") == PAUSED
    assert "order-late" in couriers[late].text
    assert "late" in couriers[late].find_element(By.CSS_SELECTOR, ".field-current_delivery").text
    badge = label(couriers[late], "overdue")
    assert badge.value_of_css_property("background-color") == OVERDUE
    assert_in_view(browser, badge)
    assert "order-on-time" in couriers[on_time].text
    assert "overdue" not in couriers[on_time].text
    assert "Orders waiting for a courier: 1." in browser.find_element(By.ID, "content").text

    couriers[late].find_element(By.LINK_TEXT, late).click()
    shoot("04-courier")
    assert browser.find_element(By.ID, "id_name").get_attribute("value") == late
    inline = browser.find_element(By.CSS_SELECTOR, ".inline-group")
    assert "order-late" in inline.text
    assert label(inline, "assigned").value_of_css_property("background-color") == ASSIGNED
    assert label(inline, "overdue").value_of_css_property("background-color") == OVERDUE

    browser.get(f"{live_server.url}/admin/couriers/delivery/")
    shoot("05-deliveries")
    everything = result_rows(browser)
    assert set(everything) == {"order-done", "order-late", "order-on-time", "order-waiting"}
    badge = label(everything["order-late"], "overdue")
    assert badge.value_of_css_property("background-color") == OVERDUE
    assert_in_view(browser, badge)
    assert "late" in everything["order-late"].find_element(By.CSS_SELECTOR, ".field-deadline_cell").text
    assert "overdue" not in everything["order-on-time"].text
    filters = browser.find_element(By.ID, "changelist-filter")
    assert "Awaiting courier" in filters.text.splitlines()  # the labels' words, not "Awaiting Courier"

    summary_link(browser, "Orders waiting for a courier: 1").click()
    shoot("06-deliveries-waiting")
    assert "status__exact=awaiting_courier" in browser.current_url
    waiting = result_rows(browser)
    assert set(waiting) == {"order-waiting"}
    assert label(waiting["order-waiting"], "awaiting courier").value_of_css_property("background-color") == AWAITING

    summary_link(browser, "Overdue: 1").click()
    shoot("07-deliveries-overdue")
    assert "overdue=yes" in browser.current_url
    overdue = result_rows(browser)
    assert set(overdue) == {"order-late"}
    assert_in_view(browser, label(overdue["order-late"], "overdue"))

    browser.find_element(By.ID, "changelist-filter").find_element(By.LINK_TEXT, "Not overdue").click()
    shoot("08-deliveries-not-overdue")
    in_time = result_rows(browser)
    assert set(in_time) == {"order-done", "order-on-time", "order-waiting"}
    assert "overdue" not in in_time["order-on-time"].text
    assert csp_refusals(browser) == []


def test_the_api_docs_render_with_every_request_staying_on_the_server(browser, live_server, shoot):
    browser.get(f"{live_server.url}/api/docs/")
    operations = browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")  # waits (implicitly) for the first
    shoot("01-api-docs")

    paths = {operation.get_attribute("data-path") for operation in operations}
    assert {"/api/v1/couriers/", "/api/v1/deliveries/assign/", "/healthz"} <= paths
    requested = browser.execute_script("return performance.getEntriesByType('resource').map(entry => entry.name)")
    assert any(name.endswith("/api/schema/") for name in requested), requested
    assert [name for name in requested if not name.startswith(f"{live_server.url}/")] == []
    assert csp_refusals(browser) == []


@pytest.fixture
def queue_floor(dispatch_floor: dict[str, str]) -> dict[str, str]:
    """The dispatch floor with two more orders waiting behind the first, and a dispatcher (not a superuser)."""
    orders = FakeOrderClient()
    for order_id in ("order-waiting-2", "order-waiting-3"):
        orders.set(order_id, "created")
        order_event_handle(order_id=order_id, event_status="created", client=orders)
    dispatcher = User.objects.create_user("dispatcher", password=PASSWORD, is_staff=True)
    dispatcher.groups.add(dispatchers_group())
    return dispatch_floor


def dispatchers_group() -> Group:
    """The group its migration makes, made again if an earlier test's flush emptied the table."""
    migration = importlib.import_module("couriers.migrations.0003_dispatchers_group")
    group, _ = Group.objects.get_or_create(name=DISPATCHERS_GROUP)
    group.permissions.set(
        Permission.objects.get(content_type__app_label="couriers", codename=codename)
        for _, codename in migration.PERMISSIONS
    )
    return group


def sign_in(browser: WebDriver, url: str, username: str) -> None:
    browser.get(f"{url}/admin/")
    browser.find_element(By.ID, "id_username").send_keys(username)
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()


def messages_shown(browser: WebDriver) -> list[str]:
    return [item.text for item in browser.find_elements(By.CSS_SELECTOR, "ul.messagelist li")]


def test_a_dispatcher_serves_the_queue_from_the_admin(browser, live_server, shoot, queue_floor):
    sign_in(browser, live_server.url, "dispatcher")
    browser.find_element(By.LINK_TEXT, "Couriers").click()
    shoot("01-couriers-what-needs-a-dispatcher-first")
    late = queue_floor["late_courier"]
    on_time = ({"Carla Car", "Sasha Scooter"} - {late}).pop()
    assert list(result_rows(browser)) == [late, on_time, "Paula Paused"]

    # Pausing a courier already paused changes nothing, and says so.
    result_rows(browser)["Paula Paused"].find_element(By.CSS_SELECTOR, "input.action-select").click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("pause")
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    shoot("02-pause-a-paused-courier")
    assert messages_shown(browser) == ["Paused 0 courier(s); 1 already paused, left as they were."]

    summary_link(browser, "Orders waiting for a courier: 3").click()
    shoot("03-the-queue-in-serving-order")
    queue = result_rows(browser)
    assert list(queue) == ["order-waiting", "order-waiting-2", "order-waiting-3"]
    positions = [row.find_element(By.CSS_SELECTOR, ".field-queue b").text for row in queue.values()]
    assert positions == ["1", "2", "3"]
    assert_in_view(browser, queue["order-waiting"].find_element(By.CSS_SELECTOR, ".field-queue"))

    browser.get(f"{live_server.url}/admin/couriers/delivery/?q=order-on-time")
    result_rows(browser)["order-on-time"].find_element(By.LINK_TEXT, "order-on-time").click()
    shoot("04-a-delivery-and-its-actions")
    assert browser.find_element(By.CSS_SELECTOR, ".field-overdue .readonly").text == "no"
    actions = [link.text for link in browser.find_elements(By.CSS_SELECTOR, "a.page-action")]
    assert [text.upper() for text in actions] == ["TAKE THE COURIER OFF", "CANCEL THE DELIVERY"]

    browser.find_element(By.PARTIAL_LINK_TEXT, actions[1]).click()
    shoot("05-confirm-the-cancel")
    assert "does not apply" not in browser.find_element(By.ID, "content").text
    browser.find_element(By.CSS_SELECTOR, "input[type=submit][value^='Yes']").click()
    shoot("06-cancelled")
    assert messages_shown(browser) == [
        "Cancelled the delivery of order order-on-time; its courier, if it had one, is free."
    ]
    assert "cancelled" in browser.find_element(By.CSS_SELECTOR, ".field-status_label").text
    assert browser.find_elements(By.CSS_SELECTOR, "a.page-action") == []
    # The courier freed took the first order of the queue; the others moved up.
    browser.get(f"{live_server.url}/admin/couriers/delivery/?status__exact=awaiting_courier")
    queue = result_rows(browser)
    assert list(queue) == ["order-waiting-2", "order-waiting-3"]
    assert [row.find_element(By.CSS_SELECTOR, ".field-queue b").text for row in queue.values()] == ["1", "2"]

    browser.find_element(By.CSS_SELECTOR, '#user-tools a[href="/"]').click()  # View site
    shoot("07-view-site")
    assert browser.find_element(By.TAG_NAME, "h1").text == "service-courier"
    assert csp_refusals(browser) == []
