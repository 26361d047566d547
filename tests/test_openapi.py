"""The OpenAPI 3 document of the RPCs (/api/schema/), its docs page
(/api/docs/, Swagger UI from local files only), and schemathesis run against
the live service from that document.

1. The document: public, JSON (YAML with ?format=yaml), valid OpenAPI 3;
   exactly the RPCs of streams.views.RPCS and chats.views.RPCS, each with its
   request (fields in the contract's order, the MISSING_* ones required, the
   contract's types and limits), its 200 answer and the error envelope for
   each status it can answer.
2. Real answers (Django's test client) validate against the document: every
   RPC's 200, and the envelopes of 400, 401, 403, 404, 409 and 413.
3. The docs page references no other host: every src/href is a local path
   that is served, and Chromium with every other host blocked renders all
   eleven operations (screenshot: artifacts/api-docs.png).
4. schemathesis (its CLI, in a subprocess) against the live server, from
   /api/schema/: every RPC, all its phases (examples, coverage, fuzzing,
   stateful via the document's links), seeded, 50 examples per RPC; no 5xx,
   no answer that the document does not describe (status, content type,
   headers, body), no request the document calls valid refused as invalid
   and none it calls invalid accepted, 405 for the other methods, 401
   without credentials.
"""

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from http import HTTPStatus

import jsonschema
import jsonschema_rs
import pytest
import yaml
from drf_spectacular.validation import validate_schema

import chats.views
import streams.views
from chats import services as chat_services
from convoproject.rpc import errors, fields
from convoproject.rpc.errors import NotFound
from convoproject.rpc.fields.base import NON_BLANK, WHITESPACE
from convoproject.tenants.keys import create_api_key
from streams import services as stream_services
from tests.support import factories
from tests.support.chromium import ARTIFACTS, launch_chromium
from tests.support.rpc import ALL_RPCS
from tests.test_request_schemas import as_json_schema

pytestmark = pytest.mark.django_db

SERVICES = {"Streams": streams.views.RPCS, "Chats": chats.views.RPCS}
OPERATIONS = [(service, method, view) for service, rpcs in SERVICES.items() for method, view in rpcs.items()]
OPERATION_IDS = [f"{service}_{method}" for service, method, _ in OPERATIONS]
EVERY_RPC_ANSWERS = {"200", "400", "401", "403", "413", "429", "500", "503"}
SECURITY = [{"ApiKey": []}, {"Session": [], "CsrfToken": []}]


@pytest.fixture
def document(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200, response.content[:500]
    return response.json()


def operation(document, service, method):
    return document["paths"][f"/protobuf/{service}/{method}"]["post"]


def component(document, ref):
    assert ref.startswith("#/components/schemas/"), ref
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]]


def assert_matches(document, instance, ref):
    """The instance is valid against the component `ref` of the document."""
    schema = {"allOf": [{"$ref": ref}], "components": document["components"]}
    jsonschema.validate(instance, schema, cls=jsonschema.Draft7Validator)


# ---------------------------------------------------------------- 1. the document


