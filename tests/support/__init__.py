"""Shared test helpers: the scripted OpenAI-compatible upstream."""
