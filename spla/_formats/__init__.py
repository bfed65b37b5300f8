"""Sparse formats: storage, validation and conversion, one module per format."""
