"""The fuzz profile: ``SPLA_FUZZ=default`` (CI) or ``SPLA_FUZZ=thorough``."""

import os

PROFILE = os.environ.get("SPLA_FUZZ", "default")
if PROFILE not in ("default", "thorough"):
    raise ValueError(f"SPLA_FUZZ must be 'default' or 'thorough', got {PROFILE!r}")
