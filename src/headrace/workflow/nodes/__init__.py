"""Node types: one module each, registered by type string and version."""
