"""Errors raised by provider adapters, each mapped to the wire code of the contract."""

from __future__ import annotations

from headrace.errors import (
    CompletionRequestError,
    ModelCurrentlyNotSupportError,
    ProviderNotInitializeError,
    ProviderQuotaExceededError,
)


class ProviderError(CompletionRequestError):
    """Base of provider failures; on the wire `completion_request_error`."""


class ProviderCredentialsMissingError(ProviderNotInitializeError):
    """No credentials configured for a provider that needs them."""


class ProviderQuotaError(ProviderQuotaExceededError):
    """The upstream answered 429 or reported an exhausted quota."""


class ModelNotSupportedError(ModelCurrentlyNotSupportError):
    """The upstream does not know the model, or the provider is unknown."""


class UpstreamTimeoutError(ProviderError):
    """The upstream did not answer within the configured timeout."""
