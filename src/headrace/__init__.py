"""Headrace: a self-hostable LLM-application backend speaking Dify's API contract."""

__version__ = "0.1.0"
