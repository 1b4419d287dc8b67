"""Readers and writers of record files (CSV, JSON, JSON Lines). Kept apart from the engines."""
