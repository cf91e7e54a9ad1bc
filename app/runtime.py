"""Process entry points behind the CLI: run the hub, one node, or the whole lab (``spark up``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from spark.app.config.models import SparkConfig
from spark.app.summary import login_lines, node_lines
from spark.core.agent.agent import ANNOUNCE_DELAY, NodeAgent, NodeContext
from spark.core.agent.config import NodeConfigBase
from spark.core.errors import ConfigError
from spark.core.events import EntityAdded, NodeAvailability
from spark.core.rpc import RpcClient, RpcError
from spark.core.services import CommandSource, CommandSources, PublishConfirmed, ServiceCaller
from spark.hub.app import Hub
from spark.hub.registry import RegistryLimits
from spark.nodes.kinds import kinds, node_kind

if TYPE_CHECKING:
    from spark.hub.llm.router import LlmRouter
    from spark.ui.api.view import Site
    from spark.ui.server import WebServer

log = logging.getLogger("spark")


def stored_password(cfg: SparkConfig, username: str | None) -> str | None:
    """A password generated earlier for ``username`` by ``spark broker``/``spark up``, if any."""
    if not username:
        return None
    from spark.hub.broker.secrets import password_path, secrets_dir

    path = password_path(secrets_dir(cfg.broker), username)
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def hub_password(cfg: SparkConfig) -> str | None:
    return cfg.mqtt.secret() or stored_password(cfg, cfg.mqtt.username or cfg.hub.id)


def node_password(cfg: SparkConfig, node: NodeConfigBase) -> str | None:
    if node.password is not None:
        return node.password.get_secret_value()
    if node.password_file is not None:
        return node.password_file.read_text().strip()
    return stored_password(cfg, node.username or node.id)


def node_config_for(cfg: SparkConfig, kind: str, node_id: str | None) -> Any:
    """The config of the node to run: by id, else the only node of ``kind``, else defaults."""
    matches = [n for n in cfg.nodes if n.kind == kind and (node_id is None or n.id == node_id)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ConfigError(f"several {kind} nodes in the config ({', '.join(n.id for n in matches)})"
                          "; pick one with --id")
    data = {"id": node_id or kind, "kind": kind,
            **default_node_settings(kind, node_id or kind)}
    return SparkConfig.model_validate({"nodes": [data]}).nodes[0]


def default_node_settings(kind: str, node_id: str) -> dict[str, Any]:
    """Settings that make a kind runnable on a machine without its hardware (the simulated
    devices keep their state beside the other runtime files, as real ones would)."""
    if kind in ("power", "nas"):
        return {"backend": {"type": "simulated"}}
    if kind == "simulated":
        return {"state_file": f".spark/simulated/{node_id}.json"}
    return {}


def default_lab(cfg: SparkConfig) -> SparkConfig:
    """Embedded defaults for ``spark up``: a simulated lab when the config names no nodes."""
    if cfg.nodes:
        return cfg
    nodes = []
    for kind in kinds():
        node_id = kind if kind != "simulated" else "sim"
        nodes.append({"id": node_id, "kind": kind, **default_node_settings(kind, node_id)})
    data = cfg.model_dump(mode="python", exclude_unset=True)
    data["nodes"] = nodes
    return SparkConfig.model_validate(data)


def make_agent(cfg: SparkConfig, node: NodeConfigBase, password: str | None,
               announce_delay: tuple[float, float] = ANNOUNCE_DELAY) -> NodeAgent[Any]:
    """The agent of ``node``'s kind, on the shared settings and the node's own section (its
    other dependencies are the configured ones)."""
    cls = node_kind(node.kind).agent_class()
    return cls(NodeContext(cfg.agent_settings(), node, password=password,
                           announce_delay=announce_delay))


def hub_node_config(cfg: SparkConfig) -> NodeConfigBase:
    return NodeConfigBase(id=cfg.hub.id, name=cfg.hub.name, username=cfg.mqtt.username)


def build_hub(cfg: SparkConfig, password: str | None = None,
              announce_delay: tuple[float, float] = ANNOUNCE_DELAY) -> Hub:
    """The hub with its sections of ``cfg`` and the Kafka cloud sources the config asks for."""
    ctx = NodeContext(cfg.agent_settings(), hub_node_config(cfg), password=password,
                      announce_delay=announce_delay)
    hub = Hub(ctx, cfg.recorder, cloud=cloud_sources(cfg), policy=cfg.hub.policy,
              limits=RegistryLimits(cfg.hub.max_entities, cfg.hub.max_entities_per_publisher,
                                    cfg.hub.max_discovery_bytes, cfg.hub.max_picture_bytes),
              ask=cfg.hub.ask)
    if cfg.llm.backends:  # else the router is off: ask/generate and /api/llm/* say so
        hub.attach_router(build_llm(cfg, hub))
    return hub


def build_llm(cfg: SparkConfig, hub: Hub) -> LlmRouter:
    """The LLM router of ``llm:``; each answer becomes an inference record on the hub's
    ``inference`` topic. The hub runs it (probes, cache) as component ``hub-llm`` and feeds it
    the power strategy and the VPN state."""
    from spark.hub.llm.router import LlmRouter

    return LlmRouter(cfg.llm, on_result=hub.publish_inference)


def cloud_sources(cfg: SparkConfig) -> CommandSources | None:
    """One Kafka cloud source per ``kafka`` sink with ``source.enabled``, by sink name, built
    once the hub's services and MQTT client exist (None: no source configured, or Kafka's
    library is missing, which is logged)."""
    from spark.bridges.sinks.kafka.config import KafkaSinkConfig

    bridges = cfg.bridges
    names = {id(sink): name for name, sink in zip(bridges.sink_names(), bridges.sinks,
                                                   strict=True)}
    if not any(isinstance(sink, KafkaSinkConfig) and sink.source.enabled
               for sink in bridges.sinks):
        return None
    try:  # confluent-kafka loads only when a source runs
        from spark.bridges.sinks.kafka.source import cloud_sources as kafka_sources
    except ImportError as exc:
        log.error("hub: Kafka cloud source unavailable, cloud commands are not read: %s", exc)
        return None

    def build(services: ServiceCaller,
              publish: PublishConfirmed) -> Mapping[str, CommandSource]:
        sources = kafka_sources(bridges, services, publish, cfg.mqtt.layout(), cfg.hub.id)
        return {names[id(src.config)]: src for src in sources}

    return build


def build_web(cfg: SparkConfig, hub: Hub) -> WebServer | None:
    """The panel + REST API around ``hub`` (None: ``ui.enabled`` is false)."""
    if not cfg.ui.enabled:
        return None
    from spark.ui.server import WebServer

    return WebServer(hub, web_site(cfg), cfg.ui, recorder_url=cfg.recorder.url)


def web_site(cfg: SparkConfig) -> Site:
    """What the panel expects besides what the hub sees: the configured nodes and bridge."""
    from spark.ui.api.view import Site

    return Site(nodes={n.id: n.kind for n in cfg.nodes}, bridge_node=cfg.bridges.node_id,
                sinks=tuple(cfg.bridges.sink_names()))


async def serve(hub: Hub, web: WebServer | None) -> None:
    """Run the hub until it stops; the web server (when there is one) runs beside it as
    component ``hub-web`` of the hub's supervisor (restarted if it dies) and stops with it."""
    if web is None:
        await hub.run()
        return
    task = asyncio.create_task(hub.supervisor.run("hub-web", web.run), name="hub-web")
    try:
        await hub.run()
    finally:
        hub.supervisor.stop()
        web.stop()
        await asyncio.wait([task])
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())


