"""Chatflow tests reuse the workflow fixtures (DSL files imported as apps)."""

from tests.workflow.conftest import workflow_app

__all__ = ["workflow_app"]
