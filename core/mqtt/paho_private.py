"""Every use of paho-mqtt's private internals, in one module, checked against the installed paho.

paho 2.x has no public API for what the asyncio glue (``glue.py``) needs to keep up with a burst
of messages. Each use was measured without it (one MqttClient draining 100,000 messages a
paused moment queued at Mosquitto; its CPU per message, median of 3-4 runs, 2 busy cores; the
hub-like client subscribes 1,000 topics, the bridge-like one is MQTT 5 with manual acks per
2,000): with all of them 9.0 us (QoS 0), 11.1 us (QoS 1), 35.3 us (bridge); with paho's public
API only 14.2 us and 30.8 us. Every one pays, so every one stays:

* :func:`read_burst` (``Client._packet_read``, ``Client._loop_rc_handle``): every packet
  already received in one readiness event (paho 2.2's ``loop_read`` reads one QoS 0 packet).
  Without: 12.2 / 14.2 us; draining our buffer with public ``loop_read`` calls: 9.9 / 11.7 /
  37.1 us.
* :func:`install_buffered_recv` (``Client._sock_recv``): one ``recv`` of up to 64 KiB serves
  paho's three or four small reads per packet. Without: 9.8 / 11.6 / 36.4 us.
* :func:`coalesce_queued` (``Client._out_packet``): runs of queued packets (QoS 1 acks) leave in
  one ``send``. Without: 11.8 us at QoS 1 (nothing to join at QoS 0), 35.7 us bridge.
* :func:`queue_pubacks` (``Client._packet_queue``): many PUBACKs queued as one buffer (the
  bridge's ``ack_many``). Without: 37.3 us bridge.
* :func:`close_socket` (``Client._sock_close``): drop a connection without a DISCONNECT (the
  broker then publishes the will); paho's public ``disconnect`` always sends one.

:func:`check_internals` runs when an :class:`~spark.core.mqtt.client.MqttClient` is built: it
verifies the installed paho has exactly these internals (names, signatures, the packet dict
paho builds) and raises :class:`PahoInternalsError` naming :data:`SUPPORTED` otherwise.
``tests/test_mqtt_glue.py`` also checks the code that uses them inside paho.
"""

from __future__ import annotations

import collections
import inspect
import logging
import struct
from collections.abc import Callable, MutableSequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt import __version__ as paho_version
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from spark.core.errors import MqttError

log = logging.getLogger(__name__)

SUPPORTED = "paho-mqtt>=2.2,<2.3"  # the pin in pyproject.toml: the internals below are 2.2's
_PUBLISH, _PUBACK, _DISCONNECT = 0x30, 0x40, 0xE0
_PUBACK_PACK = struct.Struct("!BBH").pack
# Client method -> its parameters, as paho 2.2 declares them.
METHODS: dict[str, tuple[str, ...]] = {
    "_packet_queue": ("self", "command", "packet", "mid", "qos", "info"),
    "_packet_read": ("self",),
    "_loop_rc_handle": ("self", "rc"),
    "_sock_recv": ("self", "bufsize"),
    "_sock_close": ("self",),
}
# The keys of the dicts paho queues in Client._out_packet (its _OutPacket TypedDict).
OUT_PACKET_KEYS = frozenset({"command", "mid", "qos", "pos", "to_process", "packet", "info"})


class PahoInternalsError(MqttError):
    """The installed paho-mqtt lacks, or changed, an internal this module uses."""


def check_internals(cls: type[paho.Client] = paho.Client) -> None:
    """Raise :class:`PahoInternalsError` unless ``cls`` has the internals used here."""
    problems = [p for name, params in METHODS.items() if (p := _signature_problem(cls, name,
                                                                                  params))]
    if not problems:
        problems = _packet_problems(cls)
    if problems:
        raise PahoInternalsError(
            f"paho-mqtt {paho_version} changed internals spark.core.mqtt uses: "
            f"{'; '.join(problems)}. Supported: {SUPPORTED} (pyproject.toml); install it with "
            f"pip install '{SUPPORTED}', or port spark/core/mqtt/paho_private.py")


