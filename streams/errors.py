from convoproject.rpc.errors import NotFound


class ConversationNotFound(NotFound):
    detail = "Conversation not found"
