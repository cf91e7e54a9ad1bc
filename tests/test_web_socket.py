"""The panel's listening socket: responses on a kept-alive connection are not held back.

asyncio sets TCP_NODELAY only on sockets whose ``proto`` is IPPROTO_TCP; the pre-bound socket of
``ui.server.bind`` had proto 0, so every keep-alive response after the first waited ~40 ms for
Nagle's algorithm and the client's delayed ACK (the API's cache hit read 44 ms instead of < 1 ms).
"""

from __future__ import annotations

import asyncio
import socket

from spark.ui.server import bind


async def test_connections_accepted_on_the_panel_socket_have_nodelay() -> None:
    sock = bind("127.0.0.1", 0)
    assert sock.proto == socket.IPPROTO_TCP
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw = writer.get_extra_info("socket")
        accepted.set_result(raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_client, sock=sock)
    try:
        port = sock.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        async with asyncio.timeout(5):
            assert await accepted != 0
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
