"""The moderation API's routes, included under /api/moderation/ by the
project's URLconf, which names the services' message models (this room does
not import the services)."""

from rest_framework.routers import SimpleRouter

from ..services import report_model_of
from .reports import report_viewset
from .views import ModerationEventViewSet, message_viewset


def moderation_routes(message_models) -> list:
    """`<app>/messages/...` and `<app>/reports/...` of each message model, and `log/`."""
    router = SimpleRouter()
    for model in message_models:
        label = model._meta.app_label
        router.register(f"{label}/messages", message_viewset(model), basename=f"moderation-{label}-message")
        reports = report_viewset(report_model_of(model))
        router.register(f"{label}/reports", reports, basename=f"moderation-{label}-report")
    router.register("log", ModerationEventViewSet, basename="moderation-log")
    return router.urls
