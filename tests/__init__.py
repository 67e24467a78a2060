"""Headrace test suite."""
