"""Batch scoring: Ray Data streams scan archives through a trained model into Parquet reports v1."""
