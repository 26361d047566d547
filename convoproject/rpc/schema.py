"""The OpenAPI 3 document of the RPCs (drf-spectacular), served at /api/schema/
with Swagger UI at /api/docs/ (convoproject.rpc.docs).

Each RPC view already says everything the document needs: its path
(/protobuf/{Service}/{Method}), `request_serializer` (the fields in the
contract's order, with their rules in convoproject.rpc.fields),
`response_serializer` (the 200 answer) and `idempotent`. RpcAutoSchema turns
that into one operation, `{Service}_{Method}`, tagged with the service, with
the Micro-Namespace header, the Idempotency-Key header on the create RPCs, the
two ways to authenticate, and the error envelope for every status the RPC can
answer (CONTRACT 2).

The request fields' extension below maps each RpcField to the JSON the
contract accepts (CONTRACT 3): types, lengths, ranges, formats, and the
protobuf wrapper forms of group_id and limit.
"""

import inspect
from http import HTTPStatus

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from . import fields, idempotency
from .auth import NAMESPACE_HEADER
from .views import RpcView

RPC_PREFIX = "/protobuf/"
MAX_LIMIT = 1000

# CONTRACT 3: output timestamps are always UTC, `Z`, six fractional digits.
TIMESTAMP_OUT_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$"
# The characters Python's str.strip() removes (the server's "blank"), spelled
# out: JSON Schema's \s (ECMA-262) is not the same set.
WHITESPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Not only whitespace (that counts as missing), and no NUL character (BAD_REQUEST).
NON_BLANK = rf"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"
IDEMPOTENCY_KEY_PATTERN = r"^[\x20-\x7e]*[\x21-\x7e][\x20-\x7e]*$"  # printable ASCII, not only spaces
TIMESTAMP_EXAMPLE = "2021-01-22T15:01:13.123456Z"
UUID_EXAMPLE = "0b7e6d34-3f2a-4c55-9d1e-8c2b1f7a9e10"


def header_name(meta_key):
    """HTTP_MICRO_NAMESPACE -> Micro-Namespace (and Django's CSRF header -> X-CSRFToken)."""
    name = meta_key.removeprefix("HTTP_").replace("_", "-").title()
    return name.replace("Csrftoken", "CSRFToken")


