"""GET /api/schema/ (the OpenAPI 3 document of the RPCs, convoproject.rpc.schema)
and GET /api/docs/ (Swagger UI on it). Both are public. Swagger UI's JS and CSS
come from drf-spectacular-sidecar's static files, served by the app itself, so
the page needs no other host (SPECTACULAR_SETTINGS in settings.py)."""

from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation


class SchemaNegotiation(DefaultContentNegotiation):
    """JSON, unless `?format=yaml` or the Accept header asks for YAML; an
    Accept header that names neither still gets JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            return renderers[0], renderers[0].media_type


class SchemaView(SpectacularAPIView):
    renderer_classes = [OpenApiJsonRenderer2, OpenApiJsonRenderer, OpenApiYamlRenderer, OpenApiYamlRenderer2]
    content_negotiation_class = SchemaNegotiation


class DocsView(SpectacularSwaggerView):
    url_name = "api-schema"
