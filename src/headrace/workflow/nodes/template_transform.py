"""`template-transform`: a Jinja2 template rendered in a sandboxed environment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Any

from jinja2 import Template, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from headrace.workflow.nodes.base import Node, NodeData, NodeError, NodeEvent, NodeResult
from headrace.workflow.variables import MISSING

MAX_OUTPUT = 400_000
_ENV = ImmutableSandboxedEnvironment(autoescape=False)


class Binding(NodeData):
    """A template variable bound to a selector."""

    variable: str
    value_selector: list[str] = []


class TemplateData(NodeData):
    """Configuration of a template-transform node."""

    template: str = ""
    variables: list[Binding] = []


def bind(pool: Any, bindings: list[Binding]) -> dict[str, Any]:
    """Template context: each variable's value, None when unresolved."""
    context: dict[str, Any] = {}
    for binding in bindings:
        value = pool.get(binding.value_selector)
        context[binding.variable] = None if value is MISSING else value
    return context


@lru_cache(maxsize=1024)
def _compiled(template: str) -> Template:
    # Compiling dominates rendering; a graph renders the same templates on every run.
    return _ENV.from_string(template)


def render_jinja(template: str, context: dict[str, Any]) -> str:
    """Render in the sandbox; errors become NodeErrors."""
    try:
        return _compiled(template).render(**context)
    except TemplateError as exc:
        raise NodeError(f"Failed to render template: {exc}", "TemplateTransformNodeError") from None
    except Exception as exc:
        raise NodeError(f"Failed to render template: {exc}", "TemplateTransformNodeError") from None


class TemplateTransformNode(Node):
    """Outputs `output`, the rendered template."""

    node_type = "template-transform"
    data_model = TemplateData

    async def run(self) -> AsyncIterator[NodeEvent]:
        """Render, off the event loop when the template is large."""
        context = bind(self.pool, self.data.variables)
        template = self.data.template
        if len(template) > 10_000:
            output = await asyncio.to_thread(render_jinja, template, context)
        else:
            output = render_jinja(template, context)
        if len(output) > MAX_OUTPUT:
            raise NodeError(
                f"Output length exceeds {MAX_OUTPUT} characters", "TemplateTransformNodeError"
            )
        yield NodeResult(outputs={"output": output}, inputs=context)
