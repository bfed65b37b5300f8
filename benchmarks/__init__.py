"""spla benchmarks. Run ``python -m benchmarks --help`` from the repository root."""
