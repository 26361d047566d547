from django.apps import AppConfig


class RpcConfig(AppConfig):
    """The protocol both services share (routing, errors, authentication, the
    OpenAPI document), and the state it keeps: remembered Idempotency-Key
    answers and rate-limit counters."""

    name = "convoproject.rpc"
    label = "rpc"
    verbose_name = "Protocol"
    default_auto_field = "django.db.models.BigAutoField"
