"""The OpenAI-compatible API: one model of the studio answers chat requests as OpenAI's API does.

    GET  /v1/models              the model served, by the name a request sends
    POST /v1/chat/completions    an answer, whole (JSON) or streamed (server-sent events, then `data: [DONE]`)

`python -m studio serve --model NAME` serves a model on a port of its own; the app serves the model picked in its
Chat tab on its own port, under /v1 (`IN_APP`). A model is named as in Chat: `embedded`, a run name, or
`exports/<folder>`, resolved by `studio.chat.model_source`. Answers come from the same code as Chat's
(`cached_model`, `fitted_messages`, `stream_chat`), so a request waits for the model while the app's own chats
use it, and decoding drops to one thread while a training job runs. The blocking decoder runs in worker threads,
so the server stays free to take requests; a client that leaves mid-stream ends its answer.

With a key set, every request must carry `Authorization: Bearer KEY`. A server that other machines can reach
must have one: `serve` refuses a host other than this machine's without it, and the app makes one.

    from openai import OpenAI
    client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="KEY")
    client.chat.completions.create(model="embedded", messages=[{"role": "user", "content": "Hi"}])
"""

from __future__ import annotations

import hmac
import json
import os
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from studio.api_chat import Answer, ApiError, answer_pieces, chat_request, drain, prepare

KEY_ENV = "STUDIO_API_KEY"  # the key, when --api-key is not given
LOOPBACK = ("127.0.0.1", "localhost", "::1")
ANY_ADDRESS = ("0.0.0.0", "::")
MAX_BODY = 4 * 1024 * 1024  # bytes in one request
CONCURRENCY = 4  # requests answered at once; more wait their turn (they share the model and the CPU)
OWNER = "tuning-studio"
NOTHING_SERVED = ("No model is served yet: in the studio's Chat tab, pick a model, open \"Serve over an "
                  "OpenAI-compatible API\" and switch serving on.")


@dataclass(frozen=True)
class ServedModel:
    """A model the API serves: its choice as Chat names it, and the precision to load it at (studio.precision;
    auto: fp32 on a CPU, bf16 on a GPU)."""

    choice: str
    precision: str = "auto"

    @property
    def name(self) -> str:
        """The name requests send as `model`."""
        return self.choice


def load(served: ServedModel):
    """(model, tokenizer) of a served model, from the studio's shared cache; ValueError when it cannot be named
    or loaded. The one place a served model is loaded."""
    from studio.chat import model_source
    from studio.generate import cached_model

    from studio.sampling import check_precision

    base, trained = model_source(served.choice)
    return cached_model(base, trained, precision=check_precision(served.precision))


def prepared(served: ServedModel, ask):
    """The request made ready against the served model (loaded first when it is not in the cache)."""
    model, tokenizer = load(served)
    return prepare(model, tokenizer, ask)


