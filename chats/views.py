"""The Chats RPCs: parse (the request serializer), call one service or query
function, render."""

from convoproject.rpc.views import RpcView

from . import queries, services
from . import serializers as s


class CreateChat(RpcView):
    request_serializer = s.CreateChatRequest
    idempotent = True

    def call(self, namespace, *, user_ids):
        return {"chat": s.ChatSerializer(services.create_chat(namespace, user_ids)).data}


class CreateMessage(RpcView):
    request_serializer = s.CreateMessageRequest
    idempotent = True

    def call(self, namespace, *, author_id, chat_id, text):
        message = services.create_message(namespace, chat_id, author_id=author_id, text=text)
        return {"message": s.MessageSerializer(message).data}


class ListMessages(RpcView):
    request_serializer = s.ListMessagesRequest

    def call(self, namespace, *, chat_id, sent_before, limit):
        rows = queries.list_messages(namespace, chat_id, sent_before=sent_before, limit=limit)
        return {"messages": s.MessageSerializer(rows, many=True).data}


RPCS = {
    "CreateChat": CreateChat,
    "CreateMessage": CreateMessage,
    "ListMessages": ListMessages,
}
