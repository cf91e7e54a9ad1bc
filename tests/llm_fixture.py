"""Real LLM engines for tests: llama.cpp servers (``python -m llama_cpp.server``) on a tiny
random-weight model that this module writes itself with the ``gguf`` package.

The model is a llama-architecture GGUF (2 layers, hidden 64, 4 heads, float32, seeded random
weights) with a real byte-level BPE vocabulary: the 256 byte tokens of GPT-2's byte encoding,
merges learned from a short built-in English text, and control tokens for the ChatML turns. Its
output is noise, but tokenisation, streaming, token counts (``usage``), embeddings, context
limits and errors are the engine's own. Written once per test session (``llm_model``).
``write_tiny_llama`` also runs on its own (``bench/``): ``python tests/llm_fixture.py OUT.gguf``.

``edge_engine`` and ``cloud_engine`` (session) are two servers on free ports, each with a chat
model and an ``embedding: true`` model under its own names (:class:`RunningEngine`), waited on
with a deadline (``/v1/models`` answers) and stopped in ``finally``. ``n_threads: 1`` (2 threads
on 2 busy cores made 20 tokens take 1.3 s instead of 5 ms) and ``interrupt_requests: false`` (else
a new request cuts a running stream short).

``fresh_engine`` (function) is a private one for a test that stops or kills it.
``edge_proxy`` and ``cloud_proxy`` (function) put a :class:`fault_proxy.FaultProxy` in front of
each engine, in ``PASS`` mode at the start of every test.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fault_proxy import FaultProxy

HOST = "127.0.0.1"
START_TIMEOUT = 60.0  # up in 1-2.5 s measured; generous for a loaded CI box
STOP_TIMEOUT = 10.0

N_EMBD, N_LAYER, N_HEAD, N_HEAD_KV, N_FF, N_CTX = 64, 2, 4, 4, 128, 512
N_CTX_TOOLS = 4096
N_MERGES = 200
SEED = 1616
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CORPUS = (
    "Turn on the kitchen light. Turn off the living room lamp. What is the battery level of the "
    "power node? Set the thermostat setpoint to twenty one point five degrees. The hub answers "
    "questions about the home lab: the camera saw a person at the door, the NAS backup finished, "
    "the solar panels charge the battery, the router sends the request to the edge model first "
    "and then to the cloud when the edge is down. Hello, how are you today? I am fine, thank you."
)


# ---------------------------------------------------------------------------------------------
# The model file


def _byte_tokens() -> list[str]:
    """GPT-2's printable stand-in for each byte (what byte-level BPE vocabularies hold)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    mapping: dict[int, str] = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return [mapping[b] for b in range(256)]


def _learn_merges(byte_tokens: list[str], n_merges: int) -> list[tuple[str, str]]:
    """Plain BPE training on CORPUS, word by word; ties go to the larger pair (deterministic)."""
    words: Counter[tuple[str, ...]] = Counter()
    for i, word in enumerate(CORPUS.split(" ")):
        text = word if i == 0 else " " + word
        words[tuple(byte_tokens[b] for b in text.encode())] += 1
    merges: list[tuple[str, str]] = []
    for _ in range(n_merges):
        pairs: Counter[tuple[str, str]] = Counter()
        for symbols, count in words.items():
            for pair in itertools.pairwise(symbols):
                pairs[pair] += count
        if not pairs:
            break
        best = max(pairs.items(), key=lambda item: (item[1], item[0]))[0]
        merges.append(best)
        merged: Counter[tuple[str, ...]] = Counter()
        for symbols, count in words.items():
            out: list[str] = []
            i = 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            merged[tuple(out)] += count
        words = merged
    return merges


CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def write_tiny_llama(path: Path, seed: int = SEED) -> Path:
    """Write the tiny llama GGUF to ``path`` (same bytes for the same seed)."""
    import gguf  # the tests' extra; imported here so collecting other tests never needs it

    byte_tokens = _byte_tokens()
    merges = _learn_merges(byte_tokens, N_MERGES)
    tokens = [*byte_tokens]
    for left, right in merges:
        if left + right not in tokens:
            tokens.append(left + right)
    types = [gguf.TokenType.NORMAL] * len(tokens)
    for special in SPECIALS:
        tokens.append(special)
        types.append(gguf.TokenType.CONTROL)
    n_vocab = len(tokens)
    eos = tokens.index("<|endoftext|>")
    im_end = tokens.index("<|im_end|>")

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("prime-spark-tiny-llama")
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_layer_norm_rms_eps(1e-5)
    # One vector per input on the `embedding: true` entry (without it, one per token); a chat
    # context computes no embeddings, so pooling does not touch it.
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.add_vocab_size(n_vocab)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges([f"{left} {right}" for left, right in merges])
    writer.add_bos_token_id(eos)
    writer.add_eos_token_id(im_end)
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)

    rng = np.random.default_rng(seed)

    def weights(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    kv = N_EMBD // N_HEAD * N_HEAD_KV
    writer.add_tensor("token_embd.weight", weights(n_vocab, N_EMBD))
    for layer in range(N_LAYER):
        blk = f"blk.{layer}"
        writer.add_tensor(f"{blk}.attn_norm.weight", ones(N_EMBD))
        writer.add_tensor(f"{blk}.attn_q.weight", weights(N_EMBD, N_EMBD))
        writer.add_tensor(f"{blk}.attn_k.weight", weights(kv, N_EMBD))
        writer.add_tensor(f"{blk}.attn_v.weight", weights(kv, N_EMBD))
        writer.add_tensor(f"{blk}.attn_output.weight", weights(N_EMBD, N_EMBD))
        writer.add_tensor(f"{blk}.ffn_norm.weight", ones(N_EMBD))
        writer.add_tensor(f"{blk}.ffn_gate.weight", weights(N_FF, N_EMBD))
        writer.add_tensor(f"{blk}.ffn_up.weight", weights(N_FF, N_EMBD))
        writer.add_tensor(f"{blk}.ffn_down.weight", weights(N_EMBD, N_FF))
    writer.add_tensor("output_norm.weight", ones(N_EMBD))
    writer.add_tensor("output.weight", weights(n_vocab, N_EMBD))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


# ---------------------------------------------------------------------------------------------
# The servers


@dataclass(frozen=True)
class RunningEngine:
    """One llama.cpp server: ``base_url`` ends in ``/v1`` (what OpenAI clients take)."""

    name: str
    host: str
    port: int
    chat_model: str
    embed_model: str
    tools_model: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def engine_config(model: Path, name: str, port: int) -> dict[str, object]:
    common = {"model": str(model), "n_threads": 1, "n_threads_batch": 1, "n_ctx": N_CTX,
              "n_batch": 64, "seed": SEED, "verbose": False}
    return {
        "host": HOST,
        "port": port,
        "interrupt_requests": False,
        "models": [
            # No chat_format: the engine formats chats with the GGUF's own template (ChatML).
            {**common, "model_alias": f"{name}-chat"},
            {**common, "model_alias": f"{name}-embed", "embedding": True},
            # Tool calls: output constrained to the tools' JSON schema, even on random weights.
            # Its prompt (the format's instructions, each tool's schema) is long in this small
            # vocabulary's tokens: a larger context than the model's 512 (llama.cpp allows it).
            {**common, "model_alias": f"{name}-tools", "chat_format": "chatml-function-calling",
             "n_ctx": N_CTX_TOOLS},
        ],
    }


def _models_answer(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v1/models", timeout=1.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def start_engine(model: Path, name: str, workdir: Path) -> RunningEngine:
    """Start ``python -m llama_cpp.server`` and return once ``/v1/models`` answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    config = workdir / "server.json"
    config.write_text(json.dumps(engine_config(model, name, port), indent=2))
    log = workdir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--config_file", str(config)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True,
        )
    engine = RunningEngine(name, HOST, port, f"{name}-chat", f"{name}-embed", f"{name}-tools",
                           process, log)
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while not _models_answer(engine.url):
            if process.poll() is not None:
                raise RuntimeError(f"llama.cpp server {name!r} exited with {process.returncode}:"
                                   f"\n{log.read_text(errors='replace')[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama.cpp server {name!r} not up within {START_TIMEOUT:g}s:"
                                   f"\n{log.read_text(errors='replace')[-3000:]}")
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(0.05)  # returns at once if it dies
    except BaseException:
        stop_engine(engine)
        raise
    return engine


def stop_engine(engine: RunningEngine) -> None:
    process = engine.process
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)


@pytest.fixture(scope="session")
def llm_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random-weight llama GGUF, written once per session."""
    return write_tiny_llama(tmp_path_factory.mktemp("llm") / "tiny-llama.gguf")


@pytest.fixture(scope="session")
def edge_engine(llm_model: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[RunningEngine]:
    engine = start_engine(llm_model, "edge", tmp_path_factory.mktemp("engine-edge"))
    try:
        yield engine
    finally:
        stop_engine(engine)


@pytest.fixture(scope="session")
def cloud_engine(llm_model: Path, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[RunningEngine]:
    engine = start_engine(llm_model, "cloud", tmp_path_factory.mktemp("engine-cloud"))
    try:
        yield engine
    finally:
        stop_engine(engine)


@pytest.fixture
def fresh_engine(llm_model: Path, tmp_path: Path) -> Iterator[RunningEngine]:
    """A private engine ("fresh-chat", ...) for a test that stops or kills it."""
    engine = start_engine(llm_model, "fresh", tmp_path / "engine-fresh")
    try:
        yield engine
    finally:
        stop_engine(engine)


# ---------------------------------------------------------------------------------------------
# Fault proxies in front of the engines (function scope: each test starts in PASS)


@pytest.fixture
async def edge_proxy(edge_engine: RunningEngine) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(edge_engine.host, edge_engine.port) as proxy:
        yield proxy


@pytest.fixture
async def cloud_proxy(cloud_engine: RunningEngine) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(cloud_engine.host, cloud_engine.port) as proxy:
        yield proxy


if __name__ == "__main__":
    print(write_tiny_llama(Path(sys.argv[1])))
