import uuid

from django.db import models

from convoproject.messaging.models import (
    MessageBase,
    ReportBase,
    ReportedMessageBase,
    moderation_indexes,
    ordered_message_constraints,
    parent_index,
    report_constraints_and_indexes,
    reported_message_indexes,
)
from convoproject.tenants.models import Namespace


class Conversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    namespace = models.ForeignKey(
        Namespace,
        on_delete=models.CASCADE,
        related_name="conversations",
        db_index=False,
    )
    group_id = models.CharField(max_length=255)
    topic = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    # The newest sent_at of its messages, kept by the Appender, which locks
    # the row by updating it (convoproject.messaging.ordering); any other
    # save must leave it out (update_fields).
    last_sent_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        indexes = [
            # ListConversations: one group of one namespace, newest first.
            models.Index(
                fields=["namespace", "group_id", "-created_at"],
                name="streams_conv_group_idx",
            ),
        ]

    def __str__(self):
        return self.topic


class Message(MessageBase):
    PARENT = "conversation"

    # Its index is parent_index()'s, (parent, sent_at), not Django's (parent).
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False)

    class Meta(MessageBase.Meta):
        constraints = ordered_message_constraints("conversation")
        indexes = [*moderation_indexes(), parent_index("conversation")]


# DO_NOTHING, not CASCADE, on these two: so that messages stay fast-deletable
# (one DELETE for a clean-up of millions, which a cascade Django runs itself
# would turn into a SELECT of every message and a DELETE per hundred). The
# deleting functions remove reports first (convoproject.moderation.reports.
# delete_reports_of); the foreign key, checked at commit, catches any that would not.
class Report(ReportBase):
    PARENT = "conversation"

    message = models.ForeignKey(Message, on_delete=models.DO_NOTHING, related_name="reports")
    # The message's conversation (ReportBase.PARENT), indexed by the (conversation,
    # created_at) index. DO_NOTHING as the message's: the Conversation's deletion
    # removes its reports first, as it does its messages' (delete_reports_of).
    conversation = models.ForeignKey(Conversation, on_delete=models.DO_NOTHING, related_name="+", db_index=False)

    class Meta:
        constraints, indexes = report_constraints_and_indexes("conversation")


class ReportedMessage(ReportedMessageBase):
    message = models.OneToOneField(Message, on_delete=models.DO_NOTHING, primary_key=True, related_name="review")

    class Meta:
        indexes = reported_message_indexes()
