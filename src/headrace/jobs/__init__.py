"""Background jobs: in-process tasks by default, Celery workers when a broker is configured."""
