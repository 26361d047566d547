from django.contrib import admin
from django.urls import include, path

import chats.models
import chats.views
import streams.models
import streams.views
from convoproject.health import healthz
from convoproject.live.views import events
from convoproject.moderation.api.urls import moderation_routes
from convoproject.rpc.docs import DocsView, SchemaView
from convoproject.rpc.views import UNKNOWN_RPC_ROUTE, rpc_routes

urlpatterns = [
    *rpc_routes("Streams", streams.views.RPCS),
    *rpc_routes("Chats", chats.views.RPCS),
    UNKNOWN_RPC_ROUTE,
    path("admin/", admin.site.urls),
    path("events", events, name="events"),
    path("healthz", healthz, name="healthz"),
    path("api/moderation/", include(moderation_routes([streams.models.Message, chats.models.Message]))),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("api/docs/", DocsView.as_view(), name="api-docs"),
    path("", include("convoproject.web.urls")),
]

handler400 = "convoproject.rpc.handlers.bad_request"
handler403 = "convoproject.rpc.handlers.permission_denied"
handler404 = "convoproject.rpc.handlers.not_found"
handler500 = "convoproject.rpc.handlers.server_error"
