"""Settings of the benchmark and scale tooling: the service's own
(convoproject.settings, production's when DJANGO_PRODUCTION=1) plus the
bench app, whose manage.py commands these are (seed, bench, loadtest,
admin_timings, profile_rpcs), and its floor views (bench/urls.py). The
product's settings know nothing of either.

    .venv/bin/python manage.py seed --settings=bench.settings ...
"""

from convoproject.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]  # noqa: F405
ROOT_URLCONF = "bench.urls"
