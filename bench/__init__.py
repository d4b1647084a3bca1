"""Benchmarks for qcompat, run as scripts from the repository root."""
