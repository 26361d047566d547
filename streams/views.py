"""The Streams RPCs: parse (the request serializer), call one service or
query function, render."""

from convoproject.rpc.views import RpcView

from . import queries, services
from . import serializers as s


def conversation(row):
    return {"conversation": s.ConversationSerializer(row).data}


def messages(rows):
    return {"messages": s.MessageSerializer(rows, many=True).data}


class CreateConversation(RpcView):
    request_serializer = s.CreateConversationRequest
    idempotent = True

    def call(self, namespace, *, group_id, topic):
        return conversation(services.create_conversation(namespace, group_id=group_id, topic=topic))


class ReadConversation(RpcView):
    request_serializer = s.ReadConversationRequest

    def call(self, namespace, *, id, group_id):
        return conversation(queries.get_conversation(namespace, id, group_id=group_id))


class UpdateConversation(RpcView):
    request_serializer = s.UpdateConversationRequest

    def call(self, namespace, *, id, topic):
        return conversation(services.update_conversation(namespace, id, topic=topic))


class DeleteConversation(RpcView):
    request_serializer = s.DeleteConversationRequest

    def call(self, namespace, *, id):
        services.delete_conversation(namespace, id)
        return {}


class ListConversations(RpcView):
    request_serializer = s.ListConversationsRequest

    def call(self, namespace, *, group_id):
        rows = queries.list_conversations(namespace, group_id)
        return {"conversations": s.ConversationSerializer(rows, many=True).data}


class CreateMessage(RpcView):
    request_serializer = s.CreateMessageRequest
    idempotent = True

    def call(self, namespace, *, author_id, conversation_id, text):
        message = services.create_message(namespace, conversation_id, author_id=author_id, text=text)
        return {"message": s.MessageSerializer(message).data}


class ListMessages(RpcView):
    request_serializer = s.ListMessagesRequest

    def call(self, namespace, *, conversation_id, sent_before, limit):
        return messages(queries.list_messages(namespace, conversation_id, sent_before=sent_before, limit=limit))


class RecentMessages(RpcView):
    request_serializer = s.RecentMessagesRequest

    def call(self, namespace, *, conversation_ids, limit_per_conversation):
        return messages(
            queries.recent_messages(
                namespace,
                conversation_ids,
                limit_per_conversation=limit_per_conversation,
            )
        )


RPCS = {
    "CreateConversation": CreateConversation,
    "ReadConversation": ReadConversation,
    "UpdateConversation": UpdateConversation,
    "DeleteConversation": DeleteConversation,
    "ListConversations": ListConversations,
    "CreateMessage": CreateMessage,
    "ListMessages": ListMessages,
    "RecentMessages": RecentMessages,
}
