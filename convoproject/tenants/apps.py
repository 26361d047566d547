from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "convoproject.tenants"
    label = "tenants"
    verbose_name = "Namespaces and API keys"
    default_auto_field = "django.db.models.BigAutoField"
