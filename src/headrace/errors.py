"""Domain errors carrying Dify's wire `code` and HTTP `status`.

Use-cases raise these; `http/errors.py` renders them as `{code, message, status}` (or as an
in-band `error` event once a stream has started). No other module formats errors.
"""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    """Base of every error the API shows to a client."""

    code: ClassVar[str] = "unknown"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "Internal Server Error"

    def __init__(self, message: str | None = None) -> None:
        self.message = self.default_message if message is None else message
        super().__init__(self.message)


class InvalidParamError(DomainError):
    """Request payload, query or input-form validation failed."""

    code = "invalid_param"
    status = 400
    default_message = ""


class BadRequestError(DomainError):
    """A malformed request that is not a field validation failure."""

    code = "bad_request"
    status = 400
    default_message = "The browser (or proxy) sent a request that this server could not understand."


class UnauthorizedError(DomainError):
    """Missing or invalid credentials."""

    code = "unauthorized"
    status = 401
    default_message = "Access token is invalid"


class ForbiddenError(DomainError):
    """Credentials valid but the resource may not be used."""

    code = "forbidden"
    status = 403
    default_message = (
        "You don't have the permission to access the requested resource. "
        "It is either read-protected or not readable by the server."
    )


class NotFoundError(DomainError):
    """A resource addressed by the request does not exist (for this caller)."""

    code = "not_found"
    status = 404
    default_message = (
        "The requested URL was not found on the server. If you entered the URL manually "
        "please check your spelling and try again."
    )


class ConversationNotExistsError(NotFoundError):
    """Unknown or foreign conversation (spec §14.1: the seed's code wins)."""

    code = "conversation_not_exists"
    default_message = "Conversation Not Exists."


class ConversationVariableNotExistsError(NotFoundError):
    """Unknown conversation variable."""

    code = "conversation_variable_not_exists"
    default_message = "Conversation Variable Not Exists."


class UnsupportedMediaTypeError(DomainError):
    """JSON endpoint called without a JSON content type."""

    code = "unsupported_media_type"
    status = 415
    default_message = (
        "Did not attempt to load JSON data because the request Content-Type was not "
        "'application/json'."
    )


class MethodNotAllowedError(DomainError):
    """Existing path, wrong method."""

    code = "method_not_allowed"
    status = 405
    default_message = "The method is not allowed for the requested URL."


class TooManyRequestsError(DomainError):
    """App-level concurrency limit reached (spec §14.1: 429)."""

    code = "too_many_requests"
    status = 429
    default_message = "Too many requests. Please try again later."


class InternalServerError(DomainError):
    """An unexpected failure, reported without internals."""

    code = "internal_server_error"
    status = 500
    default_message = "Internal Server Error, please contact support."


class AppUnavailableError(DomainError):
    """The app is misconfigured, or the route does not serve its mode."""

    code = "app_unavailable"
    status = 400
    default_message = "App unavailable, please check your app configurations."


class NotChatAppError(DomainError):
    """Chat-family endpoint called on another mode."""

    code = "not_chat_app"
    status = 400
    default_message = "Please check if your app mode matches the right API route."


class NotWorkflowAppError(DomainError):
    """Workflow endpoint called on another mode."""

    code = "not_workflow_app"
    status = 400
    default_message = "Please check if your app mode matches the right API route."


class ConversationCompletedError(DomainError):
    """Continuing a conversation that is no longer open."""

    code = "conversation_completed"
    status = 400
    default_message = "The conversation has ended. Please start a new conversation."


class ProviderNotInitializeError(DomainError):
    """No credentials configured for the model provider."""

    code = "provider_not_initialize"
    status = 400
    default_message = (
        "No valid model provider credentials found. Please go to Settings -> Model Provider "
        "to complete your provider credentials."
    )


class ProviderQuotaExceededError(DomainError):
    """The upstream refused for quota or rate reasons."""

    code = "provider_quota_exceeded"
    status = 400
    default_message = (
        "Your quota for Dify Hosted Model Provider has been exhausted. Please go to "
        "Settings -> Model Provider to complete your own provider credentials."
    )


class ModelCurrentlyNotSupportError(DomainError):
    """The configured model is not available from the provider."""

    code = "model_currently_not_support"
    status = 400
    default_message = "Dify Hosted OpenAI trial currently not support the GPT-4 model."


class CompletionRequestError(DomainError):
    """Any other model invocation failure."""

    code = "completion_request_error"
    status = 400
    default_message = "Completion request failed."


class FileNotFoundDomainError(DomainError):
    """Upload unknown or unreadable."""

    code = "file_not_found"
    status = 404
    default_message = "File not found in message context"


class FileAccessDeniedError(DomainError):
    """Upload belongs to another app or workspace."""

    code = "file_access_denied"
    status = 403
    default_message = "File access denied: not owned by requesting app"


class NoFileUploadedError(DomainError):
    """Multipart request without a `file` part."""

    code = "no_file_uploaded"
    status = 400
    default_message = "Please upload your file."


class TooManyFilesError(DomainError):
    """More than one file part."""

    code = "too_many_files"
    status = 400
    default_message = "Only one file is allowed."


class FileTooLargeError(DomainError):
    """Upload above the size limit of its extension family."""

    code = "file_too_large"
    status = 413
    # Dify's message literally keeps the unfilled placeholder (spec §4.3).
    default_message = "File size exceeded. {message}"


class UnsupportedFileTypeError(DomainError):
    """Upload part without a mimetype."""

    code = "unsupported_file_type"
    status = 415
    default_message = "File type not allowed."


class FilenameNotExistsError(DomainError):
    """Upload part with an empty filename."""

    code = "filename_not_exists_error"
    status = 400
    default_message = "The specified filename does not exist."


class WorkflowNotFoundError(DomainError):
    """Unknown workflow version id (spec §14.1: the seed's code wins)."""

    code = "workflow_not_found"
    status = 400
    default_message = "Workflow not found."


class DraftWorkflowError(DomainError):
    """A draft version was named where a published one is needed."""

    code = "draft_workflow_error"
    status = 400
    default_message = "Cannot use draft workflow version."


class WorkflowIdFormatError(DomainError):
    """A workflow id that is not a UUID."""

    code = "workflow_id_format_error"
    status = 400
    default_message = "Invalid workflow_id format."


class DatasetNameDuplicateError(DomainError):
    """Another dataset of the workspace has this name."""

    code = "dataset_name_duplicate"
    status = 409
    default_message = "The dataset name already exists. Please modify your dataset name."


class DatasetInUseError(DomainError):
    """Apps still use the dataset."""

    code = "dataset_in_use"
    status = 409
    default_message = (
        "The dataset is being used by some apps. Please remove the dataset from the apps before "
        "deleting it."
    )


class DatasetNotInitializedError(DomainError):
    """The dataset has nothing indexed yet."""

    code = "dataset_not_initialized"
    status = 400
    default_message = "The dataset is still being initialized or indexing. Please wait a moment."


class ArchivedDocumentImmutableError(DomainError):
    """Archived documents cannot change."""

    code = "archived_document_immutable"
    status = 403
    default_message = "The archived document is not editable."


class DocumentIndexingError(DomainError):
    """The document is being indexed."""

    code = "document_indexing"
    status = 400
    default_message = "The document is being processed and cannot be edited."


class InvalidActionError(DomainError):
    """A status action that does not apply."""

    code = "invalid_action"
    status = 400
    default_message = "Invalid action."


class InvalidMetadataError(DomainError):
    """A bad `metadata` query value."""

    code = "invalid_metadata"
    status = 400
    default_message = "Invalid metadata value."
