"""The OpenAPI schema is valid and documents every endpoint, filter and error answer; the docs are served offline."""

import json
import re
from pathlib import Path

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from tests.deploy.conftest import manage, production_env


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def test_the_schema_is_valid_openapi(schema: dict) -> None:
    validate_schema(schema)  # raises on an invalid schema


def test_every_endpoint_is_documented(schema: dict) -> None:
    assert set(schema["paths"]) >= {
        "/api/v1/couriers/",
        "/api/v1/couriers/{id}/",
        "/api/v1/deliveries/",
        "/api/v1/deliveries/{id}/",
        "/api/v1/deliveries/assign/",
        "/api/v1/deliveries/unassign/",
        "/api/v1/deliveries/cancel/",
        "/api/v1/",
        "/api/v1/orders/{order_id}/delivery/",
        "/healthz",
        "/readyz",
    }


def test_filters_are_documented(schema: dict) -> None:
    def params(path: str) -> set[str]:
        return {p["name"] for p in schema["paths"][path]["get"]["parameters"]}

    assert params("/api/v1/couriers/") >= {"status", "transport_type", "search", "ordering", "page", "page_size"}
    assert params("/api/v1/deliveries/") >= {"status", "courier", "order_id", "overdue", "ordering", "page_size"}


def test_error_answers_use_the_error_schema(schema: dict) -> None:
    answers = schema["paths"]["/api/v1/couriers/{id}/"]["patch"]["responses"]

    assert set(answers) >= {"200", "400", "401", "403", "404", "409"}
    assert answers["409"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert set(schema["paths"]["/api/v1/deliveries/assign/"]["post"]["responses"]) >= {"502", "503"}


def test_deliveries_embed_the_courier_and_name_both_status_vocabularies(schema: dict) -> None:
    delivery = schema["components"]["schemas"]["Delivery"]["properties"]

    assert set(schema["components"]["schemas"]["DeliveryCourier"]["properties"]) == {
        "id",
        "name",
        "phone",
        "transport_type",
    }
    assert delivery["overdue"]["type"] == "boolean"
    assert delivery["queue_position"]["type"] == "integer"
    assert "cancelled (two l's)" in delivery["status"]["description"]
    assert "canceled (one l)" in delivery["order_status"]["description"]


def test_assign_and_unassign_document_waiting_as_202(schema: dict) -> None:
    for path in ("/api/v1/deliveries/assign/", "/api/v1/deliveries/unassign/"):
        answers = schema["paths"][path]["post"]["responses"]
        assert {"200", "202"} <= set(answers)
        assert "queue_position" in answers["202"]["description"]


def test_the_api_needs_credentials_and_the_probes_do_not(schema: dict) -> None:
    schemes = schema["components"]["securitySchemes"]
    assert {"tokenAuth", "bearerAuth", "cookieAuth"} <= set(schemes)
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert schema["paths"]["/api/v1/couriers/"]["get"]["security"] == [
        {"tokenAuth": []},
        {"bearerAuth": []},
        {"cookieAuth": []},
    ]
    assert "security" not in schema["paths"]["/healthz"]["get"]


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "content"), [("/api/schema/", b"/api/v1/couriers/"), ("/api/docs/", b"swagger-ui")])
def test_schema_and_docs_are_served(path: str, content: bytes) -> None:
    response = APIClient().get(path)

    assert response.status_code == 200
    assert content in response.content


@pytest.mark.django_db
def test_docs_load_everything_from_the_project_itself() -> None:
    page = APIClient().get("/api/docs/").content.decode()
    script = APIClient().get("/api/docs/?script").content.decode()

    sources = re.findall(r"""(?:src|href)="([^"]+)\"""", page)
    assert any("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in src for src in sources), page
    assert all(src.startswith("/") and not src.startswith("//") for src in sources), sources
    assert "<script>" not in page  # the start-up script is a file of its own (CSP: script-src 'self')
    assert "/api/schema/" in script


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/docs/", "/admin/login/"])
def test_docs_and_admin_carry_a_content_security_policy(path: str) -> None:
    policy = APIClient().get(path)["Content-Security-Policy"]

    assert "script-src 'self';" in policy
    assert "frame-ancestors 'none'" in policy


# The docs with the setting off: test_schema_and_docs_are_served (here, production's static files are not collected).
@pytest.mark.parametrize(
    ("path", "setting", "status"),
    [("/api/schema/", "false", 200), ("/api/schema/", "true", 401), ("/api/docs/", "true", 401)],
)
def test_a_setting_puts_schema_and_docs_behind_authentication(
    tmp_path: Path, path: str, setting: str, status: int
) -> None:
    request = f"from django.test import Client; print(Client().get({path!r}, secure=True).status_code)"
    env = production_env(tmp_path) | {"API_DOCS_REQUIRE_AUTH": setting, "ALLOWED_HOSTS": "testserver"}
    assert manage("migrate", "--verbosity", "0", env=env).returncode == 0  # throttling counts in the database cache

    result = manage("shell", "--verbosity", "0", "--command", request, env=env)

    assert result.stdout.strip() == str(status), result.stdout + result.stderr


# --- a published API: parameters, enums, operation ids, tags -------------------------------------


def operations(schema: dict) -> list[tuple[str, str, dict]]:
    return [(method, path, operation) for path, item in schema["paths"].items() for method, operation in item.items()]


def test_every_operation_has_a_chosen_id_and_one_tag(schema: dict) -> None:
    ids = {(method, path): operation["operationId"] for method, path, operation in operations(schema)}

    assert ids[("post", "/api/v1/deliveries/assign/")] == "assignDelivery"
    assert ids[("get", "/api/v1/orders/{order_id}/delivery/")] == "getOrderDelivery"
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)+", name) for name in ids.values()), ids
    assert len(set(ids.values())) == len(ids)
    declared = {tag["name"] for tag in schema["tags"]}
    tags = {method + path: operation["tags"] for method, path, operation in operations(schema)}
    assert all(len(names) == 1 and names[0] in declared for names in tags.values()), tags
    assert {names[0] for names in tags.values()} == declared


