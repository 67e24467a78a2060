"""The node types Headrace ships, registered in one place."""

from __future__ import annotations

from headrace.workflow.nodes.aggregator import VariableAggregatorNode
from headrace.workflow.nodes.answer import AnswerNode
from headrace.workflow.nodes.assigner import AssignerV1Node, AssignerV2Node
from headrace.workflow.nodes.base import Node
from headrace.workflow.nodes.code import CodeNode
from headrace.workflow.nodes.container_starts import IterationStartNode, LoopEndNode, LoopStartNode
from headrace.workflow.nodes.document_extractor import DocumentExtractorNode
from headrace.workflow.nodes.end import EndNode
from headrace.workflow.nodes.http_request import HttpRequestNode
from headrace.workflow.nodes.if_else import IfElseNode
from headrace.workflow.nodes.iteration import IterationNode
from headrace.workflow.nodes.knowledge_retrieval import KnowledgeRetrievalNode
from headrace.workflow.nodes.list_operator import ListOperatorNode
from headrace.workflow.nodes.llm import LLMNode
from headrace.workflow.nodes.loop import LoopNode
from headrace.workflow.nodes.parameter_extractor import ParameterExtractorNode
from headrace.workflow.nodes.question_classifier import QuestionClassifierNode
from headrace.workflow.nodes.registry import NodeRegistry
from headrace.workflow.nodes.start import StartNode
from headrace.workflow.nodes.template_transform import TemplateTransformNode

BUILTIN_NODES: tuple[type[Node], ...] = (
    StartNode,
    EndNode,
    AnswerNode,
    LLMNode,
    ParameterExtractorNode,
    QuestionClassifierNode,
    IfElseNode,
    TemplateTransformNode,
    CodeNode,
    HttpRequestNode,
    DocumentExtractorNode,
    KnowledgeRetrievalNode,
    VariableAggregatorNode,
    AssignerV1Node,
    AssignerV2Node,
    ListOperatorNode,
    IterationNode,
    IterationStartNode,
    LoopNode,
    LoopStartNode,
    LoopEndNode,
)


def builtin_registry() -> NodeRegistry:
    """A registry holding every built-in node type."""
    return NodeRegistry(BUILTIN_NODES)
