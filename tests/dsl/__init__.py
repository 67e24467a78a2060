"""DSL normalisation, validation, export and corpus conformance tests."""
