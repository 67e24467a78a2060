"""Provider adapter tests."""
