"""Catalog and on-disk storage: what footage exists and where."""
