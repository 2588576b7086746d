"""gRPC through the real binary: the official `grpcio` client and server on either side of
a route to an HTTP/2 static backend. Every call shape, status codes with their details,
trailing metadata, large messages and deadlines must cross the gateway as they do direct,
and a call the client abandons is still logged."""

import time
import unittest
from concurrent import futures

import grpc

from harness import Processes, free_port, start_gateway, static_route_config

LIMIT = 64 << 20
OPTIONS = [("grpc.max_receive_message_length", LIMIT), ("grpc.max_send_message_length", LIMIT)]


def config(gateway_port, backend_port):
    return static_route_config(gateway_port, backend_port, policies="    http: {version: HTTP2}\n")


def echo(request, context):
    if request == b"refuse":
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "not for you")
    context.set_trailing_metadata((("x-served-by", "backend"),))
    return b"echo:" + request


def count(request, context):
    for i in range(5):
        yield b"part%d" % i


def join(requests, context):
    return b"".join(requests)


def slow(request, context):
    time.sleep(3)
    return b"late"


def serve(port):
    handlers = grpc.method_handlers_generic_handler("test.Svc", {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "Count": grpc.unary_stream_rpc_method_handler(count),
        "Join": grpc.stream_unary_rpc_method_handler(join),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
    })
    server = grpc.server(futures.ThreadPoolExecutor(8), options=OPTIONS)
    server.add_generic_rpc_handlers((handlers,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server


class GrpcThroughGatewayTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.procs = Processes()
        backend_port, cls.port = free_port(), free_port()
        cls.server = serve(backend_port)
        start_gateway(cls.procs, config(cls.port, backend_port))
        cls.channel = grpc.insecure_channel(f"127.0.0.1:{cls.port}", options=OPTIONS)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.procs.stop()
        cls.server.stop(grace=None)

    def test_every_call_shape_with_trailers(self):
        echo_call = self.channel.unary_unary("/test.Svc/Echo")
        answer, call = echo_call.with_call(b"hi", timeout=10)
        self.assertEqual(answer, b"echo:hi")
        self.assertIn(("x-served-by", "backend"), [(m.key, m.value) for m in call.trailing_metadata()])
        parts = list(self.channel.unary_stream("/test.Svc/Count")(b"", timeout=10))
        self.assertEqual(parts, [b"part%d" % i for i in range(5)])
        joined = self.channel.stream_unary("/test.Svc/Join")(iter([b"a", b"b", b"c"]), timeout=10)
        self.assertEqual(joined, b"abc")

    def test_status_codes_and_details_reach_the_client(self):
        with self.assertRaises(grpc.RpcError) as refused:
            self.channel.unary_unary("/test.Svc/Echo")(b"refuse", timeout=10)
        self.assertEqual(refused.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertEqual(refused.exception.details(), "not for you")

    def test_large_messages_both_ways(self):
        big = bytes(range(256)) * (32 << 10)  # 8 MiB, many HTTP/2 frames and window updates
        self.assertEqual(self.channel.unary_unary("/test.Svc/Echo")(big, timeout=30), b"echo:" + big)

    def test_an_abandoned_call_is_logged_as_the_client_closing_it(self):
        with self.assertRaises(grpc.RpcError) as late:
            self.channel.unary_unary("/test.Svc/Slow")(b"", timeout=1)
        self.assertEqual(late.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        deadline = time.time() + 10
        while time.time() < deadline:
            lines = [line for line in self.procs.log("gateway.log").splitlines() if "/test.Svc/Slow" in line]
            if lines:
                break
            time.sleep(0.1)
        self.assertTrue(lines, "the abandoned call is logged")
        self.assertIn("status=499", lines[0])
        self.assertIn('outcome="client_gone"', lines[0])


if __name__ == "__main__":
    unittest.main()
