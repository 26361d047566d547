"""The base of every RPC view, and the URL routing of /protobuf/{Service}/{Method}."""

import json

from django.core.exceptions import RequestDataTooBig
from django.http.request import RawPostDataException
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.response import Response
from rest_framework.views import APIView

from .auth import resolve_namespace
from .errors import BadRequest, MethodNotAllowed, NotFound, PayloadTooLarge, envelope


def parse_body(raw):
    """The request body as a dict. Done here rather than by a DRF parser because
    DRF picks parsers by Content-Type, and the contract says to ignore it."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise BadRequest("The body is not valid UTF-8") from None
    except RecursionError:
        raise BadRequest("The body is nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, and integers too long to convert
        raise BadRequest(f"The body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object")
    return data


class RpcView(APIView):
    """One RPC: POST only. Checks run in the contract's order: method, body size,
    credentials and namespace, then the fields (`request_serializer`, in
    order), and only then `call`, which does the work through one service or
    query function and returns the response object."""

    http_method_names = ["post"]
    request_serializer = None

    def initial(self, request, *args, **kwargs):
        if request.method.lower() not in self.http_method_names:
            raise MethodNotAllowed()
        try:
            self.raw_body = request._request.body
        except RequestDataTooBig:
            raise PayloadTooLarge() from None
        except RawPostDataException:  # the stream was read before: nothing we can trust
            raise BadRequest("The body could not be read") from None
        super().initial(request, *args, **kwargs)
        self.namespace = resolve_namespace(request)

    def post(self, request, *args, **kwargs):
        serializer = self.request_serializer(data=parse_body(self.raw_body))
        serializer.is_valid(raise_exception=True)
        return Response(self.call(self.namespace, **serializer.validated_data))

    def call(self, namespace, **fields):
        raise NotImplementedError


@csrf_exempt
def unknown_rpc(request, *args, **kwargs):
    return envelope(NotFound(f"No such RPC: {request.path}"))


def rpc_routes(service, views):
    """URL patterns for one service: {"CreateChat": CreateChatView, ...}."""
    return [path(f"protobuf/{service}/{method}", view.as_view()) for method, view in views.items()]


UNKNOWN_RPC_ROUTE = re_path(r"^protobuf(/|$)", unknown_rpc)
