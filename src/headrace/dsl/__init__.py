"""Dify DSL (app export YAML): parsing, normalisation, import and export."""