def test_the_document_is_public_json_and_valid_openapi_3(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "Conversation service"
    validate_schema(document)  # drf-spectacular's check against the OpenAPI 3 meta-schema

    # Public: credentials, even wrong ones, change nothing.
    bad_key = client.get("/api/schema/", HTTP_AUTHORIZATION="Bearer cvk_not_a_key")
    assert bad_key.status_code == 200
    assert bad_key.json() == document


def test_the_document_in_yaml(client, document):
    response = client.get("/api/schema/?format=yaml")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert yaml.safe_load(response.content) == document


def rpc_paths(document):
    return {path: item for path, item in document["paths"].items() if path.startswith("/protobuf/")}


def test_the_document_describes_every_rpc_and_the_moderation_api_and_nothing_else(document):
    assert list(rpc_paths(document)) == [f"/protobuf/{rpc}" for rpc in ALL_RPCS]
    assert [f"{service}/{method}" for service, method, _ in OPERATIONS] == ALL_RPCS
    assert [item["post"]["operationId"] for item in rpc_paths(document).values()] == OPERATION_IDS
    # The rest is the moderation API (tests/test_moderation_api.py checks its operations).
    assert all(path.startswith("/api/moderation/") for path in set(document["paths"]) - set(rpc_paths(document)))
    assert [tag["name"] for tag in document["tags"]] == ["Streams", "Chats", "Moderation"]


@pytest.mark.parametrize(("service", "method", "view"), OPERATIONS, ids=OPERATION_IDS)
def test_each_rpc_has_its_request_answer_and_errors(document, service, method, view):
    path_item = document["paths"][f"/protobuf/{service}/{method}"]
    assert list(path_item) == ["post"]
    op = path_item["post"]
    assert op["operationId"] == f"{service}_{method}"
    assert op["tags"] == [service]
    assert op["summary"] == " ".join(view.__doc__.split("\n\n")[0].split()).rstrip(".")
    assert op["security"] == SECURITY

    # The request: the serializer's fields, in the contract's order; the ones
    # with a MISSING_* error are required.
    body = op["requestBody"]
    assert body["required"] is True
    request = component(document, body["content"]["application/json"]["schema"]["$ref"])
    serializer_fields = view.request_serializer().fields
    assert list(request["properties"]) == list(serializer_fields)
    assert request["required"] == [name for name, field in serializer_fields.items() if field.required_on_wire]
    for name, field in serializer_fields.items():
        # The field's own schema (tests/test_request_schemas.py: it accepts what clean() accepts).
        assert request["properties"][name] == field.json_schema()

    # Headers.
    headers = {p["name"]: p for p in op["parameters"] if p["in"] == "header"}
    assert set(headers) == ({"Micro-Namespace", "Idempotency-Key"} if view.idempotent else {"Micro-Namespace"})
    assert not any(p["required"] for p in headers.values() if "required" in p)

    # The answers: 200 and an envelope for each error status it can answer.
    responses = op["responses"]
    expected = set(EVERY_RPC_ANSWERS)
    if view.idempotent:
        expected.add("409")
    if any(issubclass(error, NotFound) for error in view.call_errors):
        expected.add("404")
    assert set(responses) == expected
    answer = component(document, responses["200"]["content"]["application/json"]["schema"]["$ref"])
    assert answer["type"] == "object"
    assert set(answer.get("required", [])) == set(answer.get("properties", {}))  # every field present
    for code in expected - {"200"}:
        assert responses[code]["description"]
        error = responses[code]["content"]["application/json"]["schema"]
        assert error == {"$ref": f"#/components/schemas/Error{code}"}
        assert component(document, error["$ref"])["allOf"][0] == {"$ref": "#/components/schemas/ErrorEnvelope"}
        examples = responses[code]["content"]["application/json"]["examples"]
        assert examples, code
        for error_id, example in examples.items():
            assert (example["value"]["id"], example["value"]["code"]) == (error_id, int(code))
            assert f"`{error_id}`" in responses[code]["description"]


def test_the_error_envelope(document):
    envelope = document["components"]["schemas"]["ErrorEnvelope"]
    assert envelope["type"] == "object"
    assert set(envelope["properties"]) == set(envelope["required"]) == {"id", "code", "detail", "status"}
    assert envelope["additionalProperties"] is False
    for code in EVERY_RPC_ANSWERS - {"200"} | {"404", "409"}:
        specific = document["components"]["schemas"][f"Error{code}"]["allOf"][1]["properties"]
        assert specific["code"]["enum"] == [int(code)]
        assert specific["status"]["enum"] == [HTTPStatus(int(code)).phrase]


STATUS_IDS = {
    "401": ["UNAUTHORIZED"],
    "409": ["IDEMPOTENCY_KEY_REUSED"],
    "413": ["PAYLOAD_TOO_LARGE"],
    "429": ["TOO_MANY_REQUESTS"],
    "500": ["INTERNAL_SERVER_ERROR"],
    "503": ["SERVICE_UNAVAILABLE"],
}


@pytest.mark.parametrize(("service", "method", "view"), OPERATIONS, ids=OPERATION_IDS)
def test_each_error_status_has_its_own_examples(document, service, method, view):
    """Not one example for all: each status shows the envelopes this RPC answers with it."""
    responses = operation(document, service, method)["responses"]
    examples = {
        code: [example["value"] for example in response["content"]["application/json"]["examples"].values()]
        for code, response in responses.items()
        if code != "200"
    }
    first_required = next(field for _, field in view.request_fields() if field.required_on_wire)
    assert [(e["id"], e["detail"]) for e in examples["400"]] == [first_required.missing]
    assert examples["401"] == [errors.envelope_body(errors.NoCredentials())]
    not_found = [error for error in view.call_errors if issubclass(error, NotFound)]
    if not_found:
        expected = {"id": "NOT_FOUND", "code": 404, "detail": not_found[0].detail, "status": "Not Found"}
        assert examples["404"] == [expected]
    forbidden = ["FORBIDDEN"] + (
        ["NOT_A_MEMBER"] if service == "Chats" and method in ("CreateMessage", "ReportMessage") else []
    )
    assert [e["id"] for e in examples["403"]] == forbidden
    for code, ids in STATUS_IDS.items():
        if code in examples:
            assert [e["id"] for e in examples[code]] == ids
    for code, envelopes in examples.items():
        for envelope in envelopes:
            assert (envelope["code"], envelope["status"]) == (int(code), HTTPStatus(int(code)).phrase)
    assert "example" not in document["components"]["schemas"]["ErrorEnvelope"]


def test_every_example_in_the_document_matches_its_schema(document):
    components = as_json_schema(document["components"])
    checked = []

    def check(instance, schema, where):
        validator = jsonschema_rs.Draft7Validator({"components": components, "allOf": [as_json_schema(schema)]})
        assert validator.is_valid(instance), (where, instance)
        checked.append(where)

    def walk(node, where):
        if isinstance(node, dict):
            if "example" in node and "type" in node:
                check(node["example"], {k: v for k, v in node.items() if k != "example"}, where)
            if "examples" in node and "schema" in node:
                for name, example in node["examples"].items():
                    check(example["value"], node["schema"], f"{where}/{name}")
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}")

    walk(document, "#")
    assert any("/400/" in where for where in checked) and any("sent_before" in where for where in checked)