async def run_hub(cfg: SparkConfig) -> int:
    hub = build_hub(cfg, password=hub_password(cfg))
    if await _refused([hub.agent]):
        return 1
    web = build_web(cfg, hub)
    if web is not None:
        web.reserve()
    await serve(hub, web)
    return 0


async def run_node(cfg: SparkConfig, node: NodeConfigBase) -> int:
    agent = make_agent(cfg, node, node_password(cfg, node))
    await agent.run()
    return 0


async def _refused(agents: list[NodeAgent]) -> set[str]:
    """Ask, concurrently, whether a live process already serves each agent's node id; say so
    on stderr for each one that is taken. Returns the taken ids (their agents must not run:
    connecting with their will would mark the other process's node offline on exit)."""
    owners = await asyncio.gather(*(agent.check_owner() for agent in agents))
    taken = {owner.node_id: owner for owner in owners if owner is not None}
    for owner in taken.values():
        print(f"spark: {owner.describe()}; not starting it here", file=sys.stderr, flush=True)
    return set(taken)


async def run_up(cfg: SparkConfig, duration: float | None = None) -> int:
    from spark.hub.broker.select import choose_broker

    cfg = default_lab(cfg)
    async with await choose_broker(cfg.broker_settings()) as broker:
        print(str(broker), flush=True)
        cfg = cfg.model_copy(update={"mqtt": broker.mqtt})

        hub = build_hub(cfg, password=_password(broker, cfg, cfg.mqtt.username or cfg.hub.id))
        agents = [make_agent(cfg, n, _password(broker, cfg, n.username or n.id))
                  for n in cfg.nodes]
        taken = await _refused([hub.agent, *agents])
        if hub.node_id in taken:
            print(f"spark: another `spark up` or `spark hub` runs hub {hub.node_id!r} on this "
                  "broker; stop it first (or start single nodes with `spark node KIND --id "
                  "ID`)", file=sys.stderr, flush=True)
            return 1
        agents = [a for a in agents if a.node_id not in taken]
        web = build_web(cfg, hub)
        if web is not None:
            web.reserve()  # a taken port is an error now, before anything is printed
        async with asyncio.TaskGroup() as tg:
            tg.create_task(serve(hub, web), name="hub")
            for agent in agents:
                tg.create_task(agent.run(), name=f"node-{agent.node_id}")
            report = tg.create_task(_report(cfg, hub, web, agents, broker), name="report")
            bridge = None
            # Cloud sinks configured: MQTT -> outbox -> sinks. (Kafka's cloud -> edge source
            # runs inside the hub, task hub-cloud-<sink>: it needs the registry.)
            if cfg.bridges.sinks:
                from spark.bridges.runtime import Bridge

                login = _password(broker, cfg, cfg.mqtt.username or cfg.hub.id)
                bridge = tg.create_task(Bridge(cfg.bridge_settings(), password=login).run(),
                                        name="bridge")
            if duration is not None:
                # The lab runs `duration` seconds once it is up (the summary printed; its waits
                # are bounded), not from the start: a slow start still gets its full run.
                await asyncio.wait({report})
                await asyncio.sleep(duration)
                for agent in agents:
                    agent.stop()
                hub.stop()
                if bridge is not None:
                    bridge.cancel()
    return 0


