from convoproject.rpc.errors import Forbidden, NotFound


class ChatNotFound(NotFound):
    detail = "Chat not found"


class NotAMember(Forbidden):
    id, detail = "NOT_A_MEMBER", "The author is not a member of this chat"


class ReporterNotAMember(NotAMember):
    detail = "The reporter is not a member of this chat"
