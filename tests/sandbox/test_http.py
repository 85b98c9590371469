"""The simulator's HTTP API against service-order's contract, over real sockets."""

import http.client
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import requests

from gateway.http import HttpOrderClient
from gateway.orders import BadOrderAnswer, OrderNotFound, OrderServiceUnavailable
from sandbox.simulator import Simulator

ORDER_URL = "{url}/public/api/v1/order/{order_id}"
ORDER_FIELDS = {
    "id",
    "user_id",
    "order_number",
    "fio",
    "restaurant_id",
    "items",
    "total_price",
    "address",
    "status",
    "created_at",
    "updated_at",
    "estimated_delivery",
}


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator(seed=3) as simulator:
        yield simulator


def get(simulator: Simulator, order_id: str, suffix: str = "", **kwargs) -> requests.Response:
    return requests.get(ORDER_URL.format(url=simulator.url, order_id=order_id) + suffix, timeout=5, **kwargs)


def test_the_whole_order(simulator, order_id):
    response = get(simulator, order_id)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == ORDER_FIELDS
    assert body["id"] == order_id
    assert body["status"] == "created"
    assert body["items"]
    assert {"food_id", "name", "quantity", "price"} <= set(body["items"][0])


def test_the_status_alone(simulator, order_id):
    response = get(simulator, order_id, "/status")

    assert response.status_code == 200
    assert response.json() == {"order_id": order_id, "status": "created"}


def test_unknown_and_deleted_orders_are_not_found(simulator, order_id):
    assert simulator.delete(order_id)

    for target in (order_id, str(uuid.uuid4())):
        for suffix in ("", "/status"):
            response = get(simulator, target, suffix)
            assert response.status_code == 404
            assert response.json() == {"code": "not_found", "message": "not found"}


@pytest.mark.parametrize("path", ["not-a-uuid", "%20", "", "/status", "123", "abc%2Fdef", "%00"])
def test_empty_or_malformed_ids_are_bad_requests(simulator, path):
    response = requests.get(f"{simulator.url}/public/api/v1/order/{path}", timeout=5)

    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"
    assert response.json()["message"]


def test_a_percent_encoded_id_is_decoded(simulator, order_id):
    encoded = "".join(f"%{byte:02X}" for byte in order_id.encode())

    response = get(simulator, encoded, "/status")

    assert response.status_code == 200
    assert response.json()["order_id"] == order_id


def test_an_outage_answers_503_until_it_ends(simulator, order_id):
    simulator.outage(60)

    response = get(simulator, order_id)

    assert response.status_code == 503
    assert response.json()["code"] == "internal"


def test_a_scheduled_outage_has_not_begun_yet(simulator, order_id):
    simulator.outage(1, start_in=60)

    assert get(simulator, order_id).status_code == 200


def test_a_configured_token_is_demanded():
    with Simulator(token="s3cret") as simulator:
        order_id = simulator.create_order()

        assert get(simulator, order_id).status_code == 401
        assert get(simulator, order_id, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert get(simulator, order_id, headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_requests_are_counted_by_status(simulator, order_id):
    get(simulator, order_id)
    get(simulator, order_id, "/status")
    get(simulator, "nope")

    stats = simulator.requests()

    assert stats.total == 3
    assert stats.by_status == {200: 2, 400: 1}


def test_a_connection_is_kept_alive_between_requests(simulator, order_id):
    connection = http.client.HTTPConnection(urlsplit(simulator.url).netloc, timeout=5)
    try:
        for _ in range(3):
            connection.request("GET", f"/public/api/v1/order/{order_id}/status")
            response = connection.getresponse()
            assert response.status == 200
            response.read()
            assert not response.will_close
    finally:
        connection.close()


def test_many_threads_with_pooled_sessions(simulator):
    ids = simulator.create_orders(20)

    def read_all(_: int) -> list[int]:
        with requests.Session() as session:
            return [get_with(session, simulator, order_id) for order_id in ids * 5]

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = [code for batch in pool.map(read_all, range(8)) for code in batch]

    assert codes == [200] * 800
    assert simulator.requests().by_status == {200: 800}


def get_with(session: requests.Session, simulator: Simulator, order_id: str) -> int:
    return session.get(ORDER_URL.format(url=simulator.url, order_id=order_id), timeout=5).status_code


def test_the_gateway_reads_the_simulator(simulator, order_id):
    client = HttpOrderClient(base_url=simulator.url, retries=0)

    assert client.get_order(order_id).status == "created"
    simulator.delete(order_id)
    with pytest.raises(OrderNotFound):
        client.get_order(order_id)


def test_a_moved_api_leaves_a_routers_404_at_the_old_path(simulator, order_id):
    simulator.move_api("/v2/orders/")

    old = get(simulator, order_id)
    moved = requests.get(f"{simulator.url}/v2/orders/{order_id}", timeout=5)

    assert old.status_code == 404
    assert old.headers["Content-Type"].startswith("text/plain")
    assert old.text == "404 page not found\n"
    assert moved.status_code == 200
    assert moved.json()["id"] == order_id


def test_a_malformed_poison_order_answers_200_without_a_status(simulator, order_id):
    simulator.poison(order_id, "malformed")

    response = requests.get(ORDER_URL.format(url=simulator.url, order_id=order_id), timeout=5)

    assert response.status_code == 200
    assert "status" not in response.json()
    with pytest.raises(BadOrderAnswer):
        HttpOrderClient(base_url=simulator.url).get_order(order_id)


def test_a_hanging_poison_order_never_answers_in_time_while_others_do(simulator, order_id):
    other = simulator.create_order()
    simulator.poison(order_id, "hang")
    client = HttpOrderClient(base_url=simulator.url, read_timeout=0.5, retries=0)

    with pytest.raises(OrderServiceUnavailable, match="timeout"):
        client.get_order(order_id)
    assert client.get_order(other).status == "created"


def test_an_error_poison_order_answers_500_for_good_and_its_asks_are_counted(simulator, order_id):
    simulator.poison(order_id, "error")

    answers = [get(simulator, order_id) for _ in range(3)]

    assert {response.status_code for response in answers} == {500}
    assert answers[0].json()["code"] == "internal"
    assert simulator.server.asked(order_id) == 3


def test_a_trickle_poison_order_sends_its_answer_a_byte_at_a_time(simulator, order_id):
    simulator.poison(order_id, "trickle")
    target = urlsplit(simulator.url)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=5)
    connection.request("GET", ORDER_URL.format(url="", order_id=order_id))
    response = connection.getresponse()

    first = response.read1(100)  # whatever has arrived: a byte every half second

    assert response.status == 200
    assert int(response.headers["Content-Length"]) > 100
    assert 1 <= len(first) < 10
    connection.close()