def _password(broker: Any, cfg: SparkConfig, username: str) -> str | None:
    """The login for ``username``: the broker we started knows it; for an external broker the
    config's secret or a password generated earlier by ``spark broker`` applies."""
    login = broker.login(username)
    if login is not None:
        return str(login[1])
    if username == (cfg.mqtt.username or cfg.hub.id):
        return hub_password(cfg)
    node = next((n for n in cfg.nodes if (n.username or n.id) == username), None)
    return node_password(cfg, node) if node is not None else None


def _auth_hint(broker: Any, cfg: SparkConfig) -> str:
    user = cfg.broker.homeassistant_user
    if broker.login(user) is None:
        return ""
    from spark.hub.broker.secrets import password_path, secrets_dir

    return f" -u {user} -P \"$(cat {password_path(secrets_dir(cfg.broker), user)})\""


async def _report(cfg: SparkConfig, hub: Hub, web: WebServer | None,
                  agents: list[NodeAgent], broker: Any) -> None:
    """Tell the user what reached the registry and where to look next."""
    added = hub.bus.subscribe((EntityAdded, NodeAvailability))
    deadline = asyncio.get_running_loop().time() + 20.0
    with added:
        while asyncio.get_running_loop().time() < deadline:
            reg = hub.registry
            expected = {a.unique_prefix: len(a.entities) for a in agents}
            if reg is not None and _all_registered(hub, expected):
                break
            try:
                async with asyncio.timeout(max(0.0, deadline - asyncio.get_running_loop().time())):
                    await added.get()
            except TimeoutError:
                break
    reg = hub.registry
    if reg is None or hub.client is None:
        return
    # A node answers a ping after everything it published before it: its states are in.
    rpc = RpcClient(hub.client, hub.layout, hub.agent.rpc_caller)
    async def ping(node_id: str) -> None:
        with contextlib.suppress(RpcError):
            await rpc.call(node_id, "ping", timeout=5.0)

    await asyncio.gather(*(ping(agent.node_id) for agent in agents))
    if web is not None:  # the first admin exists (and its password file) once it serves
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(20.0):
                await web.started.wait()
    layout = hub.layout
    lines = ["", f"Prime Spark is up: hub {hub.node_id!r} and {len(agents)} nodes, "
             f"{len(reg.entities)} entities in the registry", *node_lines(hub, agents), "",
             "where to look next:",
             f"  {'MQTT broker':<14} {cfg.mqtt.host}:{cfg.mqtt.port}",
             f"  {'watch it':<14} mosquitto_sub -h {cfg.mqtt.host} -p {cfg.mqtt.port} "
             f"-t '{layout.everything()}' -v{_auth_hint(broker, cfg)}",
             f"  {'topics':<14} {layout.base}/<node>/<entity>/state, .../set to command; "
             f"discovery under {cfg.mqtt.discovery_prefix}/",
             f"  {'Home Assistant':<14} add the MQTT integration with this broker (user "
             f"{cfg.broker.homeassistant_user!r} when Prime Spark started it)"]
    if web is not None:
        lines.append(f"  {'REST API':<14} {web.url}api/docs")
    lines += ["", *login_lines(cfg, web.url if web is not None else None)]
    print("\n".join(lines), flush=True)


