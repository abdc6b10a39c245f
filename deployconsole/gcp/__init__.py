"""Thin adapters over the official Google client libraries."""