def parameter(schema: dict, path: str, name: str) -> dict:
    return next(p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == name)


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/api/v1/couriers/", ["id", "name", "phone", "status", "transport_type", "created_at", "updated_at"]),
        (
            "/api/v1/deliveries/",
            ["id", "status", "queue_position", "assigned_at", "deadline", "finished_at", "created_at", "updated_at"],
        ),
    ],
)
def test_ordering_lists_its_fields_both_ways(schema: dict, path: str, fields: list[str]) -> None:
    ordering = parameter(schema, path, "ordering")

    assert (ordering["style"], ordering["explode"], ordering["schema"]["type"]) == ("form", False, "array")
    assert ordering["schema"]["items"]["enum"] == [term for name in fields for term in (name, f"-{name}")]


def test_pages_and_page_sizes_have_their_bounds(schema: dict) -> None:
    page = parameter(schema, "/api/v1/deliveries/", "page")
    size = parameter(schema, "/api/v1/deliveries/", "page_size")

    assert page["schema"]["oneOf"] == [{"type": "integer", "minimum": 1}, {"type": "string", "enum": ["last"]}]
    assert (size["schema"]["minimum"], size["schema"]["maximum"], size["schema"]["default"]) == (1, 1000, 50)


def test_search_says_what_it_searches(schema: dict) -> None:
    assert "in name and phone" in parameter(schema, "/api/v1/couriers/", "search")["description"]


def test_every_filter_says_what_it_does(schema: dict) -> None:
    for path in ("/api/v1/couriers/", "/api/v1/deliveries/"):
        undocumented = [p["name"] for p in schema["paths"][path]["get"]["parameters"] if not p.get("description")]
        assert undocumented == [], path


def raised_codes() -> set[str]:
    """Every error code the project's own code raises."""
    sources = [*Path("couriers").rglob("*.py")]
    found = {code for source in sources for code in re.findall(r'code="([a-z_]+)"', source.read_text())}
    return found - {"blank", "max_length", "printable"}  # a field's own reasons, reported under code=invalid


def test_error_codes_are_an_enum_naming_every_code_raised(schema: dict) -> None:
    enum = schema["components"]["schemas"]["ErrorCodeEnum"]["enum"]
    body = schema["components"]["schemas"]["ErrorBody"]["properties"]["code"]

    assert body["allOf"] == [{"$ref": "#/components/schemas/ErrorCodeEnum"}]
    assert raised_codes() | {"precondition_failed", "not_found", "throttled", "invalid"} <= set(enum)
    assert all(f"`{code}`" in body["description"] for code in enum)


def test_every_error_answer_has_an_example_from_the_enum(schema: dict) -> None:
    enum = set(schema["components"]["schemas"]["ErrorCodeEnum"]["enum"])
    for method, path, operation in operations(schema):
        for status, answer in operation["responses"].items():
            if int(status) < 400 or path in ("/healthz", "/readyz"):
                continue
            examples = answer["content"]["application/json"]["examples"]
            codes = {example["value"]["error"]["code"] for example in examples.values()}
            assert codes, (method, path, status)
            assert codes <= enum, (method, path, status)


def test_the_database_outage_is_documented_on_every_api_operation(schema: dict) -> None:
    for method, path, operation in operations(schema):
        if path.startswith("/api/v1/"):
            assert "database_unavailable" in operation["responses"]["503"]["description"], (method, path)


def test_conditional_requests_are_documented(schema: dict) -> None:
    get = schema["paths"]["/api/v1/couriers/{id}/"]["get"]
    patch = schema["paths"]["/api/v1/couriers/{id}/"]["patch"]

    assert "If-None-Match" in {p["name"] for p in get["parameters"]}
    assert "304" in get["responses"]
    assert "ETag" in get["responses"]["200"]["headers"]
    assert "If-Match" in {p["name"] for p in patch["parameters"]}
    assert "412" in patch["responses"]


def test_descriptions_speak_to_clients_not_of_the_code(schema: dict) -> None:
    text = json.dumps(schema)

    for internal in ("view shares", "for the schema only", "selector", "serializer", "The view passes"):
        assert internal not in text
