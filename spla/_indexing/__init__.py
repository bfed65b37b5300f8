"""Indexing: key normalisation (``keys``) and the reads of every format (``read``)."""
