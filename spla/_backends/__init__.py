"""Backends: each registers, in ``spla._dispatch``, the implementations of the
operations of each format for arrays whose storage lives on its device."""
