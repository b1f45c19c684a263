"""An OpenAI-compatible model server over transformers: the CPU fallback for vLLM.

    app = create_app(Path("runs/tiny/model"))          # or: serve(Path(...), port=8001)

It serves one local model directory under ``/v1/models`` and ``/v1/chat/completions`` with the parts of the
protocol the judge client and rejection sampling use: ``n``, ``temperature`` (0 = greedy), ``top_p``,
``max_tokens``, ``seed``, ``stop``, ``usage`` and OpenAI-shaped errors (``{"error": {"message", "type",
"param", "code"}}``). Requests are generated one at a time (a CPU has no batch to win); structured output
(``response_format`` other than text) and streaming are refused with a 400 naming the parameter, as a server
without them should, so clients can fall back. A sequence-classification model directory (an outcome
reward model) is served on vLLM's ``/pooling`` instead: its logits for chat ``messages`` or text ``input``.
On a GPU, run ``vllm serve`` instead: same wire protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from trainer.errors import OpenAIError

MAX_N = 16


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[dict[str, Any]] | None = None

    @property
    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(str(p.get("text", "")) for p in self.content if p.get("type", "text") == "text")


class ChatRequest(BaseModel):
    """The subset of OpenAI's chat-completions request this server honours; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[ChatMessage] = Field(..., min_length=1)
    n: int = Field(1, ge=1, le=MAX_N)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    response_format: dict[str, Any] | None = None
    stream: bool = False




@dataclass
class Choice:
    text: str
    tokens: int
    finish_reason: str


class Generator:
    """A loaded model and tokenizer; ``generate`` runs one request at a time (torch on CPU, one thread)."""

    def __init__(self, model_dir: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = cast(Any, AutoTokenizer.from_pretrained(model_dir))
        self.model = cast(Any, AutoModelForCausalLM.from_pretrained(model_dir))
        self.model.eval()
        self.context = int(getattr(self.model.config, "max_position_embeddings", 2048))
        self._lock = threading.Lock()

    def prompt_ids(self, messages: list[ChatMessage]) -> list[int]:
        if getattr(self.tokenizer, "chat_template", None):
            conversation = [{"role": m.role, "content": m.text} for m in messages]
            ids: Any = self.tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True)
            if isinstance(ids, dict) or hasattr(ids, "keys"):
                ids = ids["input_ids"]
            return [int(i) for i in ids]
        # No chat template (the tiny model): the messages' text, one per line, as the model was trained.
        text = "".join(m.text if m.text.endswith("\n") else m.text + "\n" for m in messages)
        return [int(i) for i in self.tokenizer(text, add_special_tokens=False)["input_ids"]]

    def generate(self, prompt: list[int], request: ChatRequest, max_new: int) -> list[Choice]:
        torch = self.torch
        eos = self.tokenizer.eos_token_id
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new,
            "num_return_sequences": request.n,
            "pad_token_id": self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos,
            "eos_token_id": eos,
        }
        if request.temperature > 0:
            kwargs |= {"do_sample": True, "temperature": request.temperature, "top_p": request.top_p, "top_k": 0}
        else:
            kwargs |= {"do_sample": False}
        input_ids = torch.tensor([prompt], dtype=torch.long)
        with self._lock, torch.no_grad():
            if request.seed is not None:
                torch.manual_seed(request.seed)  # under the lock: the global RNG is this request's alone
            output = self.model.generate(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **kwargs
            )
        stops = [request.stop] if isinstance(request.stop, str) else list(request.stop or [])
        choices = []
        for row in output[:, len(prompt):].tolist():
            finish = "length"
            if eos is not None and eos in row:
                row = row[: row.index(eos)]
                finish = "stop"
            tokens = len(row) + (1 if finish == "stop" else 0)
            text = str(self.tokenizer.decode(row, skip_special_tokens=True))
            cut = min((text.find(s) for s in stops if s and s in text), default=-1)
            if cut >= 0:
                text, finish = text[:cut], "stop"
            choices.append(Choice(text, tokens, finish))
        return choices