def properties(document, name):
    return document["components"]["schemas"][name]["properties"]


def test_request_fields_have_the_contract_types_and_limits(document):
    """Spot checks of CONTRACT 3 in the document; test_request_schemas.py
    checks every field's schema against its clean()."""
    text = {"type": "string", "minLength": 1, "pattern": NON_BLANK}
    assert (
        properties(document, "StreamsCreateConversationRequest")["topic"] | text | {"maxLength": 255}
        == (properties(document, "StreamsCreateConversationRequest")["topic"])
    )
    for name in ["StreamsCreateMessageRequest", "ChatsCreateMessageRequest"]:
        assert properties(document, name)["text"]["maxLength"] == 10_000
        assert (
            properties(document, name)["author_id"] | text | {"maxLength": 255}
            == properties(document, name)["author_id"]
        )

    # group_id: the plain string, or the protobuf wrapper {"value": ...} of the same string.
    group_id = properties(document, "StreamsCreateConversationRequest")["group_id"]
    assert group_id["oneOf"][0] == {**text, "maxLength": 255}
    assert group_id["oneOf"][1]["properties"]["value"] == group_id["oneOf"][0]
    assert group_id["oneOf"][1]["required"] == ["value"]
    # Optional, it is also null or blank, plain or wrapped.
    optional = properties(document, "StreamsReadConversationRequest")["group_id"]["oneOf"]
    assert optional[0] | {"pattern": f"^[{WHITESPACE}]*$", "nullable": True} == optional[0]
    assert optional[2]["properties"]["value"] == {"oneOf": optional[:2]}

    # Limits: an integer from 1 to 1000, or "10", or {"value": 10}, or blank; 25 by default.
    for name, field in [
        ("StreamsListMessagesRequest", "limit"),
        ("StreamsRecentMessagesRequest", "limit_per_conversation"),
        ("ChatsListMessagesRequest", "limit"),
    ]:
        limit = properties(document, name)[field]
        absent, number, string, wrapper = limit["oneOf"]
        assert absent["nullable"] is True
        assert number == {"type": "integer", "minimum": 1, "maximum": 1000}
        assert string["pattern"] == "^0*(?:[1-9][0-9]{0,2}|1000)$"
        assert wrapper["properties"]["value"] == {"oneOf": [absent, number, string]}
        assert limit["default"] == 25

    for name in ["StreamsListMessagesRequest", "ChatsListMessagesRequest"]:
        sent_before = properties(document, name)["sent_before"]["oneOf"][1]
        assert (sent_before["type"], sent_before["format"]) == ("string", "date-time")

    conversation_ids = properties(document, "StreamsRecentMessagesRequest")["conversation_ids"]
    assert conversation_ids["type"] == "array"
    assert (conversation_ids["minItems"], conversation_ids["maxItems"]) == (1, fields.MAX_IDS)
    assert conversation_ids["items"] | text == conversation_ids["items"]
    user_ids = properties(document, "ChatsCreateChatRequest")["user_ids"]
    assert (user_ids["minItems"], user_ids["maxItems"], user_ids["uniqueItems"]) == (2, 100, True)
    assert user_ids["items"] == {**text, "maxLength": 255}

    key = next(p for p in operation(document, "Chats", "CreateChat")["parameters"] if p["name"] == "Idempotency-Key")
    assert key["in"] == "header"
    assert (key["schema"]["minLength"], key["schema"]["maxLength"]) == (1, 255)


