"""Export reachability: can a TCP connection to the NFS (2049) or SMB (445) port be opened?"""

from __future__ import annotations

import asyncio
import contextlib


async def tcp_reachable(host: str, port: int, seconds: float) -> bool:
    """True when a TCP connect to ``host:port`` succeeds within ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            _reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
