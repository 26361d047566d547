"""The moderation API in the OpenAPI document (/api/schema/, tag
Moderation): drf-spectacular's AutoSchema, plus the error envelope of every
status an operation can answer (the RPCs' components, convoproject.rpc.schema),
the two ways to authenticate, and the types of the selection's filters."""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from convoproject.rpc import errors
from convoproject.rpc.fields import TimestampOut
from convoproject.rpc.schema import error_component, error_response, header_name

from .. import selection
from .errors import NoCredentials, NoOpenReports
from .serializers import TimestampOrNull, TimestampText

# The filters' types, for the document (the filters themselves know no DRF).
extend_schema_field(OpenApiTypes.DATETIME)(selection.TimestampFilter)
extend_schema_field(OpenApiTypes.BOOL)(selection.StrictBooleanFilter)
extend_schema_field(OpenApiTypes.STR)(selection.NamespaceFilter)


class TimestampOrNullExtension(OpenApiSerializerFieldExtension):
    target_class = TimestampOrNull
    priority = 2  # before the RPCs' TimestampOut extension, which matches subclasses

    def map_serializer_field(self, auto_schema, direction):
        return {**TimestampOut().json_schema(), "nullable": True}


class TimestampTextExtension(OpenApiSerializerFieldExtension):
    target_class = TimestampText

    def map_serializer_field(self, auto_schema, direction):
        return {
            "type": "string",
            "format": "date-time",
            "nullable": True,
            "description": "RFC 3339, with an offset (Z or ±hh:mm).",
        }


class ModerationTokenScheme(OpenApiAuthenticationExtension):
    target_class = "convoproject.moderation.api.auth.ModerationTokenAuthentication"
    name = "ModerationToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <moderation token>` of a staff user (`manage.py create_moderation_token USERNAME`).",
        }


class StaffSessionScheme(OpenApiAuthenticationExtension):
    target_class = "convoproject.moderation.api.auth.StaffSessionAuthentication"
    name = ["StaffSession", "StaffCsrfToken"]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "apiKey",
                "in": "cookie",
                "name": settings.SESSION_COOKIE_NAME,
                "description": "A staff user's login session (admin's).",
            },
            {
                "type": "apiKey",
                "in": "header",
                "name": header_name(settings.CSRF_HEADER_NAME),
                "description": "Django's CSRF token, required with the session cookie for POST and DELETE.",
            },
        ]


EXAMPLES = {
    "invalid": errors.BadRequest("sent_after: Enter a valid date/time."),
    "reason": errors.BadRequest("reason: This field is required."),
    "forbidden": errors.Forbidden("You may not moderate these messages"),
    "not_found": errors.NotFound(),
    "media": errors.RpcError('Unsupported media type "text/plain" in request.', id="UNSUPPORTED_MEDIA_TYPE"),
}
EXAMPLES["media"].code = 415


class ModerationAutoSchema(AutoSchema):
    """Tagged Moderation; a DELETE documents its body (the reason); every
    operation lists its error envelopes."""

    def get_tags(self):
        return ["Moderation"]

    def _get_request_body(self, direction="request"):
        if self.method != "DELETE":
            return super()._get_request_body(direction)
        # drf-spectacular documents bodies of POST, PUT and PATCH only; a
        # moderation DELETE has one (the reason).
        self.method = "POST"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"

    def error_answers(self):
        """{status: [(what, when, example error)]} of this operation."""
        has_body = self.method in ("POST", "DELETE")
        answers = {
            401: [(None, "no credentials, or an unknown or revoked token, or an API key", NoCredentials())],
            403: [(None, "not active staff, or without the permission this needs", EXAMPLES["forbidden"])],
        }
        if has_body:
            answers[400] = [(None, "the body is not valid: the detail names the field", EXAMPLES["reason"])]
            answers[415] = [(None, "the body is not JSON (Content-Type: application/json)", EXAMPLES["media"])]
        elif self._is_list_view():
            answers[400] = [
                (None, "a filter, page_size or cursor is not valid: the detail names it", EXAMPLES["invalid"])
            ]
        if "{id}" in self.path:
            answers[404] = [(None, "no such row", EXAMPLES["not_found"])]
        if self.path.endswith(("/confirm/", "/dismiss/")):
            answers[409] = [(None, "the report's message has no open reports left", NoOpenReports())]
        return dict(sorted(answers.items()))

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, answers in self.error_answers().items():
            responses[str(code)] = error_response(code, answers, error_component(self, code).ref)
        return responses
