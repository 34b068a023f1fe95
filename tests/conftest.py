"""Hypothesis profiles for the test suite.

- "ci": loaded when the environment variable CI is set. Few, derandomized examples (the same
  ones on every run, no example database), so the whole suite takes well under two minutes on
  2 cores and a red build is reproducible.
- "dev": the default locally; more examples, random each run.
- "thorough": many examples, for a long local run (HYPOTHESIS_PROFILE=thorough).

HYPOTHESIS_PROFILE=<name> overrides the choice.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

_default = "ci" if os.environ.get("CI") else "dev"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or _default)
