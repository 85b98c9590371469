"""Where service-order is and how we may call it: the checks shared by start-up and the client."""

import ssl
from urllib.parse import urlsplit


def order_service_config_error(*, url: str, path_template: str, token: str, allow_insecure_token: bool) -> str | None:
    """Why this configuration must not be used, or None when it is fine."""
    if "{order_id}" not in path_template:
        return "ORDER_SERVICE_PATH must contain {order_id}"
    if not path_template.startswith("/"):
        # Appended to ORDER_SERVICE_URL as it is: without the slash an order id could change the host.
        return f"ORDER_SERVICE_PATH={path_template!r} must start with /"
    if token and urlsplit(url).scheme != "https" and not allow_insecure_token:
        return (
            f"ORDER_SERVICE_TOKEN would be sent in clear to ORDER_SERVICE_URL={url!r}: "
            "use https://, or set ORDER_SERVICE_ALLOW_INSECURE_TOKEN=true on a trusted network"
        )
    return None


def order_service_tls_error(
    *, without_tls: str | None, ca_bundle: str, client_cert: str, client_key: str
) -> str | None:
    """Why these TLS files must not be used, or None when they are fine (checked at start-up).

    `without_tls` says why the transport uses no TLS (None when it does): the files would then be unused.
    """
    given = [name for name, value in (("CA_BUNDLE", ca_bundle), ("CLIENT_CERT", client_cert)) if value]
    if client_key:
        given.append("CLIENT_KEY")
    if given and without_tls:
        names = ", ".join(f"ORDER_SERVICE_{name}" for name in given)
        return f"{names} set, but {without_tls}: they would be unused"
    if client_key and not client_cert:
        return "ORDER_SERVICE_CLIENT_KEY set without ORDER_SERVICE_CLIENT_CERT"
    context = ssl.create_default_context()
    try:
        if ca_bundle:
            context.load_verify_locations(cafile=ca_bundle)
    except (ssl.SSLError, OSError) as exc:
        return f"ORDER_SERVICE_CA_BUNDLE={ca_bundle!r} holds no usable PEM certificate: {exc}"
    try:
        if client_cert:
            context.load_cert_chain(client_cert, client_key or None)
    except (ssl.SSLError, OSError) as exc:
        return f"ORDER_SERVICE_CLIENT_CERT={client_cert!r} and ORDER_SERVICE_CLIENT_KEY do not make a key pair: {exc}"
    return None


def grpc_config_error(*, target: str, tls: bool, token: str, allow_insecure_token: bool) -> str | None:
    """Why this gRPC configuration must not be used, or None when it is fine."""
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return f"ORDER_SERVICE_GRPC_TARGET={target!r} is malformed: expected HOST:PORT"
    if token and not tls and not allow_insecure_token:
        return (
            "ORDER_SERVICE_TOKEN would be sent in clear to ORDER_SERVICE_GRPC_TARGET: set ORDER_SERVICE_GRPC_TLS=true, "
            "or ORDER_SERVICE_ALLOW_INSECURE_TOKEN=true on a trusted network"
        )
    return None
