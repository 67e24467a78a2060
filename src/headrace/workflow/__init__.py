"""Graph workflow engine: imports no HTTP server, no SQL, no Redis."""
