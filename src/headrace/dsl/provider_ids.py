"""Provider ids in the three-part plugin form `org/plugin/provider` (dsl.md §1.6, §8 rules 13-14).

Pre-plugin exports name providers bare (`openai`, `google`); plugin-era exports write
`langgenius/openai/openai`. Both are accepted and rewritten to the plugin form on import; the
provider registry maps the last segment to Headrace's own adapters.
"""

from __future__ import annotations

import re

_BARE = re.compile(r"^[a-z0-9_-]+$")

_MODEL_SPECIAL = {"google": "langgenius/gemini/google"}
_TOOL_SPECIAL = {"google": "langgenius/google/google"}
_TOOL_SUFFIXED = frozenset({"jina", "siliconflow", "stepfun", "gitee_ai"})

BUILTIN_TOOL_PROVIDERS: frozenset[str] = frozenset({"audio", "code", "time", "webscraper"})
"""Tool providers built into Dify (not plugins); their ids stay bare."""


def canonical_model_provider(provider: str) -> str:
    """A model provider id in plugin form; ids that already contain `/`, are empty or are not
    plain `[a-z0-9_-]+` names are returned unchanged.

    >>> canonical_model_provider("google")
    'langgenius/gemini/google'
    >>> canonical_model_provider("openai")
    'langgenius/openai/openai'
    """
    if "/" in provider or not _BARE.match(provider):
        return provider
    return _MODEL_SPECIAL.get(provider, f"langgenius/{provider}/{provider}")


def canonical_tool_provider(provider: str) -> str:
    """A built-in (marketplace) tool provider id in plugin form.

    >>> canonical_tool_provider("jina")
    'langgenius/jina_tool/jina'
    >>> canonical_tool_provider("time")
    'time'
    """
    if "/" in provider or not _BARE.match(provider) or provider in BUILTIN_TOOL_PROVIDERS:
        return provider
    if provider in _TOOL_SPECIAL:
        return _TOOL_SPECIAL[provider]
    if provider in _TOOL_SUFFIXED:
        return f"langgenius/{provider}_tool/{provider}"
    return f"langgenius/{provider}/{provider}"


TOOL_TYPES_WITH_PLUGIN_IDS: frozenset[str] = frozenset({"builtin", "plugin"})
"""`provider_type`s whose `provider_id` names a plugin; `api`/`workflow` ids are workspace
UUIDs and `mcp` ids are user-chosen, so those are never rewritten."""