def test_non_blank_means_what_the_server_means():
    """A string the pattern accepts is one the server does not take for blank
    (str.strip(), Python's whitespace) and has no NUL; and the other way round."""
    whitespace = re.compile(f"[{WHITESPACE}]")
    for code_point in range(0x110000):
        char = chr(code_point)
        assert bool(whitespace.fullmatch(char)) is char.isspace(), hex(code_point)
    non_blank = re.compile(NON_BLANK)
    for text in ["a", " a ", "\u3000x", "😀", "\ufeff"]:
        assert non_blank.search(text) and not fields.is_blank(text), repr(text)
    for text in [" ", "\x1c\x1f", "\t\n\u2028", "a\x00"]:
        assert not non_blank.search(text), repr(text)


def test_answer_objects_have_the_contract_shapes(document):
    schemas = document["components"]["schemas"]
    timestamp = {"type": "string", "format": "date-time"}
    assert list(schemas["StreamsConversation"]["properties"]) == ["id", "group_id", "topic", "created_at"]
    assert list(schemas["StreamsMessage"]["properties"]) == ["id", "author_id", "conversation_id", "text", "sent_at"]
    assert list(schemas["ChatsChat"]["properties"]) == ["id", "user_ids", "created_at"]
    assert list(schemas["ChatsMessage"]["properties"]) == ["id", "author_id", "chat_id", "text", "sent_at"]
    for name, timestamp_field in [
        ("StreamsConversation", "created_at"),
        ("StreamsMessage", "sent_at"),
        ("ChatsChat", "created_at"),
        ("ChatsMessage", "sent_at"),
    ]:
        properties = schemas[name]["properties"]
        assert properties["id"]["format"] == "uuid"
        assert properties[timestamp_field] | timestamp == properties[timestamp_field]
        assert set(schemas[name]["required"]) == set(properties)
    assert schemas["ChatsChat"]["properties"]["user_ids"]["items"]["type"] == "string"
    assert schemas["StreamsEmptyResponse"] == {
        "type": "object",
        "description": "Always the empty object {}.",
        "additionalProperties": False,
    }


def test_security_schemes(document):
    schemes = document["components"]["securitySchemes"]
    assert all(scheme.pop("description") for scheme in schemes.values())
    assert schemes == {
        "ApiKey": {"type": "http", "scheme": "bearer"},
        "Session": {"type": "apiKey", "in": "cookie", "name": "sessionid"},
        "CsrfToken": {"type": "apiKey", "in": "header", "name": "X-CSRFToken"},
        # The moderation API's (convoproject.moderation.api): a token, or a staff session.
        "ModerationToken": {"type": "apiKey", "in": "header", "name": "Authorization"},
        "StaffSession": {"type": "apiKey", "in": "cookie", "name": "sessionid"},
        "StaffCsrfToken": {"type": "apiKey", "in": "header", "name": "X-CSRFToken"},
    }


def test_links_lead_from_the_created_rows_to_the_rpcs_that_use_them(document):
    links = operation(document, "Streams", "CreateConversation")["responses"]["200"]["links"]
    assert links["ReadConversation"]["operationId"] == "Streams_ReadConversation"
    assert links["ReadConversation"]["requestBody"] == {
        "id": "$response.body#/conversation/id",
        "group_id": "$response.body#/conversation/group_id",
    }
    targets = {
        link["operationId"]
        for item in rpc_paths(document).values()
        for link in item["post"]["responses"]["200"].get("links", {}).values()
    }
    assert targets <= set(OPERATION_IDS)
    assert {"Streams_CreateMessage", "Streams_ListMessages", "Chats_CreateMessage", "Chats_ListMessages"} <= targets


# ---------------------------------------------------------------- 2. real answers match the document


