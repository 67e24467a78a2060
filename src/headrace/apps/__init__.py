"""Use-cases per app mode: runs that yield typed events. No HTTP, no SQL in the runners."""