def only_rpc_paths(endpoints, **kwargs):
    """PREPROCESSING_HOOKS: the document describes the RPCs and nothing else
    (not the admin, the web pages or the schema views themselves)."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith(RPC_PREFIX)]


# ------------------------------------------------------------------ request fields


def _string(max_length):
    """A non-blank string (one that is empty or only whitespace counts as missing)."""
    return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": NON_BLANK}


def _wrapper(value_schema, what, *, required):
    schema = {
        "type": "object",
        "title": f"{what} wrapper",
        "description": 'The protobuf wrapper form, as in the m3o seeds: `{"value": ...}`; `{}` means absent.',
    }
    if required:
        schema["properties"] = {"value": value_schema}
        schema["required"] = ["value"]
    else:
        schema["properties"] = {"value": {**value_schema, "nullable": True}}
    return schema


def _limit_schema(field):
    plain = {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}
    return {
        "oneOf": [
            plain,
            {
                "type": "string",
                "pattern": r"^(1000|[1-9][0-9]{0,2})$",
                "description": 'The number as a string, e.g. "10"',
            },
            _wrapper(plain, "Int32Value", required=False),
        ],
        "default": field.default_limit,
        "description": f"An integer from 1 to {MAX_LIMIT} (INVALID_LIMIT otherwise); {field.default_limit} if absent.",
    }


def _text_schema(field):
    if isinstance(field, fields.ClientId):
        what = "An opaque client-chosen id of 1 to 255 characters, stored and compared exactly."
    else:
        what = f"Stored exactly as sent; at most {field.max_length} characters (code points), TOO_LONG beyond."
    if field.missing:
        what += f" Empty or only whitespace counts as missing: {field.missing[0]}."
    else:
        what += " Empty or only whitespace counts as absent."
    plain = _string(field.max_length)
    if field.wrapped:
        return {"oneOf": [plain, _wrapper(plain, "StringValue", required=is_required(field))], "description": what}
    return {**plain, "description": what}


def _row_id_schema(field):
    return {
        "type": "string",
        "format": "uuid",
        "example": UUID_EXAMPLE,
        "description": (
            f"A server-made id (lowercase canonical UUID); {field.missing[0]} if absent or blank. "
            "A value that is not such a UUID is simply not found."
        ),
    }


def _id_list_schema(field):
    if isinstance(field, fields.RowIdList):
        item = {"type": "string", "format": "uuid", "example": UUID_EXAMPLE}
        what = (
            "Conversation ids, each a non-blank string (BAD_REQUEST otherwise); duplicates are ignored and "
            "unknown ids contribute nothing."
        )
    else:
        item = _string(255)
        what = (
            "User ids of 1 to 255 characters; blank ones are dropped and duplicates merged. "
            f"Fewer than {field.min_distinct} distinct ids is {field.missing[0]}."
        )
    schema = {
        "type": "array",
        "items": item,
        "minItems": field.min_distinct,
        "maxItems": fields.MAX_IDS,
        "description": f"{what} At most {fields.MAX_IDS} distinct ids (TOO_MANY_IDS).",
    }
    if field.min_distinct > 1:
        # "At least 2 distinct" in JSON Schema; duplicates are merged all the same.
        schema["uniqueItems"] = True
    return schema


def _timestamp_schema(field):
    return {
        "type": "string",
        "format": "date-time",
        "example": TIMESTAMP_EXAMPLE,
        "description": (
            "An RFC 3339 timestamp with an offset (`Z` or ±hh:mm) and 0 to 9 fractional digits; "
            "INVALID_TIMESTAMP otherwise. Sub-microsecond digits round up."
        ),
    }


def request_field_schema(field):
    """The JSON schema of one RpcField (CONTRACT 3)."""
    if isinstance(field, fields.Limit):
        schema = _limit_schema(field)
    elif isinstance(field, fields.Text):
        schema = _text_schema(field)
    elif isinstance(field, fields.RowId):
        schema = _row_id_schema(field)
    elif isinstance(field, fields.IdList):
        schema = _id_list_schema(field)
    elif isinstance(field, fields.Timestamp):
        schema = _timestamp_schema(field)
    else:
        raise TypeError(f"No OpenAPI schema for the request field {field!r}")
    if not is_required(field):
        schema["nullable"] = True  # CONTRACT 1: null means absent
    return schema


def is_required(field):
    """A request field whose absence is an error (it names a MISSING_* error)."""
    return bool(getattr(field, "missing", None))


class RpcFieldExtension(OpenApiSerializerFieldExtension):
    target_class = fields.RpcField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        return request_field_schema(self.target)


class TimestampOutExtension(OpenApiSerializerFieldExtension):
    target_class = fields.TimestampOut
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        return {
            "type": "string",
            "format": "date-time",
            "pattern": TIMESTAMP_OUT_PATTERN,
            "example": TIMESTAMP_EXAMPLE,
            "description": "RFC 3339, always UTC with `Z` and exactly six fractional digits.",
        }


# ------------------------------------------------------------------ authentication


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "convoproject.rpc.auth.ApiKeyAuthentication"
    name = "ApiKey"
    priority = 1

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "`Authorization: Bearer <key>` with an API key of the namespace "
                "(`manage.py create_api_key NAMESPACE`, or Admin › API keys)."
            ),
        }


class SessionScheme(OpenApiAuthenticationExtension):
    """A logged-in browser: the session cookie AND Django's CSRF token."""

    target_class = "convoproject.rpc.auth.SessionAuthentication"
    name = ["Session", "CsrfToken"]
    priority = 1

    def get_security_definition(self, auto_schema):
        csrf_header = header_name(settings.CSRF_HEADER_NAME)
        return [
            {
                "type": "apiKey",
                "in": "cookie",
                "name": settings.SESSION_COOKIE_NAME,
                "description": (
                    "Django's login session (/accounts/login/); the Micro-Namespace header then names "
                    "a namespace the user is a member of."
                ),
            },
            {
                "type": "apiKey",
                "in": "header",
                "name": csrf_header,
                "description": "Django's CSRF token, required with the session cookie.",
            },
        ]


# ------------------------------------------------------------------ errors


class ErrorEnvelope(serializers.Serializer):
    """The one shape of every error (CONTRACT 2)."""

    id = serializers.CharField(help_text="What went wrong, e.g. MISSING_TOPIC, NOT_FOUND, UNAUTHORIZED.")
    code = serializers.IntegerField(help_text="The HTTP status of the response.")
    detail = serializers.CharField(help_text="A sentence for people; exact for the errors the contract names.")
    status = serializers.CharField(help_text="The standard reason phrase of `code`, e.g. Bad Request.")


ERROR_EXAMPLE = {"id": "MISSING_TOPIC", "code": 400, "detail": "Missing Topic", "status": "Bad Request"}


