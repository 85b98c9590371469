"""TLS to service-order: the CA of ORDER_SERVICE_CA_BUNDLE is trusted, and a client certificate sent (mTLS)."""

import ssl
from collections.abc import Iterator

import pytest

from gateway.http import HttpOrderClient
from gateway.orders import OrderServiceUnavailable
from tests.gateway.certificates import Certificates, make_certificates
from tests.gateway.scripted_service import Answer, ScriptedService, scripted_service
from tests.gateway.stalls import trickling_relay
from tests.system_tools import requires

pytestmark = requires("openssl", install="apt-get install openssl")

ORDER = Answer(body={"status": "cooking"})


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


def server_context(certificates: Certificates, *, client_certificate: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates.server_cert, certificates.server_key)
    if client_certificate:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(certificates.ca)
    return context


@pytest.fixture
def tls_service(certificates) -> Iterator[ScriptedService]:
    with scripted_service(server_context(certificates, client_certificate=False)) as service:
        service.answer(ORDER)
        yield service


@pytest.fixture
def mtls_service(certificates) -> Iterator[ScriptedService]:
    with scripted_service(server_context(certificates, client_certificate=True)) as service:
        service.answer(ORDER)
        yield service


def client(url: str, **kwargs) -> HttpOrderClient:
    return HttpOrderClient(base_url=url, retries=0, **kwargs)


def test_the_internal_ca_is_trusted(tls_service, certificates):
    assert client(tls_service.url, ca_bundle=str(certificates.ca)).get_order("o-1").status == "cooking"
    assert tls_service.url.startswith("https://")


def test_without_the_ca_the_certificate_is_refused(tls_service):
    # certifi's public CAs did not sign it: no answer is read from a server that could be anyone.
    with pytest.raises(OrderServiceUnavailable):
        client(tls_service.url).get_order("o-1")

    assert tls_service.requests == []


def test_another_ca_is_refused(tls_service, certificates):
    with pytest.raises(OrderServiceUnavailable):
        client(tls_service.url, ca_bundle=str(certificates.other_ca)).get_order("o-1")

    assert tls_service.requests == []


def test_the_client_certificate_is_sent_when_asked_for(mtls_service, certificates):
    gateway = client(
        mtls_service.url,
        ca_bundle=str(certificates.ca),
        client_cert=str(certificates.client_cert),
        client_key=str(certificates.client_key),
    )

    assert gateway.get_order("o-1").status == "cooking"
    assert len(mtls_service.requests) == 1


def test_without_a_client_certificate_mtls_refuses(mtls_service, certificates):
    with pytest.raises(OrderServiceUnavailable):
        client(mtls_service.url, ca_bundle=str(certificates.ca)).get_order("o-1")

    assert mtls_service.requests == []


def test_from_settings_uses_the_tls_settings(mtls_service, certificates, settings):
    settings.ORDER_SERVICE_URL = mtls_service.url
    settings.ORDER_SERVICE_CA_BUNDLE = str(certificates.ca)
    settings.ORDER_SERVICE_CLIENT_CERT = str(certificates.client_cert)
    settings.ORDER_SERVICE_CLIENT_KEY = str(certificates.client_key)

    assert HttpOrderClient.from_settings(retries=0).get_order("o-1").status == "cooking"


@pytest.mark.timeout(30)
def test_a_trickled_handshake_ends_at_the_deadline(tls_service, certificates):
    # Each byte of the server's hello and certificates comes well within the timeouts. ssl holds the handshake
    # as a whole to the socket's timeout (urllib3's connect timeout, capped by the deadline), and the deadline's
    # shutdown would end it too: either way the attempt ends with the deadline, before any request is sent.
    attempts = []
    with trickling_relay(tls_service.url, pause=0.02) as url:
        gateway = client(
            url,
            ca_bundle=str(certificates.ca),
            connect_timeout=60.0,
            read_timeout=60.0,
            deadline=0.3,
            on_attempt=lambda label, seconds: attempts.append(label),
        )

        with pytest.raises(OrderServiceUnavailable, match="after 1 tries: timeout"):
            gateway.get_order("o-1")

    assert attempts == ["timeout"]
    assert tls_service.requests == []
