"""One structured line per request on the logger "convoproject.requests":

    {"method": "POST", "path": "/protobuf/Streams/CreateMessage", "rpc": "Streams/CreateMessage",
     "namespace": "micro", "status": 200, "duration_ms": 3.1}

Only what routes and counts a request: never its body, query string,
headers (Authorization, cookies) or an API key.

"namespace" is the namespace an RPC acted in, when it got that far:
RpcView sets `convo_namespace` on the request once it has resolved it.
"""

import json
import logging
import time

logger = logging.getLogger("convoproject.requests")

RPC_PREFIX = "/protobuf/"
MAX_PATH = 200


class RequestLogMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        start = time.perf_counter()
        response = self.get_response(request)
        duration_ms = round((time.perf_counter() - start) * 1000, 1)
        path = request.path[:MAX_PATH]  # request.path has no query string
        rpc = path[len(RPC_PREFIX) :] if path.startswith(RPC_PREFIX) else None
        line = {
            "method": request.method,
            "path": path,
            "rpc": rpc,
            "namespace": getattr(request, "convo_namespace", None),
            "status": response.status_code,
            "duration_ms": duration_ms,
        }
        logger.info(json.dumps(line, separators=(",", ":"), ensure_ascii=True))
        return response
