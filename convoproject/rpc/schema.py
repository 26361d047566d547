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

Each request field states its own schema, next to the `clean` that it
describes (convoproject.rpc.fields); the error examples are the envelopes of
the real error classes (convoproject.rpc.errors.envelope_body).
"""

import inspect
from http import HTTPStatus

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from . import errors, fields, idempotency
from .auth import NAMESPACE_HEADER

RPC_PREFIX = "/protobuf/"
# The header's characters as idempotency.key_from takes them, and not only spaces (blank).
IDEMPOTENCY_KEY_PATTERN = rf"^[{idempotency.KEY_CHARACTERS}]*[\x21-\x7e][{idempotency.KEY_CHARACTERS}]*$"


def header_name(meta_key):
    """HTTP_MICRO_NAMESPACE -> Micro-Namespace (and Django's CSRF header -> X-CSRFToken)."""
    name = meta_key.removeprefix("HTTP_").replace("_", "-").title()
    return name.replace("Csrftoken", "CSRFToken")


# The moderation REST API (convoproject.moderation.api), documented by its own AutoSchema.
MODERATION_PREFIX = "/api/moderation/"


def only_api_paths(endpoints, **kwargs):
    """PREPROCESSING_HOOKS: the document describes the RPCs and the moderation
    API, nothing else (not the admin, the web pages or the schema views themselves)."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith((RPC_PREFIX, MODERATION_PREFIX))]


# ------------------------------------------------------------------ fields


class RpcFieldExtension(OpenApiSerializerFieldExtension):
    """A request field's schema is the field's own (convoproject.rpc.fields)."""

    target_class = fields.RpcField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        return self.target.json_schema()


class TimestampOutExtension(RpcFieldExtension):
    target_class = fields.TimestampOut


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


# An example detail where the real one names something of the request.
FORBIDDEN_EXAMPLE = errors.Forbidden("This API key belongs to another namespace than 'other'")


def bad_request_ids(view):
    """The 400 error ids of an RPC: a body that is not a JSON object, then its
    fields' errors in validation order."""
    ids = [errors.BadRequest.id]
    for _, field in view.request_fields():
        ids += field.error_ids()
    return list(dict.fromkeys(ids))


def error_answers(view):
    """{status: [(what, when, example error)]}: every error the RPC can answer
    (CONTRACT 2, 6, 7), each with a real error of that status for its example
    (for 400, the RPC's first missing field)."""
    first_required = next(field for _, field in view.request_fields() if field.required_on_wire)
    bad_request = "the body is not a JSON object, or a field is invalid"
    if view.idempotent:
        bad_request += "; also `BAD_REQUEST` for an empty or malformed Idempotency-Key header"
    bad_request_what = ", ".join(map(code_span, bad_request_ids(view)))
    answers = {
        400: [(bad_request_what, bad_request, errors.MissingField(*first_required.missing))],
        401: [(None, "no credentials, or an unknown or revoked API key", errors.NoCredentials())],
        403: [(None, "Micro-Namespace names a namespace the caller may not use", FORBIDDEN_EXAMPLE)],
    }
    for error_class in view.call_errors:
        error = error_class()
        answers.setdefault(error.code, []).append((None, error.detail, error))
    if view.idempotent:
        reused = "the Idempotency-Key was used before with another method or body"
        answers[409] = [(None, reused, errors.IdempotencyKeyReused())]
    answers[413] = [(None, "the body is over 1 MiB (1,048,576 bytes)", errors.PayloadTooLarge())]
    answers[429] = [(None, "over the caller's rate limit; retry after Retry-After seconds", errors.TooManyRequests(30))]
    answers[500] = [(None, "never expected; logged on the server", errors.InternalError())]
    answers[503] = [(None, "the database does not answer; retry later", errors.ServiceUnavailable())]
    return dict(sorted(answers.items()))


def code_span(text):
    return f"`{text}`"


def error_response(code, answers, schema):
    """The OpenAPI response of one error status: its errors, their example envelopes."""
    description = " ".join(f"{what or code_span(error.id)}: {when}." for what, when, error in answers)
    examples = {error.id: {"value": errors.envelope_body(error)} for _, _, error in answers}
    response = {"description": description, "content": {"application/json": {"schema": schema, "examples": examples}}}
    if code in RESPONSE_HEADERS:
        response["headers"] = RESPONSE_HEADERS[code]
    return response


RESPONSE_HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": 'Bearer realm="api"'}},
    429: {"Retry-After": {"schema": {"type": "integer", "minimum": 1}, "description": "Seconds to wait."}},
}