class Endpoint:
    """What the routes serve: a model (None: nothing yet) and the key requests must carry (None: no key)."""

    def __init__(self, model: ServedModel | None = None, key: str | None = None, url: str = ""):
        self.model, self.key, self.url = model, key or None, url
        self.created = int(time.time())
        self.admission = anyio.Semaphore(CONCURRENCY)

    def serve(self, model: ServedModel) -> None:
        """Serve `model` from now on, once it has loaded (ValueError when it cannot)."""
        load(model)
        self.model, self.created = model, int(time.time())

    def stop(self) -> None:
        self.model = None

    def routes(self) -> list[Route]:
        return [Route("/v1/models", self.models, methods=["GET"]),
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/{rest:path}", self.unknown, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])]

    def check_key(self, request) -> None:
        """ApiError 401 unless the request carries the key (compared in constant time), when one is set."""
        if self.key is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.key.encode()):
            raise ApiError(401, "Missing or wrong API key: send the server's key as 'Authorization: Bearer KEY' "
                                "(the api_key of OpenAI's client).", code="invalid_api_key")

    async def models(self, request) -> JSONResponse:
        try:
            self.check_key(request)
        except ApiError as error:
            return error_response(error)
        served = self.model
        listed = [] if served is None else [{"id": served.name, "object": "model", "created": self.created,
                                             "owned_by": OWNER}]
        return JSONResponse({"object": "list", "data": listed})

    async def unknown(self, request) -> JSONResponse:
        return error_response(ApiError(404, f"This server answers GET /v1/models and POST /v1/chat/completions, not "
                             f"{request.method} {request.url.path}.", code="unknown_url"))

    async def chat(self, request):
        """One chat completion: checked, the model loaded and the prompt fitted before anything is sent, so a bad
        request gets its 4xx; then the answer, whole or streamed."""
        try:
            self.check_key(request)
            served = self.model
            if served is None:
                raise ApiError(404, NOTHING_SERVED, code="model_not_found")
            ask = chat_request(parse_json(await read_body(request)), served.name)
            job = await run_in_threadpool(prepared, served, ask)
        except ApiError as error:
            return error_response(error)
        except ValueError as error:
            return error_response(ApiError(400, str(error)))
        except Exception as error:  # a fault of the server, not of the request: said in OpenAI's shape
            traceback.print_exc()
            return error_response(ApiError(500, f"The model could not answer: {error}", kind="server_error"))
        reply = Reply(served.name)
        if ask.stream:
            return StreamingResponse(self.streamed(job, ask, reply), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        return await self.whole(request, job, reply)

    async def whole(self, request, job, reply: Reply) -> JSONResponse:
        """The answer in one JSON response; a client that leaves before it is done ends it."""
        stop, answer = threading.Event(), Answer(job.prompt_tokens)
        pieces = answer_pieces(job, answer, stop)
        async with self.admission:
            async with anyio.create_task_group() as group:
                group.start_soon(watch_disconnect, request, stop)
                failure = await run_in_threadpool(drain, pieces)
                group.cancel_scope.cancel()
        if isinstance(failure, ValueError):
            return error_response(ApiError(400, str(failure)))
        if failure is not None:
            return error_response(ApiError(500, f"The model could not answer: {failure}", kind="server_error"))
        return JSONResponse(reply.completion(answer))

    async def streamed(self, job, ask, reply: Reply):
        """Server-sent events: the role, the answer's new text as it is written, why it ended (and the token counts
        when asked), then [DONE]. An error after the first event goes into the stream, as OpenAI's does."""
        stop, answer = threading.Event(), Answer(job.prompt_tokens)
        pieces = answer_pieces(job, answer, stop)
        try:
            async with self.admission:
                yield event(reply.chunk({"role": "assistant", "content": ""}))
                async for piece in iterate_in_threadpool(pieces):
                    yield event(reply.chunk({"content": piece}))
                yield event(reply.chunk({}, answer.finish_reason))
                if ask.include_usage:
                    yield event({**reply.chunk({}), "choices": [], "usage": answer.usage()})
        except Exception as error:  # the status is sent already
            kind = "invalid_request_error" if isinstance(error, ValueError) else "server_error"
            yield event({"error": {"message": str(error), "type": kind, "param": None, "code": None}})
        finally:  # also when the client has gone: the answer ends and the model is free for the next
            stop.set()
            pieces.close()
        yield "data: [DONE]\n\n"


class Reply:
    """The parts of a reply every response and chunk repeats: its id, the time and the model's name."""

    def __init__(self, model: str):
        self.id, self.created, self.model = f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), model

    def completion(self, answer: Answer) -> dict:
        return {"id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text},
                             "logprobs": None, "finish_reason": answer.finish_reason}],
                "usage": answer.usage()}

    def chunk(self, delta: dict, finish_reason: str | None = None) -> dict:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}


def error_response(error: ApiError) -> JSONResponse:
    """An error as OpenAI's API writes it: {"error": {"message", "type", "param", "code"}}."""
    return JSONResponse(error.body(), status_code=error.status)


def event(data: dict) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