def error_ids_of(request_serializer):
    """The 400 error ids a request's fields can raise, in validation order."""
    ids = ["BAD_REQUEST"]
    for field in request_serializer().fields.values():
        if is_required(field):
            ids.append(field.missing[0])
        if isinstance(field, fields.Text | fields.UserIdList):
            ids.append("TOO_LONG")
        if isinstance(field, fields.Limit):
            ids.append("INVALID_LIMIT")
        if isinstance(field, fields.Timestamp):
            ids.append("INVALID_TIMESTAMP")
        if isinstance(field, fields.IdList):
            ids.append("TOO_MANY_IDS")
    return list(dict.fromkeys(ids))


def error_responses(view):
    """{status: description} of every error the RPC can answer (CONTRACT 2, 6, 7):
    the ones of every RPC, and the view's `call_errors`."""
    ids = ", ".join(f"`{error_id}`" for error_id in error_ids_of(view.request_serializer))
    bad_request = f"The body is not a JSON object, or a field is invalid: {ids}."
    if view.idempotent:
        bad_request += " Also `BAD_REQUEST` for an empty or malformed Idempotency-Key header."
    responses = {
        400: [bad_request],
        401: ["`UNAUTHORIZED`: no credentials, or an unknown or revoked API key."],
        403: ["`FORBIDDEN`: Micro-Namespace names a namespace the caller may not use."],
    }
    for error in view.call_errors:
        responses.setdefault(error.code, []).append(f"`{error.id}`: {error.detail}.")
    if view.idempotent:
        responses[409] = ["`IDEMPOTENCY_KEY_REUSED`: the Idempotency-Key was used before with another method or body."]
    responses[413] = ["`PAYLOAD_TOO_LARGE`: the body is over 1 MiB (1,048,576 bytes)."]
    responses[429] = ["`TOO_MANY_REQUESTS`: over the caller's rate limit; retry after Retry-After seconds."]
    responses[500] = ["`INTERNAL_SERVER_ERROR`: never expected; logged on the server."]
    responses[503] = ["`SERVICE_UNAVAILABLE`: the database does not answer; retry later."]
    return {code: " ".join(texts) for code, texts in sorted(responses.items())}


# ------------------------------------------------------------------ operations


# OpenAPI links: which fields of a 200 answer feed which next RPC (the
# workflows; schemathesis follows them in its stateful phase).
LINKS = {
    "Streams_CreateConversation": {
        "ReadConversation": (
            "Streams_ReadConversation",
            {"id": "conversation/id", "group_id": "conversation/group_id"},
        ),
        "UpdateConversation": ("Streams_UpdateConversation", {"id": "conversation/id"}),
        "ListConversations": ("Streams_ListConversations", {"group_id": "conversation/group_id"}),
        "CreateMessage": ("Streams_CreateMessage", {"conversation_id": "conversation/id"}),
        "ListMessages": ("Streams_ListMessages", {"conversation_id": "conversation/id"}),
        "DeleteConversation": ("Streams_DeleteConversation", {"id": "conversation/id"}),
    },
    "Streams_CreateMessage": {
        "ListOlderMessages": (
            "Streams_ListMessages",
            {"conversation_id": "message/conversation_id", "sent_before": "message/sent_at"},
        ),
    },
    "Chats_CreateChat": {
        "CreateMessage": ("Chats_CreateMessage", {"chat_id": "chat/id", "author_id": "chat/user_ids/0"}),
        "ListMessages": ("Chats_ListMessages", {"chat_id": "chat/id"}),
    },
    "Chats_CreateMessage": {
        "ListOlderMessages": ("Chats_ListMessages", {"chat_id": "message/chat_id", "sent_before": "message/sent_at"}),
    },
}


def links_of(operation_id):
    return {
        name: {
            "operationId": target,
            "requestBody": {field: f"$response.body#/{pointer}" for field, pointer in body.items()},
            "description": "Call " + target.replace("_", " ") + " with " + ", ".join(body) + " from this answer.",
        }
        for name, (target, body) in LINKS.get(operation_id, {}).items()
    }


RESPONSE_HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": 'Bearer realm="api"'}},
    429: {"Retry-After": {"schema": {"type": "integer", "minimum": 1}, "description": "Seconds to wait."}},
}


