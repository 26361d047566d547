from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Scale tooling: `manage.py seed` (realistic data in bulk) and
    `manage.py admin_timings` (the moderation admin's pages, timed)."""

    name = "bench"
    verbose_name = "Benchmarks"
