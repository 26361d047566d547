"""The base of every RPC view, and the URL routing of /protobuf/{Service}/{Method}."""

import json

from django.core.exceptions import RequestDataTooBig
from django.http.request import RawPostDataException
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.views import APIView

from . import idempotency
from .auth import resolve_namespace
from .errors import BadRequest, MethodNotAllowed, NotFound, PayloadTooLarge, envelope
from .renderers import json_response
from .schema import RpcAutoSchema


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
    credentials and namespace, the Idempotency-Key header (only if
    `idempotent`), then the fields (`request_serializer`, in order), and only
    then `call`, which does the work through one service or query function and
    returns the response object.

    `idempotent = True` (the create RPCs) honours an Idempotency-Key header
    (CONTRACT 7, convoproject.rpc.idempotency); other RPCs ignore it.

    For the OpenAPI document only (convoproject.rpc.schema): `response_serializer`
    describes what `call` returns, `call_errors` the RpcErrors it may raise."""

    http_method_names = ["post"]
    schema = RpcAutoSchema()
    request_serializer = None
    response_serializer = None
    call_errors = ()
    idempotent = False

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
        request._request.convo_namespace = self.namespace.name  # for the request log, also when the RPC fails
        self.idempotency_key = idempotency.key_from(request) if self.idempotent else None

    def post(self, request, *args, **kwargs):
        body = parse_body(self.raw_body)
        # Field by field, in declared order; the first failure raises its error.
        fields = {name: field.clean(body.get(name)) for name, field in self.request_fields()}
        # A rule across fields (e.g. a description required by one reason), after them all.
        check_together = getattr(self.request_serializer, "check_together", None)
        if check_together is not None:
            check_together(fields)
        if self.idempotency_key is None:
            return json_response(self.call(self.namespace, **fields))
        answer = idempotency.once(
            self.namespace,
            self.idempotency_key,
            request.path,
            body,
            lambda: self.call(self.namespace, **fields),
        )
        return json_response(answer)

    def call(self, namespace, **fields):
        raise NotImplementedError

    @classmethod
    def request_fields(cls):
        """(name, field) of the request serializer, bound once per view: DRF
        deep-copies every field for each serializer instance, which cost more
        than validating them. The fields' clean() keeps no state."""
        fields = cls.__dict__.get("_request_fields")
        if fields is None:
            fields = cls._request_fields = tuple(cls.request_serializer().fields.items())
        return fields


@csrf_exempt
def unknown_rpc(request, *args, **kwargs):
    return envelope(NotFound(f"No such RPC: {request.path}"))


def rpc_routes(service, views):
    """URL patterns for one service: {"CreateChat": CreateChatView, ...}."""
    return [path(f"protobuf/{service}/{method}", view.as_view()) for method, view in views.items()]


UNKNOWN_RPC_ROUTE = re_path(r"^protobuf(/|$)", unknown_rpc)
