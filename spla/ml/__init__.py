"""The sparse workloads of machine learning, built on spla's formats.

``attention`` (sparse and linear attention), ``moe`` (mixture-of-experts routing),
``prune`` (sparse training: pruning schedules, straight-through masks),
``activation`` (products with sparse activations), ``masks`` (N:M masks and
pruning to N:M) and ``theory`` (the verified formulas of the notes these follow).

This package imports none of its modules itself (the formats import ``masks``,
and the modules import the formats): ``spla`` exposes each of them by name.
"""
