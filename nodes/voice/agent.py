"""The voice node: runs the pipeline on its source, keeps the vocabulary in step with the hub
registry, executes intents through the hub and answers out loud.

Entities: listening, mute, volume, last transcript / intent / reply, wake (event), direction of
arrival, the response time (end of speech -> command handled, in audio time: it includes the
silence waited, wake word and speech-to-text), and diagnostics: the vocabulary size and how
often the recognisers' worker process died (``worker.py``: a native crash fails that utterance,
the worker is restarted with backoff, the node stays up). Mute is not a voice target (left out
of the vocabulary): muted, the node processes no audio at all, so only the panel, HA or a
hardware button wired to the ``mute`` command topic unmute it. A spoken action runs only when
the gate (``confirm.py``) lets it; otherwise the node asks back and holds the intent for a
"yes". Every run's steps go out as :class:`~core.messages.voice.PipelineEvent` s on
``<base>/<node>/pipeline``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, ClassVar

from spark.core.agent.agent import NodeAgent, NodeContext
from spark.core.agent.entities import BinarySensor, Entity, Event, Number, Sensor, Switch
from spark.core.backoff import Backoff
from spark.core.messages.voice import EventType, PipelineEvent, new_run_id
from spark.core.mqtt import Message, MqttClient
from spark.core.rpc import RpcClient, RpcError
from spark.nodes.voice.actions import NOT_UNDERSTOOD, HubLink, Outcome, execute
from spark.nodes.voice.config import VoiceNodeConfig
from spark.nodes.voice.confirm import REFUSED, Confirmer
from spark.nodes.voice.errors import VoiceError
from spark.nodes.voice.intents import COMPLETE, recognize
from spark.nodes.voice.pipeline import Pipeline, Signal
from spark.nodes.voice.respeaker import MicArray, NoArray, RingState, open_array
from spark.nodes.voice.sources import AudioFrame, SourceMark, TypedText, VoiceSource, make_source
from spark.nodes.voice.stt.base import Transcript
from spark.nodes.voice.tts import NoSpeaker, Speaker, make_speaker, make_tts
from spark.nodes.voice.vocab import Vocabulary, build_vocabulary
from spark.nodes.voice.worker import PipelineProcess, WorkerDied, build_pipeline

log = logging.getLogger(__name__)
STABLE_FRAMES = 2000  # a worker that heard this much audio (60 s) resets the restart backoff


class VoiceNode(NodeAgent[VoiceNodeConfig]):
    kind: ClassVar[str] = "voice"
    model: ClassVar[str] = "Prime Spark voice node"

    def __init__(self, ctx: NodeContext[VoiceNodeConfig], *,
                 source: VoiceSource | None = None) -> None:
        """``source``: a real :class:`VoiceSource` subclass instead of the configured one
        (tests, demos)."""
        super().__init__(ctx)
        self.source: VoiceSource = source if source is not None else make_source(self.cfg.source)
        self.audio = not (self.source.type == "console")
        self.pipeline: Pipeline | PipelineProcess = (
            PipelineProcess(self.cfg, self.cfg.worker_timeout_s)
            if self.audio and self.cfg.isolate
            else build_pipeline(self.cfg, self.audio, self._is_complete))
        self.crashes = 0  # the recognisers' worker died (it was restarted)
        self._worker_backoff = Backoff(0.5, 30.0)
        self.tts = make_tts(self.cfg.tts)
        self.speaker: Speaker = NoSpeaker()
        self.array: MicArray = NoArray()
        self.hub: HubLink | None = None
        self.vocabulary = Vocabulary()
        self.volume = self.cfg.volume
        self.run_id: str | None = None
        self.marks: list[str] = []  # files a replay source finished (tests, benchmarks)
        self.marks_started: dict[str, float] = {}  # real-time replays: when each began
        self._speech_end: float | None = None
        self._changed = asyncio.Event()
        self.confirmer = Confirmer(self.cfg.follow_up_s + 10.0)  # "did you mean ...?"

    def _is_complete(self, text: str) -> bool:
        """Is ``text`` already a whole command (the pipeline may stop listening)?"""
        return bool(text) and recognize(text, self.vocabulary).name in COMPLETE

    def declare_entities(self) -> list[Entity]:
        return [
            BinarySensor(key="listening", name="Listening", icon="mdi:microphone"),
            Switch(key="mute", name="Mute", icon="mdi:microphone-off"),
            Number(key="volume", name="Volume", min=0, max=100, step=5, unit="%",
                   mode="slider", icon="mdi:volume-high"),
            Sensor(key="last_transcript", name="Last transcript", attributes=True,
                   icon="mdi:text-recognition"),
            Sensor(key="last_intent", name="Last intent", attributes=True,
                   icon="mdi:head-lightbulb"),
            Sensor(key="last_reply", name="Last reply", icon="mdi:message-reply-text"),
            Event(key="wake", name="Wake word", event_types=["wake", "typed"],
                  icon="mdi:account-voice"),
            Sensor(key="direction", name="Direction of arrival", unit="°",
                   state_class="measurement", icon="mdi:compass-outline"),
            Sensor(key="vocabulary", name="Vocabulary", entity_category="diagnostic",
                   attributes=True, icon="mdi:book-alphabet"),
            Sensor(key="response_time", name="Response time", unit="ms",
                   device_class="duration", state_class="measurement",
                   icon="mdi:timer-outline"),
            Sensor(key="recogniser_crashes", name="Recogniser crashes",
                   entity_category="diagnostic", state_class="total_increasing",
                   attributes=True, icon="mdi:alert-octagon"),
        ]

    # ---- lifecycle --------------------------------------------------------------------
    async def setup(self) -> None:
        self.on_command("mute", self._set_mute)
        self.on_command("volume", self._set_volume)
        self.set_state("mute", False)
        self.set_state("listening", False)
        self.set_state("volume", self.volume)
        self.set_state("direction", None)
        self.set_state("vocabulary", 0)
        self.set_state("response_time", None)
        self.set_state("recogniser_crashes", 0)
        if self.audio:  # loading models takes a moment: not on the event loop
            await asyncio.to_thread(self.pipeline.open)
            self.array = await asyncio.to_thread(open_array, self.cfg.array)
        if self.cfg.speak_replies:
            try:
                self.tts.check()
                self.speaker = make_speaker(self.cfg.output)
            except VoiceError as exc:
                log.warning("%s: replies will not be spoken: %s", self.node_id, exc)
        await self.source.open()
        log.info("%s: listening on %s", self.node_id, self.source.name)

    async def teardown(self) -> None:
        with contextlib.suppress(Exception):
            await self.source.close()
        with contextlib.suppress(Exception):
            await self.tts.aclose()
        for close in (self.speaker.close, self.array.close, self.pipeline.close):
            with contextlib.suppress(Exception):
                close()

    async def attach(self, client: MqttClient) -> None:
        hub_id = self.cfg.hub_id or self.hub_id
        # as our own broker account: the hub checks what it may do (hub.policy.accounts)
        rpc = RpcClient(client, self.layout, self.rpc_caller)
        self.hub = HubLink(rpc, hub_id, self.cfg.rpc_timeout_s, self.cfg.ask_timeout_s)
        client.subscribe(self.layout.state(hub_id, "entities"), self._on_hub_entities, 1)

    def _on_hub_entities(self, _msg: Message) -> None:
        self._changed.set()  # the hub's entity count changed: re-read its registry

    async def work(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._refresh_loop(), name=f"{self.node_id}-vocabulary")
            tg.create_task(self._listen_loop(), name=f"{self.node_id}-listen")

    # ---- vocabulary -------------------------------------------------------------------
    async def _refresh_loop(self) -> None:
        while True:
            self._changed.clear()
            wait = self.cfg.refresh_s
            try:
                await self.refresh()
            except (RpcError, VoiceError) as exc:
                log.info("%s: hub registry not readable yet: %s", self.node_id, exc)
                wait = min(wait, 2.0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._changed.wait()

    async def refresh(self) -> Vocabulary:
        """Re-read the hub registry; rebuild the grammar when the vocabulary changed."""
        assert self.hub is not None
        entities = [e for e in await self.hub.entities() if not self._own_switch(e)]
        devices = await self.hub.devices()
        if self.audio:
            vocab = await asyncio.to_thread(self.pipeline.build_vocabulary, entities, devices)
        else:
            vocab = build_vocabulary(entities, devices)
        if vocab.signature != self.vocabulary.signature:
            if self.audio:
                await asyncio.to_thread(self.pipeline.set_vocabulary, vocab)
            self.vocabulary = vocab
            names = sorted(vocab.names)
            log.info("%s: vocabulary of %d entities, %d names", self.node_id,
                     len(vocab.targets), len(names))
            self.set_state("vocabulary", len(vocab.targets),
                           {"names": len(names), "signature": vocab.signature,
                            "sample": names[:50]})
        return vocab

    def _own_switch(self, entity: dict[str, Any]) -> bool:
        """The node's own mute is not a voice target: a misheard command must never mute the
        node (it could not be unmuted by voice). Mute is for the hand, the panel and HA."""
        return entity.get("unique_id") == f"{self.unique_prefix}_mute"

    # ---- the pipeline -----------------------------------------------------------------
    async def _listen_loop(self) -> None:
        """The microphone is an external link: when it fails, close, back off, reopen."""
        backoff = Backoff(1.0, 30.0, jitter=0.0)
        while True:
            try:
                await self._consume()
            except (VoiceError, OSError) as exc:
                log.error("%s: %s failed: %s; reopening in %.0f s", self.node_id,
                          self.source.name, exc, backoff.delay)
                self._event("error", {"code": "source", "message": str(exc)})
                with contextlib.suppress(Exception):
                    await self.source.close()
                await backoff.wait()
                with contextlib.suppress(VoiceError, OSError):
                    await self.source.open()
                    backoff.reset()
                continue
            return  # a source that ends (a replayed file) leaves the node idle

    async def _consume(self) -> None:
        async for item in self.source.items():
            try:
                if isinstance(item, AudioFrame):
                    for signal in await asyncio.to_thread(self.pipeline.feed, item.pcm,
                                                          item.at):
                        await self._on_signal(signal)
                    if self._worker_backoff.current and self.pipeline.frames > STABLE_FRAMES:
                        self._worker_backoff.reset()  # the new worker has lasted
                elif isinstance(item, TypedText):
                    self.run_id = new_run_id()
                    self.fire_event("wake", "typed")
                    await self._handle(Transcript(item.text), {})
                    self.run_id = None
                elif isinstance(item, SourceMark):
                    self.marks.append(item.name)
                    if item.started is not None:
                        self.marks_started[item.name] = item.started
            except WorkerDied as exc:
                await self._recogniser_died(exc)
            except Exception as exc:  # one bad utterance never stops the node
                log.exception("%s: voice pipeline step failed", self.node_id)
                self._event("error", {"code": "internal", "message": str(exc)})
                self.pipeline.idle()
            self.set_state("listening", self.pipeline.listening)

    async def _recogniser_died(self, exc: WorkerDied) -> None:
        """The worker process died (a native crash) or hung: this utterance failed; restart
        the worker after the backoff (which grows while it keeps dying), then go on."""
        assert isinstance(self.pipeline, PipelineProcess)
        self.crashes += 1
        log.error("%s: %s; restarting the recognisers in %.1f s", self.node_id, exc,
                  self._worker_backoff.delay)
        self._event("error", {"code": "recogniser-crash", "message": str(exc),
                              "exit_code": exc.exit_code, "signal": exc.signal_name,
                              "crashes": self.crashes})
        self.set_state("recogniser_crashes", self.crashes,
                       {"exit_code": exc.exit_code, "signal": exc.signal_name,
                        "message": str(exc)[:200]})
        self.run_id, self._speech_end = None, None
        self._ring("idle")
        while True:
            await self._worker_backoff.wait()
            try:
                await asyncio.to_thread(self.pipeline.start)
                break
            except VoiceError as again:
                log.error("%s: %s", self.node_id, again)
        self.source.flush()  # audio heard meanwhile is stale

    async def _on_signal(self, signal: Signal) -> None:
        if signal.kind == "wake":
            self.run_id = new_run_id()
            self.fire_event("wake", "wake", phrase=signal.data.get("phrase"))
            self._ring("listening")
            direction = await asyncio.to_thread(self._direction)
            if direction is not None:
                self.set_state("direction", direction)
            self._event("wake", {**signal.data, "direction": direction},
                        {"wake_ms": signal.data.get("wake_ms", 0.0)})
        elif signal.kind == "speech-start":
            self._event("speech-start")
        elif signal.kind == "speech-end":
            self._speech_end = signal.wall
            self._event("speech-end", signal.data)
        elif signal.kind == "timeout":
            self._event("timeout", {"after": "listening"})
            self._ring("idle")
            self.run_id = None
        elif signal.kind == "utterance":
            assert signal.transcript is not None
            outcome = await self._handle(signal.transcript, {"stt_ms": signal.data["stt_ms"]})
            self.source.flush()  # what the microphone heard meanwhile includes our reply
            if self.cfg.follow_up_s > 0 and outcome.success:
                self.pipeline.listen(self.cfg.follow_up_s)
                self._ring("listening")
            else:
                self.pipeline.idle()
                self._ring("idle")
                self.run_id = None

    def _direction(self) -> int | None:
        try:
            return self.array.direction()
        except VoiceError as exc:
            log.debug("%s: direction of arrival: %s", self.node_id, exc)
            return None

    def _ring(self, state: RingState) -> None:
        with contextlib.suppress(Exception):
            self.array.ring(state)

    async def _handle(self, transcript: Transcript, timings: dict[str, float]) -> Outcome:
        assert self.hub is not None
        self._event("transcript", transcript.as_dict(), timings)
        self.set_state("last_transcript", transcript.text[:250] or None, transcript.as_dict())
        t0 = time.perf_counter()
        intent, verdict = self.confirmer.decide(transcript, self.vocabulary)
        timings["intent_ms"] = round((time.perf_counter() - t0) * 1000, 2)
        self._event("intent", {**intent.as_dict(), "verdict": verdict.as_dict()}, timings)
        self.set_state("last_intent", intent.name, intent.as_dict())
        self._ring("thinking")
        t1 = time.perf_counter()
        if not transcript.text:
            outcome = Outcome(NOT_UNDERSTOOD, False)
        elif verdict.decision == "ask":
            outcome = Outcome(verdict.question, True, detail={"asked": verdict.reason})
        elif verdict.decision == "refuse":
            outcome = Outcome(REFUSED, False, detail={"refused": verdict.reason})
        else:
            outcome = await execute(intent, self.hub)
            if intent.name == "ask" and outcome.detail.get("pending"):
                self.confirmer.hub_asked()  # a "yes" now answers the hub's question
        timings["action_ms"] = round((time.perf_counter() - t1) * 1000, 2)
        if self._speech_end is not None:
            timings["speech_end_to_done_ms"] = round(
                (time.monotonic() - self._speech_end) * 1000, 2)
            self._speech_end = None
            self.set_state("response_time", round(timings["speech_end_to_done_ms"]))
        self.set_state("last_reply", outcome.reply[:250])
        self._event("handled", {"reply": outcome.reply, "success": outcome.success,
                                "executed": outcome.executed, **outcome.detail}, timings)
        if self.cfg.speak_replies and not isinstance(self.speaker, NoSpeaker):
            self._ring("speaking")
            t2 = time.perf_counter()
            try:
                samples = await self.tts.synthesize(outcome.reply)
                await self.speaker.play(samples, self.volume / 100.0)
            except VoiceError as exc:
                log.warning("%s: reply not spoken: %s", self.node_id, exc)
                self._event("error", {"code": "tts", "message": str(exc)})
            timings["tts_ms"] = round((time.perf_counter() - t2) * 1000, 2)
        return outcome

    def _event(self, kind: EventType, data: dict[str, Any] | None = None,
               timings: dict[str, float] | None = None) -> None:
        if self.client is None:
            return
        event = PipelineEvent(run=self.run_id or new_run_id(), type=kind, node=self.node_id,
                              data=data or {}, timings=dict(timings or {}))
        self.client.publish(self.layout.pipeline(self.node_id), event.to_payload(), 1, False)

    # ---- commands ---------------------------------------------------------------------
    async def _set_mute(self, on: bool) -> None:
        await asyncio.to_thread(self.pipeline.mute, on)
        self.set_state("mute", on)
        self.set_state("listening", self.pipeline.listening)
        self._ring("off" if on else "idle")

    def _set_volume(self, value: float) -> None:
        self.volume = value
        self.set_state("volume", value)