def _signature_problem(cls: type, name: str, params: tuple[str, ...]) -> str | None:
    fn = getattr(cls, name, None)
    if not callable(fn):
        return f"Client.{name} is gone"
    try:
        got = tuple(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return f"Client.{name} has no signature"
    if got != params:
        return f"Client.{name}({', '.join(got)}) is not ({', '.join(params)})"
    return None


def _packet_problems(cls: type[paho.Client]) -> list[str]:
    """Queue a PUBACK on an unconnected client (paho's public ``ack``: built and queued by
    paho itself, not sent without a socket) and compare it with what this module builds."""
    probe = cls(CallbackAPIVersion.VERSION2, manual_ack=True)
    out = getattr(probe, "_out_packet", None)
    if not isinstance(out, collections.deque):
        return [f"Client._out_packet is {type(out).__name__}, not a deque"]
    if not hasattr(probe, "__dict__"):
        return ["Client has __slots__: _sock_recv cannot be replaced per client"]
    probe.ack(0x1234, 1)
    if len(out) != 1 or not isinstance(out[0], dict):
        return [f"Client.ack queued {list(out)!r}, not one packet dict"]
    pkt = out.pop()
    if set(pkt) != OUT_PACKET_KEYS:
        return [f"queued packets have keys {sorted(pkt)}, not {sorted(OUT_PACKET_KEYS)}"]
    if (pkt["command"], bytes(pkt["packet"])) != (_PUBACK, _PUBACK_PACK(_PUBACK, 2, 0x1234)):
        return [f"a PUBACK is queued as {pkt['command']:#x} {bytes(pkt['packet'])!r}"]
    return []


# ---- the uses ------------------------------------------------------------------------------
def read_burst(client: paho.Client, limit: int) -> bool:
    """Read and handle up to ``limit`` packets, stopping when the socket has no more. True when
    received data is left in our buffer (see :class:`BufferedRecv`): read again without waiting
    for the socket to be readable."""
    read_packet = client._packet_read
    for _ in range(limit):
        if client.socket() is None:
            return False
        rc = read_packet()
        if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
            return False
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            client._loop_rc_handle(rc)  # closes the socket, calls on_disconnect
            return False
    recv = vars(client).get("_sock_recv")
    return isinstance(recv, BufferedRecv) and recv.pending


class BufferedRecv:
    """paho reads each packet with three or four ``recv`` calls (command byte, each length
    byte, body); installed as the client's ``_sock_recv``, this serves them from one ``recv``
    of up to 64 KiB. Data it holds is invisible to the loop's readiness events: the reader
    checks :attr:`pending` before it yields."""

    __slots__ = ("_buf", "_pos", "_recv")

    def __init__(self, recv: Callable[[int], bytes]) -> None:
        self._recv = recv
        self._buf = b""
        self._pos = 0

    @property
    def pending(self) -> bool:
        return self._pos < len(self._buf)

    def __call__(self, bufsize: int) -> bytes:
        buf, pos = self._buf, self._pos
        if pos >= len(buf):
            buf = self._recv(max(bufsize, 65536))  # BlockingIOError when empty; b"" at EOF
            if not buf:
                return buf
            self._buf, pos = buf, 0
        self._pos = pos + bufsize
        return buf[pos:pos + bufsize]


def install_buffered_recv(client: paho.Client) -> None:
    """Serve ``client``'s reads through a :class:`BufferedRecv` (once per connection: paho's own
    ``_sock_recv`` keeps translating TLS want-read/write into ``BlockingIOError``)."""
    if not isinstance(vars(client).get("_sock_recv"), BufferedRecv):
        client._sock_recv = BufferedRecv(client._sock_recv)  # type: ignore[method-assign]


def coalesce_queued(client: paho.Client) -> None:
    """Join runs of the packets ``client`` has queued, so each run leaves in one ``send``."""
    coalesce(client._out_packet)


def coalesce(out: MutableSequence[Any]) -> None:
    """Join runs of paho's queued packets into one buffer, so they leave in one ``send``.

    paho writes each queued packet with its own ``send`` call: a burst of 1,000 QoS 1
    acknowledgements costs 1,000 syscalls here and wakes the broker 1,000 times. Only packets
    paho does nothing with once written are joined (acknowledgements, QoS 1/2 publishes, whose
    completion is the broker's PUBACK, subscribes, pings); a QoS 0 publish (paho then marks it
    published) or a DISCONNECT (paho then closes) stays a packet of its own, in order, and so
    does a packet already partly written. A joined run is queued as paho queues a PUBACK.
    """
    if len(out) < 2:
        return
    merged: list[Any] = []
    run: list[Any] = []

    def close_run() -> None:
        if len(run) == 1:
            merged.append(run[0])
        elif run:
            data = b"".join(bytes(p["packet"]) for p in run)
            merged.append({**run[0], "command": _PUBACK, "mid": 0, "qos": 1, "info": None,
                           "pos": 0, "to_process": len(data), "packet": data})
        run.clear()

    for pkt in out:
        cmd = pkt["command"] & 0xF0
        if pkt["pos"] or cmd == _DISCONNECT or (cmd == _PUBLISH and pkt["qos"] == 0):
            close_run()
            merged.append(pkt)
        else:
            run.append(pkt)
    close_run()
    if len(merged) < len(out):
        out.clear()
        out.extend(merged)


def queue_pubacks(client: paho.Client, mids: list[int]) -> None:
    """Queue the PUBACKs of ``mids`` as one buffer (paho would build and queue a packet per
    message): type, remaining length 2, packet id, the bytes paho sends for 3.1.1 and 5."""
    if mids:
        data = b"".join([_PUBACK_PACK(_PUBACK, 2, mid) for mid in mids])
        client._packet_queue(_PUBACK, data, 0, 0)


def close_socket(client: paho.Client) -> None:
    """Close ``client``'s connection without a DISCONNECT (paho calls on_socket_close). An
    OSError from closing a dead socket is expected; anything else is logged, not raised: this
    runs while tearing a link down, and the supervisor must go on to reconnect."""
    try:
        client._sock_close()
    except OSError:
        pass
    except Exception:
        log.exception("closing the paho socket failed")
