"""`code`: Python 3 or JavaScript run in the sandbox, outputs checked (dsl.md §4.8)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from headrace.sandbox import SandboxError, SandboxLimits, check_outputs, run_code
from headrace.workflow.nodes.base import Node, NodeData, NodeError, NodeEvent, NodeResult
from headrace.workflow.nodes.template_transform import Binding
from headrace.workflow.variables import MISSING

LANGUAGES = {"python3": "python3", "javascript": "javascript"}


class OutputSpec(NodeData):
    """A declared output."""

    type: str
    children: Any = None


class CodeData(NodeData):
    """Configuration of a code node."""

    code_language: str = "python3"
    code: str = ""
    variables: list[Binding] = []
    outputs: dict[str, OutputSpec] = {}


class CodeNode(Node):
    """Outputs exactly the declared outputs returned by `main`."""

    node_type = "code"
    data_model = CodeData
    retryable = True

    def _limits(self) -> SandboxLimits:
        settings = self.ctx.services.settings
        return SandboxLimits(
            cpu_seconds=int(settings.get("code_cpu_seconds", 10)),
            wall_seconds=float(settings.get("code_wall_seconds", 15)),
            memory_mb=int(settings.get("code_memory_mb", 256)),
        )

    async def run(self) -> AsyncIterator[NodeEvent]:
        """Run `main` with the bound inputs."""
        language = LANGUAGES.get(self.data.code_language)
        if language is None:
            raise NodeError(
                f"Unsupported code language: {self.data.code_language}", "CodeNodeError"
            )
        inputs: dict[str, Any] = {}
        for binding in self.data.variables:
            value = self.pool.get(binding.value_selector)
            inputs[binding.variable] = None if value is MISSING else value
        try:
            result = await run_code(language, self.data.code, inputs, self._limits())  # type: ignore[arg-type]
            declared = {name: spec.model_dump() for name, spec in self.data.outputs.items()}
            outputs = check_outputs(declared, result)
        except SandboxError as exc:
            error_type = "OutputValidationError" if exc.kind == "validation" else "CodeNodeError"
            raise NodeError(exc.message, error_type) from None
        yield NodeResult(outputs=outputs, inputs=inputs)