def _all_registered(hub: Hub, expected: dict[str, int]) -> bool:
    """Every local node's entities (by unique-id prefix) are in the hub registry."""
    reg = hub.registry
    if reg is None:
        return False
    have = dict.fromkeys(expected, 0)
    for record in reg.entities.values():
        uid = record.spec.unique_id or ""
        for prefix in expected:
            if uid.startswith(prefix + "_"):
                have[prefix] += 1
    return all(have[p] >= n for p, n in expected.items())


async def check_llm(cfg: SparkConfig, timeout: float = 30.0) -> int:
    """``spark llm check``: every configured backend lists its models and generates one token;
    prints a line per step. 0: all answered; 1: something failed (or nothing configured)."""
    from spark.core.messages.llm import LlmRequest
    from spark.hub.llm.backends.base import Done, build_backend
    from spark.hub.llm.errors import LlmError

    if not cfg.llm.backends:
        print("llm.backends is empty: no LLM backend configured (add one to the config)")
        return 1
    request = LlmRequest.model_validate({"prompt": "Say OK.", "options": {
        "temperature": 0, "num_predict": 1}, "cache": False})
    failed = 0
    for conf in cfg.llm.backends:
        backend = build_backend(conf)
        head = f"{conf.name} ({conf.type}, {conf.tier}, {conf.url})"
        try:
            async with asyncio.timeout(timeout):
                names = await backend.models(timeout=min(timeout, conf.connect_timeout + 5))
                print(f"{head}: models OK: {', '.join(names) or '(none)'}")
                model = conf.model_for(request.model)
                done: Done | None = None
                async for event in backend.complete(model, request):
                    if isinstance(event, Done):
                        done = event
                print(f"{head}: generate OK: model {model!r} answered "
                      f"({done.output_tokens if done else '?'} token)")
        except (LlmError, TimeoutError, OSError, ValueError) as exc:
            failed += 1
            print(f"{head}: FAILED: {exc or type(exc).__name__}")
        finally:
            await backend.aclose()
    print(f"{len(cfg.llm.backends) - failed} of {len(cfg.llm.backends)} LLM backends work")
    return 1 if failed else 0
