from convoproject.rpc.errors import NotFound


class ChatNotFound(NotFound):
    detail = "Chat not found"
