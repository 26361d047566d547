"""The Chats RPCs: parse (the request serializer), call one service or query
function, render."""

from convoproject.messaging.reports import MessageNotFound, ReportMessageRequest
from convoproject.rpc.views import RpcView

from . import queries, services
from . import serializers as s
from .errors import ChatNotFound, NotAMember, ReporterNotAMember


class CreateChat(RpcView):
    """Get the chat of a set of users.

    The same set, in any order, always gets the same chat back (same id and
    created_at), also when two requests race."""

    request_serializer = s.CreateChatRequest
    response_serializer = s.ChatResponse
    idempotent = True

    def call(self, namespace, *, user_ids):
        return {"chat": s.render_chat(services.create_chat(namespace, user_ids=user_ids))}


class CreateMessage(RpcView):
    """Post a message in a chat.

    The author must be one of the chat's users."""

    request_serializer = s.CreateMessageRequest
    response_serializer = s.MessageResponse
    call_errors = (ChatNotFound, NotAMember)
    idempotent = True

    def call(self, namespace, *, author_id, chat_id, text):
        message = services.create_message(namespace, chat_id=chat_id, author_id=author_id, text=text)
        return {"message": s.render_message(message)}


class ListMessages(RpcView):
    """List the messages of a chat, newest first.

    As Streams ListMessages: the newest `limit` messages sent strictly before
    `sent_before` (if given)."""

    request_serializer = s.ListMessagesRequest
    response_serializer = s.MessagesResponse
    call_errors = (ChatNotFound,)

    def call(self, namespace, *, chat_id, sent_before, limit):
        page = queries.list_messages(
            namespace, chat_id=chat_id, sent_before=sent_before, limit=limit, render=s.render_message_rows
        )
        return {"messages": page}


class ReportMessage(RpcView):
    """Report a message of a chat to the namespace's moderators.

    The reporter must be one of the chat's users. As Streams ReportMessage
    otherwise: hidden messages can be reported, a repeat while the report is
    open answers it unchanged, and the namespace's threshold may hide the
    message at once."""

    request_serializer = ReportMessageRequest
    response_serializer = s.ReportResponse
    call_errors = (MessageNotFound, ReporterNotAMember)

    def call(self, namespace, *, message_id, reporter_id, reason, description):
        report = services.report_message(
            namespace, message_id=message_id, reporter_id=reporter_id, reason=reason, description=description
        )
        return {"report": s.render_report(report)}


RPCS = {
    "CreateChat": CreateChat,
    "CreateMessage": CreateMessage,
    "ListMessages": ListMessages,
    "ReportMessage": ReportMessage,
}