def error_component(auto_schema, code):
    """Error{code}: the envelope with that code and its reason phrase (one
    component per status, shared by every operation of the document)."""
    envelope = auto_schema.resolve_serializer(ErrorEnvelope, "response").ref
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
    auto_schema.registry.register_on_missing(component)
    return component


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


class RpcAutoSchema(AutoSchema):
    """The schema of an RpcView (its `schema` attribute)."""

    def _service_and_method(self):
        service, method = self.path.removeprefix(RPC_PREFIX).split("/")
        return service, method

    def get_operation_id(self):
        return "_".join(self._service_and_method())

    def get_tags(self):
        return [self._service_and_method()[0]]

    def _docstring(self):
        # The view's own docstring only, not RpcView's (about the implementation).
        return inspect.cleandoc(type(self.view).__dict__.get("__doc__") or "")

    def get_summary(self):
        # The docstring's first paragraph.
        return " ".join(self._docstring().split("\n\n")[0].split()).rstrip(".") or self._service_and_method()[1]

    def get_description(self):
        # The paragraphs after the summary.
        return self._docstring().partition("\n\n")[2]

    def map_parsers(self):
        # RpcView parses the body itself, as JSON whatever the Content-Type (CONTRACT 1).
        return ["application/json"]

    def get_override_parameters(self):
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
                    {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": idempotency.KEY_MAX_LENGTH,
                        "pattern": IDEMPOTENCY_KEY_PATTERN,
                    },
                    OpenApiParameter.HEADER,
                    description=(
                        f"1 to {idempotency.KEY_MAX_LENGTH} printable ASCII characters. For 24 hours, repeating "
                        "a key of the namespace with the same body creates nothing and answers the original "
                        "response again; the same key with another method or body is 409."
                    ),
                )
            )
        return parameters

    def get_request_serializer(self):
        return self.view.request_serializer

    def get_response_serializers(self):
        return {200: self.view.response_serializer}

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        responses["200"]["description"] = "The answer; every field is present, lists included."
        links = links_of(self.get_operation_id())
        if links:
            responses["200"]["links"] = links
        for code, answers in error_answers(self.view).items():
            responses[str(code)] = error_response(code, answers, error_component(self, code).ref)
        return responses

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if not isinstance(serializer, serializers.Serializer):
            return schema
        rpc_fields = [field for field in serializer.fields.values() if isinstance(field, fields.RpcField)]
        if rpc_fields:
            # Every RpcField is optional to DRF (it checks presence itself); the
            # ones that name a MISSING_* error are required on the wire.
            required = [field.field_name for field in rpc_fields if field.required_on_wire]
            if required:
                schema["required"] = required
            else:
                schema.pop("required", None)
            # A rule across fields (RpcView runs `check_together`) states its schema beside it.
            schema_together = getattr(serializer, "schema_together", None)
            if schema_together is not None:
                schema.update(schema_together())
        elif not schema.get("properties") and direction == "response":
            schema["additionalProperties"] = False
        if type(serializer) is ErrorEnvelope:
            schema["additionalProperties"] = False
        return schema

    def get_serializer_name(self, serializer, direction):
        """Streams and Chats both have a Message, a CreateMessageRequest...:
        a serializer of an app's models or module is named after its service."""
        name = super().get_serializer_name(serializer, direction)
        model = getattr(getattr(serializer, "Meta", None), "model", None)
        app = model._meta.app_label if model is not None else type(serializer).__module__.split(".")[0]
        service = {"streams": "Streams", "chats": "Chats"}.get(app)
        return f"{service}{name}" if service and not name.startswith(service) else name
