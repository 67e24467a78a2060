"""All tables, one module per aggregate; importing this package registers them on `Base`."""

from headrace.store.tables.apps import ApiToken, App, Workspace
from headrace.store.tables.base import Base
from headrace.store.tables.conversations import (
    Conversation,
    ConversationVariable,
    EndUser,
    Message,
    MessageFeedback,
)
from headrace.store.tables.files import MessageFile, UploadFile
from headrace.store.tables.knowledge import (
    ChildChunk,
    Dataset,
    DatasetDocument,
    DatasetMetadataField,
    DocumentSegment,
    Tag,
    TagBinding,
)
from headrace.store.tables.knowledge_index import (
    KeywordEntry,
    StoredVector,
    VectorCollection,
    VectorTombstone,
)
from headrace.store.tables.providers import ProviderCredential
from headrace.store.tables.workflows import (
    Workflow,
    WorkflowAppLog,
    WorkflowNodeExecution,
    WorkflowRun,
)

__all__ = [
    "ApiToken",
    "App",
    "Base",
    "ChildChunk",
    "Conversation",
    "ConversationVariable",
    "Dataset",
    "DatasetDocument",
    "DatasetMetadataField",
    "DocumentSegment",
    "EndUser",
    "KeywordEntry",
    "Message",
    "MessageFeedback",
    "MessageFile",
    "ProviderCredential",
    "StoredVector",
    "Tag",
    "TagBinding",
    "UploadFile",
    "VectorCollection",
    "VectorTombstone",
    "Workflow",
    "WorkflowAppLog",
    "WorkflowNodeExecution",
    "WorkflowRun",
    "Workspace",
]
