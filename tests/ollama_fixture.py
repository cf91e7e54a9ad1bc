"""Serving the Ollama-API front (tests/ollama_front.py) for tests.

Fixtures: ``ollama_edge`` / ``ollama_cloud`` (session), the front over ``edge_engine`` /
``cloud_engine`` with the Ollama model ``tiny:edge`` / ``tiny:cloud``; ``front_config(engine,
engine_url=proxy_url)`` puts one over a fault proxy. Elsewhere: ``with running_front(FrontConfig(
...)) as front: front.url`` (a uvicorn thread), or ``python tests/ollama_fixture.py --engine URL
--model tiny:latest=edge-chat,edge-embed,edge-tools``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ollama_front
import pytest
import uvicorn
from llm_fixture import RunningEngine
from ollama_front import OllamaFront
from ollama_wire import FrontConfig, FrontModel


class _Server(uvicorn.Server):
    """uvicorn with a threading.Event set once it listens (a wait with a deadline, no polling)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


@dataclass
class RunningFront:
    front: OllamaFront
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextlib.contextmanager
def running_front(config: FrontConfig, host: str = "127.0.0.1",
                  start_timeout: float = 20.0) -> Iterator[RunningFront]:
    """Serve the front on a free port in a uvicorn thread; stop it on exit."""
    front = OllamaFront(config)
    sock = socket.socket()
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = _Server(uvicorn.Config(front.app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name="ollama-front", daemon=True)
    thread.start()
    try:
        if not server.ready.wait(start_timeout):
            raise RuntimeError(f"the Ollama front did not start within {start_timeout:g}s")
        yield RunningFront(front, host, port)
    finally:
        server.should_exit = True
        thread.join(10.0)
        sock.close()


def front_config(engine: RunningEngine, engine_url: str | None = None,
                 gguf: Path | None = None) -> FrontConfig:
    """The front's config over one test engine (tests/llm_fixture.py): the Ollama model
    ``tiny:<engine name>`` (``tiny:edge``, ``tiny:cloud``) is its chat, embed and tools models.
    ``engine_url`` reaches it another way (a fault proxy)."""
    model = FrontModel(chat=engine.chat_model, embed=engine.embed_model, tools=engine.tools_model,
                       size=gguf.stat().st_size if gguf else 0)
    return FrontConfig(engine_url=engine_url or engine.url, models={model_name(engine): model})


def model_name(engine: RunningEngine) -> str:
    return f"tiny:{engine.name}"


@pytest.fixture(scope="session")
def ollama_edge(edge_engine: RunningEngine, llm_model: Path) -> Iterator[RunningFront]:
    """The Ollama front over the edge engine (session); its model is ``tiny:edge``."""
    with running_front(front_config(edge_engine, gguf=llm_model)) as front:
        yield front


@pytest.fixture(scope="session")
def ollama_cloud(cloud_engine: RunningEngine, llm_model: Path) -> Iterator[RunningFront]:
    """The Ollama front over the cloud engine (session); its model is ``tiny:cloud``."""
    with running_front(front_config(cloud_engine, gguf=llm_model)) as front:
        yield front


def main() -> None:
    parser = argparse.ArgumentParser(description=(ollama_front.__doc__ or "").split("\n\n")[0])
    parser.add_argument("--engine", required=True, help="llama.cpp server URL (no /v1)")
    parser.add_argument("--model", action="append", required=True,
                        help="NAME:TAG=CHAT[,EMBED[,TOOLS]] engine aliases")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    args = parser.parse_args()
    models = {}
    for spec in args.model:
        name, _, aliases = spec.partition("=")
        chat, embed, tools = [*aliases.split(","), None, None][:3]
        models[name] = FrontModel(chat=chat or "", embed=embed or None, tools=tools or None)
    front = OllamaFront(FrontConfig(engine_url=args.engine, models=models))
    asyncio.run(uvicorn.Server(uvicorn.Config(front.app, host=args.host, port=args.port)).serve())


if __name__ == "__main__":
    main()