def answer_ref(document, service, method, code=200):
    return operation(document, service, method)["responses"][str(code)]["content"]["application/json"]["schema"]["$ref"]


def test_every_rpc_answer_matches_its_schema(document, api):
    def check(rpc, body, **kwargs):
        service, method = rpc.split("/")
        answer = api.ok(rpc, body, **kwargs)
        assert_matches(document, answer, answer_ref(document, service, method))
        return answer

    conversation = check("Streams/CreateConversation", {"group_id": "g", "topic": "Hello"})["conversation"]
    check("Streams/ReadConversation", {"id": conversation["id"], "group_id": {"value": "g"}})
    check("Streams/UpdateConversation", {"id": conversation["id"], "topic": "Hello again"})
    message = check(
        "Streams/CreateMessage",
        {"conversation_id": conversation["id"], "author_id": "alice", "text": "hi 👋"},
        headers={"Idempotency-Key": "k-1"},
    )["message"]
    check("Streams/ListConversations", {"group_id": "g"})
    check("Streams/ListMessages", {"conversation_id": conversation["id"], "limit": "10"})
    check("Streams/ListMessages", {"conversation_id": conversation["id"], "sent_before": message["sent_at"]})
    check("Streams/RecentMessages", {"conversation_ids": [conversation["id"]], "limit_per_conversation": {"value": 5}})
    check("Streams/DeleteConversation", {"id": conversation["id"]})
    chat = check("Chats/CreateChat", {"user_ids": ["bob", "alice"]})["chat"]
    check("Chats/CreateMessage", {"chat_id": chat["id"], "author_id": "bob", "text": "hello"})
    check("Chats/ListMessages", {"chat_id": chat["id"]})


def test_error_envelopes_match_their_schemas(document, api, anon):
    def check(client, rpc, body, code, **kwargs):
        service, method = rpc.split("/")
        response = client.post(rpc, body, **kwargs)
        assert response.status_code == code, response.content[:300]
        assert_matches(document, response.json(), answer_ref(document, service, method, code))

    check(api, "Streams/CreateConversation", {"group_id": "g"}, 400)
    check(api, "Streams/CreateConversation", None, 400, raw=b"[1]")
    check(anon, "Streams/ListConversations", {"group_id": "g"}, 401)
    check(api, "Streams/ListConversations", {"group_id": "g"}, 403, headers={"Micro-Namespace": "other"})
    check(api, "Streams/ReadConversation", {"id": "00000000-0000-0000-0000-000000000000"}, 404)
    chat = api.chat(["alice", "bob"])
    check(api, "Chats/CreateMessage", {"chat_id": chat["id"], "author_id": "eve", "text": "hi"}, 403)
    check(api, "Chats/CreateChat", {"user_ids": ["a", "b"]}, 200, headers={"Idempotency-Key": "same"})
    check(api, "Chats/CreateChat", {"user_ids": ["a", "c"]}, 409, headers={"Idempotency-Key": "same"})
    check(api, "Chats/ListMessages", None, 413, raw=b" " * (1024 * 1024 + 1))


# ---------------------------------------------------------------- 3. the docs page, offline


class Resources(HTMLParser):
    """Every src and href of a page."""

    def __init__(self, html):
        super().__init__()
        self.urls = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def test_the_docs_page_uses_only_local_files(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    urls = Resources(html).urls
    assert len(urls) >= 4, urls  # favicon, CSS, Swagger UI's two scripts
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert b"".join(asset.streaming_content) if asset.streaming else asset.content, url
    # Nothing else names a host: no CDN, no fonts, no online validator.
    assert not re.search(r"https?://|['\"]//", html, re.IGNORECASE), re.findall(r".{40}https?://.{40}", html)
    assert '"validatorUrl": null' in html
    assert 'url: "/api/schema/"' in html


def test_the_home_page_links_to_the_docs(client):
    html = client.get("/").content.decode()
    assert 'href="/api/docs/"' in html


@pytest.mark.django_db(transaction=True)
def test_the_docs_page_renders_every_rpc_with_other_hosts_blocked(live_server):
    from playwright.sync_api import expect, sync_playwright

    base = live_server.url
    foreign = []

    def only_local(route):
        if route.request.url.startswith(f"{base}/") or route.request.url.startswith("data:"):
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1800})
            page.set_default_timeout(15_000)
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route("**/*", only_local)
            page.goto(f"{base}/api/docs/")
            rpcs = page.locator(".opblock.opblock-post:has(.opblock-summary-path[data-path^='/protobuf/'])")
            expect(rpcs).to_have_count(len(OPERATIONS))
            # Streams, Chats, and the moderation API (tests/test_moderation_api.py).
            expect(page.locator(".opblock-tag-section h3")).to_have_count(3)
            expect(page.locator(".opblock-summary-path[data-path^='/api/moderation/']").first).to_be_visible()
            for service, method, _ in OPERATIONS:
                expect(page.locator(f".opblock-summary-path[data-path='/protobuf/{service}/{method}']")).to_have_count(
                    1
                )
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "api-docs.png"), full_page=False)
        finally:
            browser.close()
    assert not foreign, foreign
    assert not errors, errors


