"""WebSockets through the real binary: the `websockets` library's client and server on
either side of a static route. Messages of every kind, large ones, pings and the server's
close code must cross the gateway unchanged, and the handshake must carry the client's
subprotocol and headers."""

import asyncio
import contextlib
import threading
import unittest

import websockets
from websockets.asyncio.server import serve
from websockets.sync.client import connect

from harness import Processes, free_port, start_gateway, static_route_config


def config(gateway_port, backend_port):
    return static_route_config(gateway_port, backend_port, path="/ws")


async def session(connection):
    """Echoes every message; `who` answers with what the handshake carried; `bye`
    closes with an application close code."""
    try:
        await echo(connection)
    except websockets.exceptions.ConnectionClosed:
        pass


async def echo(connection):
    async for message in connection:
        if message == "who":
            request = connection.request
            await connection.send(
                f"{request.path} {request.headers.get('X-Team')} {connection.subprotocol} "
                f"{request.headers.get('X-Forwarded-For')}"
            )
        elif message == "bye":
            await connection.close(4001, "done here")
        else:
            await connection.send(message)


class WebSocketServer:
    """A `websockets` server on its own event loop thread."""

    def __init__(self, port):
        self.port = port
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self):
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(timeout=10)

    async def _serve(self):
        self.server = await serve(
            session, "127.0.0.1", self.port, subprotocols=["chat.v2"], max_size=4 * 2**20
        )

    def stop(self):
        async def close():
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


class WebSocketThroughGatewayTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.procs = Processes()
        backend_port, cls.port = free_port(), free_port()
        cls.server = WebSocketServer(backend_port)
        cls.server.start()
        start_gateway(cls.procs, config(cls.port, backend_port))

    @classmethod
    def tearDownClass(cls):
        cls.procs.stop()
        cls.server.stop()

    def connect(self):
        return connect(
            f"ws://127.0.0.1:{self.port}/ws/room?x=1",
            subprotocols=["chat.v2"],
            additional_headers={"X-Team": "blue"},
            max_size=4 * 2**20,
            open_timeout=10,
        )

    def test_messages_of_every_kind_cross_unchanged(self):
        with self.connect() as ws:
            self.assertEqual(ws.subprotocol, "chat.v2")
            ws.send("hello")
            self.assertEqual(ws.recv(timeout=10), "hello")
            ws.send(b"\x00\x01binary\xff")
            self.assertEqual(ws.recv(timeout=10), b"\x00\x01binary\xff")
            big = bytes(range(256)) * 8192  # 2 MiB, many TCP segments each way
            ws.send(big)
            self.assertEqual(ws.recv(timeout=30), big)
            ws.ping(b"are you there").wait(timeout=10)

    def test_the_handshake_reaches_the_server_as_sent(self):
        with self.connect() as ws:
            ws.send("who")
            self.assertEqual(ws.recv(timeout=10), "/ws/room?x=1 blue chat.v2 127.0.0.1")

    def test_the_servers_close_code_reaches_the_client(self):
        with self.connect() as ws:
            ws.send("bye")
            with self.assertRaises(websockets.exceptions.ConnectionClosed) as closed:
                ws.recv(timeout=10)
            self.assertEqual(closed.exception.rcvd.code, 4001)
            self.assertEqual(closed.exception.rcvd.reason, "done here")

    def test_many_sockets_at_once(self):
        with contextlib.ExitStack() as stack:
            sockets = [stack.enter_context(self.connect()) for _ in range(20)]
            for i, ws in enumerate(sockets):
                ws.send(f"n{i}")
            for i, ws in enumerate(sockets):
                self.assertEqual(ws.recv(timeout=10), f"n{i}")


if __name__ == "__main__":
    unittest.main()
