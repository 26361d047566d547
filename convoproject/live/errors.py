from convoproject.rpc.errors import RpcError


class MissingIds(RpcError):
    id, code, detail = "MISSING_IDS", 400, "One or more conversation_id or chat_id parameters are required"


class InvalidEventId(RpcError):
    id, code, detail = "INVALID_EVENT_ID", 400, "The resume point (Last-Event-ID) is not an event id of this service"
