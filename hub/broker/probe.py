"""Is an MQTT broker answering at host:port? A raw MQTT 3.1.1 CONNECT, one CONNACK, done.

A CONNACK with any return code (even "not authorised") means a broker is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import ssl
import uuid
from dataclasses import dataclass

CONNACK = 0x20
DISCONNECT = b"\xe0\x00"


class Answer(enum.Enum):
    MQTT = "mqtt"  # a broker answered CONNECT with CONNACK
    NOTHING = "nothing"  # connection refused: nothing listens there
    OTHER = "other"  # something listens but does not speak MQTT
    UNREACHABLE = "unreachable"  # no answer in time, unknown host, no route


@dataclass(frozen=True, slots=True)
class ProbeResult:
    answer: Answer
    detail: str
    return_code: int | None = None

    @property
    def is_broker(self) -> bool:
        return self.answer is Answer.MQTT


def connect_packet(client_id: str, keepalive: int = 5) -> bytes:
    """An MQTT 3.1.1 CONNECT: clean session, no will, no login."""
    cid = client_id.encode()
    variable = b"\x00\x04MQTT\x04\x02" + keepalive.to_bytes(2, "big")
    body = variable + len(cid).to_bytes(2, "big") + cid
    assert len(body) < 128  # one-byte remaining length
    return bytes([0x10, len(body)]) + body


async def probe_mqtt(
    host: str, port: int, *, within: float = 1.0, use_tls: bool = False
) -> ProbeResult:
    """CONNECT to host:port and report what answered, all within ``within`` seconds."""
    ctx: ssl.SSLContext | None = None
    if use_tls:  # only detecting a broker here: the real client verifies the certificate
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(within):
            reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
            writer.write(connect_packet(f"spark-probe-{uuid.uuid4().hex[:8]}"))
            await writer.drain()
            head = await reader.readexactly(4)
            if head[0] != CONNACK or head[1] != 2:
                return ProbeResult(Answer.OTHER, f"{host}:{port} answered, but not with CONNACK")
            if head[3] == 0:
                writer.write(DISCONNECT)
                await writer.drain()
            return ProbeResult(Answer.MQTT, f"an MQTT broker answers at {host}:{port}", head[3])
    except ConnectionRefusedError:
        return ProbeResult(Answer.NOTHING, f"nothing listens on {host}:{port}")
    except TimeoutError:
        if writer is not None:
            return ProbeResult(Answer.OTHER, f"{host}:{port} accepted TCP but sent no CONNACK")
        return ProbeResult(Answer.UNREACHABLE, f"no answer from {host}:{port} in {within:g}s")
    except (asyncio.IncompleteReadError, ConnectionResetError, ssl.SSLError) as exc:
        return ProbeResult(Answer.OTHER, f"{host}:{port} is not an MQTT broker ({exc!r})")
    except OSError as exc:  # includes socket.gaierror (unknown host), no route
        return ProbeResult(Answer.UNREACHABLE, f"cannot reach {host}:{port}: {exc}")
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
