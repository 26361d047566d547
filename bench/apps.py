from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Scale tooling, installed by bench.settings only: `manage.py seed`
    (realistic data in bulk), `admin_timings` (the moderation admin's pages,
    timed), `bench` (the RPCs against their floors), `loadtest` and
    `profile_rpcs`."""

    name = "bench"
    verbose_name = "Benchmarks"