class RpcAutoSchema(AutoSchema):
    """The schema of one RpcView; other views keep drf-spectacular's defaults."""

    def _is_rpc(self):
        return isinstance(self.view, RpcView)

    def _service_and_method(self):
        service, method = self.path.removeprefix(RPC_PREFIX).split("/")
        return service, method

    def get_operation_id(self):
        if not self._is_rpc():
            return super().get_operation_id()
        return "_".join(self._service_and_method())

    def get_tags(self):
        if not self._is_rpc():
            return super().get_tags()
        return [self._service_and_method()[0]]

    def _docstring(self):
        # The view's own docstring only, not RpcView's (about the implementation).
        return inspect.cleandoc(type(self.view).__dict__.get("__doc__") or "")

    def get_summary(self):
        if not self._is_rpc():
            return super().get_summary()
        # The docstring's first paragraph.
        return " ".join(self._docstring().split("\n\n")[0].split()).rstrip(".") or self._service_and_method()[1]

    def get_description(self):
        if not self._is_rpc():
            return super().get_description()
        # The paragraphs after the summary.
        return self._docstring().partition("\n\n")[2]

    def map_parsers(self):
        if not self._is_rpc():
            return super().map_parsers()
        # RpcView parses the body itself, as JSON whatever the Content-Type (CONTRACT 1).
        return ["application/json"]

    def get_override_parameters(self):
        if not self._is_rpc():
            return super().get_override_parameters()
        parameters = [
            OpenApiParameter(
                header_name(NAMESPACE_HEADER),
                str,
                OpenApiParameter.HEADER,
                description=(
                    "The namespace to act in. Required with a browser session (the user must be a member; "
                    "superusers may use any). With an API key it may be left out; naming another namespace "
                    "than the key's is 403."
                ),
            )
        ]
        if self.view.idempotent:
            parameters.append(
                OpenApiParameter(
                    idempotency.HEADER,
                    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": IDEMPOTENCY_KEY_PATTERN},
                    OpenApiParameter.HEADER,
                    description=(
                        "1 to 255 printable ASCII characters. For 24 hours, repeating a key of the namespace "
                        "with the same body creates nothing and answers the original response again; the same "
                        "key with another method or body is 409."
                    ),
                )
            )
        return parameters

    def get_request_serializer(self):
        if not self._is_rpc():
            return super().get_request_serializer()
        return self.view.request_serializer

    def get_response_serializers(self):
        if not self._is_rpc():
            return super().get_response_serializers()
        return {200: self.view.response_serializer}

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if not self._is_rpc():
            return responses
        responses["200"]["description"] = "The answer; every field is present, lists included."
        links = links_of(self.get_operation_id())
        if links:
            responses["200"]["links"] = links
        for code, description in error_responses(self.view).items():
            schema = self._error_component(code).ref
            responses[str(code)] = {"description": description, "content": {"application/json": {"schema": schema}}}
            if code in RESPONSE_HEADERS:
                responses[str(code)]["headers"] = RESPONSE_HEADERS[code]
        return responses

    def _error_component(self, code):
        """Error{code}: the envelope with that code and its reason phrase."""
        envelope = self.resolve_serializer(ErrorEnvelope, "response").ref
        component = ResolvedComponent(
            name=f"Error{code}",
            type=ResolvedComponent.SCHEMA,
            object=f"Error{code}",
            schema={
                "description": f"The error envelope of a {code} answer.",
                "allOf": [
                    envelope,
                    {
                        "type": "object",
                        "properties": {
                            "code": {"type": "integer", "enum": [code]},
                            "status": {"type": "string", "enum": [HTTPStatus(code).phrase]},
                        },
                    },
                ],
            },
        )
        self.registry.register_on_missing(component)
        return component

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if not self._is_rpc() or not isinstance(serializer, serializers.Serializer):
            return schema
        rpc_fields = [field for field in serializer.fields.values() if isinstance(field, fields.RpcField)]
        if rpc_fields:
            # Every RpcField is optional to DRF (it checks presence itself); the
            # ones that name a MISSING_* error are required on the wire.
            required = [field.field_name for field in rpc_fields if is_required(field)]
            if required:
                schema["required"] = required
            else:
                schema.pop("required", None)
        elif not schema.get("properties") and direction == "response":
            schema["additionalProperties"] = False
        if type(serializer) is ErrorEnvelope:
            schema["additionalProperties"] = False
            schema["example"] = ERROR_EXAMPLE
        return schema

    def get_serializer_name(self, serializer, direction):
        """Streams and Chats both have a Message, a CreateMessageRequest...:
        a serializer of an app's models or module is named after its service."""
        name = super().get_serializer_name(serializer, direction)
        model = getattr(getattr(serializer, "Meta", None), "model", None)
        app = model._meta.app_label if model is not None else type(serializer).__module__.split(".")[0]
        service = {"streams": "Streams", "chats": "Chats"}.get(app)
        return f"{service}{name}" if service and not name.startswith(service) else name
