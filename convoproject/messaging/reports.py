"""What both services' reports share on the wire (CONTRACT 10): the
ReportMessage request, in validation order, with its errors, and the Report
answer's form."""

from rest_framework import serializers

from convoproject.rpc import fields
from convoproject.rpc.errors import NotFound, RpcError
from convoproject.rpc.fields import TimestampOut
from convoproject.rpc.fields.base import non_blank_string

from .models import Reason

DESCRIPTION_MAX = 1000
MISSING_MESSAGE_ID = ("MISSING_MESSAGE_ID", "Missing Message ID")
MISSING_REPORTER_ID = ("MISSING_REPORTER_ID", "Missing Reporter ID")
MISSING_REASON = ("MISSING_REASON", "Missing Reason")


class InvalidReason(RpcError):
    id, code = "INVALID_REASON", 400


class MissingDescription(RpcError):
    id, code, detail = "MISSING_DESCRIPTION", 400, "A description is required when the reason is other"


class MessageNotFound(NotFound):
    detail = "Message not found"


class Description(fields.Text):
    """The optional `description`, required with the reason `other` (checked
    by ReportMessageRequest.check_together, after every field)."""

    errors = (*fields.Text.errors, MissingDescription)

    def __init__(self):
        super().__init__(max_length=DESCRIPTION_MAX)

    def describe(self):
        return f"{super().describe()} Required (else {MissingDescription.id}) when `reason` is `other`."


class ReportMessageRequest(serializers.Serializer):
    message_id = fields.RowId(missing=MISSING_MESSAGE_ID)
    reporter_id = fields.ClientId(missing=MISSING_REPORTER_ID)
    reason = fields.Choice(choices=Reason.values, invalid=InvalidReason, missing=MISSING_REASON)
    description = Description()

    @staticmethod
    def check_together(values):
        if values["reason"] == Reason.OTHER and values["description"] is None:
            raise MissingDescription()

    @staticmethod
    def schema_together():
        """check_together's rule in JSON Schema: another reason, or a description."""
        described = {"description": non_blank_string(DESCRIPTION_MAX)}
        return {
            "anyOf": [
                {"properties": {"reason": {"not": {"enum": [Reason.OTHER.value]}}}},
                {"required": ["description"], "properties": described},
            ]
        }


def report_serializer(report_model):
    """The serializer class of `report_model`'s wire form:
    {id, message_id, reporter_id, reason, description, created_at}."""
    meta = type(
        "Meta",
        (),
        {"model": report_model, "fields": ["id", "message_id", "reporter_id", "reason", "description", "created_at"]},
    )
    attributes = {
        "__module__": report_model.__module__,
        "__doc__": "A user's report of a message.",
        "message_id": serializers.UUIDField(read_only=True),
        "reason": serializers.CharField(read_only=True, help_text=f"One of {', '.join(Reason.values)}."),
        "description": serializers.CharField(read_only=True, help_text='"" when none was given.'),
        "created_at": TimestampOut(),
        "Meta": meta,
    }
    return type("ReportSerializer", (serializers.ModelSerializer,), attributes)
