"""The Streams RPCs: parse (the request serializer), call one service or
query function, render."""

from convoproject.messaging.reports import MessageNotFound, ReportMessageRequest
from convoproject.rpc.views import RpcView

from . import queries, services
from . import serializers as s
from .errors import ConversationNotFound


def conversation(row):
    return {"conversation": s.render_conversation(row)}


class CreateConversation(RpcView):
    """Create a conversation in a group, with a topic."""

    request_serializer = s.CreateConversationRequest
    response_serializer = s.ConversationResponse
    idempotent = True

    def call(self, namespace, *, group_id, topic):
        return conversation(services.create_conversation(namespace, group_id=group_id, topic=topic))


class ReadConversation(RpcView):
    """Read a conversation.

    With `group_id`, a conversation of another group is not found."""

    request_serializer = s.ReadConversationRequest
    response_serializer = s.ConversationResponse
    call_errors = (ConversationNotFound,)

    def call(self, namespace, *, id, group_id):
        return conversation(queries.get_conversation(namespace, conversation_id=id, group_id=group_id))


class UpdateConversation(RpcView):
    """Rename a conversation.

    Answers the conversation with its new topic."""

    request_serializer = s.UpdateConversationRequest
    response_serializer = s.ConversationResponse
    call_errors = (ConversationNotFound,)

    def call(self, namespace, *, id, topic):
        return conversation(services.update_conversation(namespace, conversation_id=id, topic=topic))


class DeleteConversation(RpcView):
    """Delete a conversation and its messages.

    All in one transaction. Deleting a missing conversation also answers {}."""

    request_serializer = s.DeleteConversationRequest
    response_serializer = s.EmptyResponse

    def call(self, namespace, *, id):
        services.delete_conversation(namespace, conversation_id=id)
        return {}


class ListConversations(RpcView):
    """List the conversations of a group, newest first."""

    request_serializer = s.ListConversationsRequest
    response_serializer = s.ConversationsResponse

    def call(self, namespace, *, group_id):
        rows = queries.list_conversations(namespace, group_id=group_id)
        return {"conversations": [s.render_conversation(row) for row in rows]}


class CreateMessage(RpcView):
    """Post a message in a conversation.

    Its `sent_at` is unique and strictly increasing within the conversation."""

    request_serializer = s.CreateMessageRequest
    response_serializer = s.MessageResponse
    call_errors = (ConversationNotFound,)
    idempotent = True

    def call(self, namespace, *, author_id, conversation_id, text):
        message = services.create_message(namespace, conversation_id=conversation_id, author_id=author_id, text=text)
        return {"message": s.render_message(message)}


class ListMessages(RpcView):
    """List the messages of a conversation, newest first.

    The newest `limit` messages sent strictly before `sent_before` (if given):
    page back by passing the oldest `sent_at` of a page as the next
    `sent_before`. Hidden messages are never returned."""

    request_serializer = s.ListMessagesRequest
    response_serializer = s.MessagesResponse
    call_errors = (ConversationNotFound,)

    def call(self, namespace, *, conversation_id, sent_before, limit):
        page = queries.list_messages(
            namespace,
            conversation_id=conversation_id,
            sent_before=sent_before,
            limit=limit,
            render=s.render_message_rows,
        )
        return {"messages": page}


class RecentMessages(RpcView):
    """Read the newest messages of several conversations at once.

    For each conversation, in the order first given (duplicates ignored), its
    newest `limit_per_conversation` messages, newest first. Unknown ids
    contribute nothing."""

    request_serializer = s.RecentMessagesRequest
    response_serializer = s.MessagesResponse

    def call(self, namespace, *, conversation_ids, limit_per_conversation):
        rows = queries.recent_messages(
            namespace,
            conversation_ids=conversation_ids,
            limit_per_conversation=limit_per_conversation,
            render=s.render_message_rows,
        )
        return {"messages": rows}


class ReportMessage(RpcView):
    """Report a message to the namespace's moderators.

    A hidden message can be reported too. The same reporter reporting the same
    message again while that report is open gets the open report back
    unchanged. At the namespace's threshold of distinct reporters, the message
    is hidden at once and waits for a moderator."""

    request_serializer = ReportMessageRequest
    response_serializer = s.ReportResponse
    call_errors = (MessageNotFound,)

    def call(self, namespace, *, message_id, reporter_id, reason, description):
        report = services.report_message(
            namespace, message_id=message_id, reporter_id=reporter_id, reason=reason, description=description
        )
        return {"report": s.render_report(report)}


RPCS = {
    "CreateConversation": CreateConversation,
    "ReadConversation": ReadConversation,
    "UpdateConversation": UpdateConversation,
    "DeleteConversation": DeleteConversation,
    "ListConversations": ListConversations,
    "CreateMessage": CreateMessage,
    "ListMessages": ListMessages,
    "RecentMessages": RecentMessages,
    "ReportMessage": ReportMessage,
}
