"""Coordination between workers: run registry, stop commands, event logs, concurrency slots."""