# ---------------------------------------------------------------- 4. schemathesis against the live service

SCHEMATHESIS_CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    # What the document calls a valid request is never refused as invalid (400),
    # and what it calls invalid is refused: the request schemas say exactly
    # what the fields accept (tests/test_request_schemas.py).
    "positive_data_acceptance",
    "negative_data_rejection",
    "unsupported_method",
    "allow_header_conformance",
    "ignored_auth",
    "missing_required_header",
]
MAX_EXAMPLES = 50
SEED = 20240310


def schemathesis_config(conversation_id, chat_id, group_id, members):
    """A schemathesis.toml: half of the generated ids (and group ids, authors)
    are rows that exist, so that the RPCs that need one get past NOT_FOUND.
    DeleteConversation gets none of them (it would delete them for the rest)."""

    def values(*items):
        return "{ values = [" + ", ".join(json.dumps(item) for item in items) + "] }"

    def bound(dictionary):
        return f'{{ dictionary = "{dictionary}", probability = 0.5 }}'

    return "\n".join(
        [
            "[dictionaries]",
            f"conversations = {values(conversation_id)}",
            f"chats = {values(chat_id)}",
            f"groups = {values(group_id)}",
            f"members = {values(*members)}",
            "",
            "[parameters]",
            f'"body.conversation_id" = {bound("conversations")}',
            f'"body.conversation_ids[*]" = {bound("conversations")}',
            f'"body.chat_id" = {bound("chats")}',
            f'"body.author_id" = {bound("members")}',
            "",
            "[[operations]]",
            'include-operation-id = ["Streams_ReadConversation", "Streams_UpdateConversation"]',
            f'parameters = {{ "body.id" = {bound("conversations")}, "body.group_id" = {bound("groups")} }}',
            "",
        ]
    )


@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_document(live_server, tmp_path):
    api_key, key = create_api_key("micro")
    namespace = api_key.namespace
    factories.ns("other")
    conversation = stream_services.create_conversation(namespace, group_id="g-st", topic="Schemathesis")
    for author in ("alice", "bob"):
        stream_services.create_message(
            namespace, conversation_id=conversation.id, author_id=author, text=f"hello from {author}"
        )
    chat = chat_services.create_chat(namespace, user_ids=["alice", "bob"])
    chat_services.create_message(namespace, chat_id=chat.id, author_id="alice", text="hi bob")

    config = tmp_path / "schemathesis.toml"
    config.write_text(schemathesis_config(str(conversation.id), str(chat.id), "g-st", ["alice", "bob"]))
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{live_server.url}/api/schema/",
        "--header",
        f"Authorization: Bearer {key}",
        # The RPCs only: the moderation API (/api/moderation/) takes no API key
        # (every call would be a documented 401), and a moderator's token would
        # let the fuzzer hide and delete the rows the RPCs are fuzzed with.
        # tests/test_moderation_api.py checks its answers against the document.
        "--include-path-regex",
        "^/protobuf/",
        # Django's test server with keep-alive stalls ~40 ms per request (delayed
        # ACKs); a connection per request keeps the run at a few seconds.
        "--header",
        "Connection: close",
        "--checks",
        ",".join(SCHEMATHESIS_CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--generation-database",
        "none",
        # Bounded by --max-examples, not by the machine's speed.
        "--suppress-health-check",
        "all",
        "--request-timeout",
        "30",
        "--output-truncate",
        "false",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEMATHESIS_")}
    env["NO_COLOR"] = "1"
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, "schemathesis found problems:\n" + output[-20_000:]
    assert re.search(rf"{len(OPERATIONS)} selected / \d+ total", output), output
    assert re.search(rf"Tested:\s+{len(OPERATIONS)}\b", output), output
