"""`document-extractor`: the text of a file, or of each file of a list (dsl.md §4.18)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from headrace.extract import ExtractionError, extract_text_async
from headrace.workflow.nodes.base import Node, NodeData, NodeError, NodeEvent, NodeResult
from headrace.workflow.variables import MISSING, is_file


class DocumentExtractorData(NodeData):
    """Configuration of a document-extractor node."""

    variable_selector: list[str] = []


class DocumentExtractorNode(Node):
    """Outputs `text`: a string for one file, a list of strings for a list of files."""

    node_type = "document-extractor"
    data_model = DocumentExtractorData

    async def _text(self, file: Mapping[str, Any]) -> str:
        files = self.ctx.services.files
        if files is None:
            raise NodeError("File access is not available in this run", "FileDownloadError")
        try:
            data = await files.read(file)
        except (OSError, ValueError) as exc:
            raise NodeError(
                f"Failed to read file {file.get('filename')}: {exc}", "FileDownloadError"
            ) from None
        try:
            return await extract_text_async(
                data, str(file.get("filename") or ""), file.get("mime_type")
            )
        except ExtractionError as exc:
            raise NodeError(exc.message, "TextExtractionError") from None

    async def run(self) -> AsyncIterator[NodeEvent]:
        """Extract every file's text."""
        selector = self.data.variable_selector
        value = self.pool.get(selector)
        if value is MISSING:
            raise NodeError(
                f"File variable not found for selector: {selector}", "DocumentExtractorError"
            )
        if isinstance(value, list):
            texts = [await self._text(f) for f in value if is_file(f)]
            yield NodeResult(outputs={"text": texts}, inputs={"variable_selector": selector})
            return
        if not is_file(value):
            raise NodeError(f"Variable {selector} is not a file", "DocumentExtractorError")
        yield NodeResult(
            outputs={"text": await self._text(value)}, inputs={"variable_selector": selector}
        )