async def watch_disconnect(request, stop: threading.Event) -> None:
    """Set `stop` when the client has gone, checking twice a second."""
    while not stop.is_set():
        if await request.is_disconnected():
            stop.set()
            return
        await anyio.sleep(0.5)


async def read_body(request) -> bytes:
    """The request's body; ApiError 413 past MAX_BODY bytes."""
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY:
            raise ApiError(413, f"The request is larger than {MAX_BODY // (1024 * 1024)} MB; shorten the messages.")
    return bytes(body)


def parse_json(body: bytes):
    """The body as JSON (NaN and Infinity refused); ApiError 400 when it is not."""
    def refuse(constant: str):
        raise ValueError(f"{constant} is not a number JSON allows")

    try:
        return json.loads(body.decode("utf-8"), parse_constant=refuse)
    except (UnicodeDecodeError, ValueError) as error:
        raise ApiError(400, f"The request body is not valid JSON ({error}); send a JSON object with model and "
                            "messages.") from None


def api_app(endpoint: Endpoint) -> Starlette:
    """The API alone, as `python -m studio serve` runs it."""
    return Starlette(routes=endpoint.routes())


def base_url(host: str, port: int) -> str:
    """Where a client on this machine reaches the API."""
    host = "127.0.0.1" if host in ANY_ADDRESS else host
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/v1"


def command_line_model(choice: str) -> str:
    """A model the command line names: `embedded`, a run or an export as it is; a model folder on this machine by
    its full path, which the command line may open wherever it is (requests cannot name another model)."""
    from studio.access import ALLOW_PATHS_ENV
    from studio.config import EMBEDDED_MODEL
    from studio.workspace import runs_dir

    path = Path(choice).expanduser()
    if (choice == EMBEDDED_MODEL or choice.startswith("exports/") or not path.exists()
            or ("/" not in choice and (runs_dir() / choice).is_dir())):
        return choice
    resolved = str(path.resolve())
    os.environ[ALLOW_PATHS_ENV] = os.pathsep.join(filter(None, [os.environ.get(ALLOW_PATHS_ENV), resolved]))
    return resolved


def run_server(choice: str, host: str, port: int, key: str | None, precision: str | None = None) -> int:
    """`python -m studio serve`: load the model, print where it is served, and serve until Ctrl-C. Exit status 2
    when the host lets other machines in without a key."""
    import uvicorn

    if host not in LOOPBACK and not key:
        print(f"error: --host {host} lets other machines reach the model: set a key with --api-key KEY (or the "
              f"{KEY_ENV} environment variable), which clients send as their api_key.", file=sys.stderr)
        return 2
    if not 1 <= port <= 65535:
        raise ValueError(f"--port must be from 1 to 65535 (it is {port}).")
    endpoint = Endpoint(key=key)
    print(f"Loading {choice} ...", file=sys.stderr, flush=True)
    try:
        endpoint.serve(ServedModel(command_line_model(choice), precision))
    except ValueError as error:
        raise ValueError(f"{error}\nServe embedded, a finished run by its name (python -m studio runs lists them), "
                         "exports/NAME (a merged model) or a model folder.") from None
    print(usage_lines(endpoint.model.name, base_url(host, port), key), flush=True)
    uvicorn.run(api_app(endpoint), host=host, port=port, log_level="warning")
    return 0


def usage_lines(model: str, url: str, key: str | None) -> str:
    """What `serve` prints: the base URL, the model name to send, and a request to try."""
    header = ' -H "Authorization: Bearer YOUR_KEY"' if key else ""
    request = json.dumps({"model": model, "messages": [{"role": "user", "content": "Hello!"}]})
    return (f"Serving {model} on {url} (OpenAI-compatible; Ctrl-C stops).\n"
            f"  base_url: {url}   model: {model}   api_key: {'the key you set' if key else 'any text (no key needed)'}\n"
            f"  curl {url}/chat/completions{header} -H \"Content-Type: application/json\" -d '{request}'")


IN_APP = Endpoint()  # the app's: the model switched on in its Chat tab, under /v1 on the app's own port