class PoolingRequest(BaseModel):
    """vLLM's ``/pooling`` request: chat ``messages`` or a text ``input``; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[ChatMessage] | None = None
    input: str | list[str] | None = None


class Classifier:
    """A sequence-classification model (an outcome reward model): the logits of the last token."""

    def __init__(self, model_dir: Path) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.torch = torch
        self.tokenizer = cast(Any, AutoTokenizer.from_pretrained(model_dir))
        self.model = cast(Any, AutoModelForSequenceClassification.from_pretrained(model_dir))
        self.model.eval()
        self.context = int(getattr(self.model.config, "max_position_embeddings", 2048))
        self._lock = threading.Lock()

    def ids(self, messages: list[ChatMessage] | None, text: str | None) -> list[int]:
        if messages is not None:
            if getattr(self.tokenizer, "chat_template", None):
                conversation = [{"role": m.role, "content": m.text} for m in messages]
                ids: Any = self.tokenizer.apply_chat_template(conversation, tokenize=True)
                if isinstance(ids, dict) or hasattr(ids, "keys"):
                    ids = ids["input_ids"]
                return [int(i) for i in ids]
            text = "".join(m.text if m.text.endswith("\n") else m.text + "\n" for m in messages)
        return [int(i) for i in self.tokenizer(text or "", add_special_tokens=False)["input_ids"]]

    def logits(self, ids: list[int]) -> list[float]:
        torch = self.torch
        input_ids = torch.tensor([ids], dtype=torch.long)
        with self._lock, torch.no_grad():
            out = self.model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids))
        return [float(x) for x in out.logits[0].tolist()]


def _is_classifier(model_dir: Path) -> bool:
    from transformers import AutoConfig

    architectures = getattr(AutoConfig.from_pretrained(model_dir), "architectures", None) or []
    return any(str(a).endswith("ForSequenceClassification") for a in architectures)


def create_app(model_dir: Path, *, model_name: str | None = None) -> Any:
    """The FastAPI app serving ``model_dir`` as ``model_name`` (default: the directory's name)."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    name = model_name or model_dir.name
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        kind = Classifier if await asyncio.to_thread(_is_classifier, model_dir) else Generator
        state["model"] = await asyncio.to_thread(kind, model_dir)
        yield
        state.clear()

    def loaded(kind: type[Any], what: str) -> Any:
        model = state["model"]
        if not isinstance(model, kind):
            raise OpenAIError(400, f"the model `{name}` does not support {what}", param="model")
        return model

    app = FastAPI(title="r1-verifier CPU model server", lifespan=lifespan)

    @app.exception_handler(OpenAIError)
    async def openai_error(request: Request, exc: OpenAIError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p != "body"]
        error = OpenAIError(400, f"{'.'.join(loc) or 'body'}: {first.get('msg', 'invalid request')}",
                            param=".".join(loc) or None)
        return JSONResponse(error.body(), status_code=400)

    @app.get("/health")
    async def health() -> dict[str, str]:
        """The server is up and its model loaded."""
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        """The one model this server serves."""
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "local"}]}

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest) -> dict[str, Any]:
        """Chat completion(s) for the messages, generated with transformers."""
        if body.model != name:
            raise OpenAIError(404, f"The model `{body.model}` does not exist.", "NotFoundError", "model",
                              "model_not_found")
        if body.stream:
            raise OpenAIError(400, "streaming is not supported by this server", param="stream")
        if body.response_format is not None and body.response_format.get("type", "text") != "text":
            raise OpenAIError(400, "response_format other than text is not supported by this server "
                              "(no structured output); ask again without it", param="response_format")
        generator: Generator = loaded(Generator, "chat completions (it is a sequence classifier: use /pooling)")
        prompt = generator.prompt_ids(body.messages)
        room = generator.context - len(prompt)
        wanted = body.max_completion_tokens or body.max_tokens
        if room < 1 or (wanted is not None and wanted > room):
            raise OpenAIError(
                400,
                f"This model's maximum context length is {generator.context} tokens. However, you requested "
                f"{len(prompt) + (wanted or 0)} tokens ({len(prompt)} in the messages, {wanted or 0} in the "
                "completion). Please reduce the length of the messages or completion.",
                param="messages",
            )
        choices = await asyncio.to_thread(generator.generate, prompt, body, wanted or room)
        completion_tokens = sum(c.tokens for c in choices)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": name,
            "choices": [
                {"index": i, "message": {"role": "assistant", "content": c.text}, "logprobs": None,
                 "finish_reason": c.finish_reason}
                for i, c in enumerate(choices)
            ],
            "usage": {"prompt_tokens": len(prompt), "completion_tokens": completion_tokens,
                      "total_tokens": len(prompt) + completion_tokens},
        }

    @app.post("/pooling")
    async def pooling(body: PoolingRequest) -> dict[str, Any]:
        """The sequence classifier's logits for each input (vLLM's pooling API)."""
        if body.model != name:
            raise OpenAIError(404, f"The model `{body.model}` does not exist.", "NotFoundError", "model",
                              "model_not_found")
        classifier: Classifier = loaded(Classifier, "pooling (it is a generative model: use /v1/chat/completions)")
        if body.messages is not None:
            inputs = [classifier.ids(body.messages, None)]
        elif body.input is not None:
            texts = [body.input] if isinstance(body.input, str) else body.input
            inputs = [classifier.ids(None, t) for t in texts]
        else:
            raise OpenAIError(400, "either messages or input is required", param="input")
        for ids in inputs:
            if not ids or len(ids) > classifier.context:
                raise OpenAIError(400, f"This model's maximum context length is {classifier.context} tokens. "
                                  f"However, you requested {len(ids)} tokens in the input.", param="input")
        data = []
        for index, ids in enumerate(inputs):
            logits = await asyncio.to_thread(classifier.logits, ids)
            data.append({"index": index, "object": "pooling", "data": logits})
        tokens = sum(len(i) for i in inputs)
        return {"id": f"pool-{uuid.uuid4().hex}", "object": "list", "created": int(time.time()), "model": name,
                "data": data, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    return app


def serve(model_dir: Path, *, host: str = "127.0.0.1", port: int = 8001, model_name: str | None = None) -> None:
    """Run the server (blocking) until interrupted; what the ``trainer serve`` command calls."""
    import uvicorn

    uvicorn.run(create_app(model_dir, model_name=model_name), host=host, port=port, log_level="info")


def add_command(sub: Any) -> None:
    """``trainer serve-model MODEL_DIR``: for ``trainer.cli.COMMANDS``."""
    parser = sub.add_parser("serve-model", help="OpenAI-compatible server over transformers (CPU fallback for vLLM)")
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--model-name", help="name clients ask for (default: the directory's name)")
    parser.set_defaults(run=_run)


def _run(args: Any) -> int:
    serve(args.model_dir, host=args.host, port=args.port, model_name=args.model_name)
    return 0
