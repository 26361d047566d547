from rest_framework.negotiation import BaseContentNegotiation


class AlwaysJSON(BaseContentNegotiation):
    """Requests are JSON whatever their Content-Type, and so are responses
    whatever the Accept header asks for (CONTRACT 1). The body itself is parsed
    by RpcView, since DRF would choose a parser by Content-Type."""

    def select_parser(self, request, parsers):
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
