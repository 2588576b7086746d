"""stdio MCP targets live as long as their session: the gateway kills their processes on a
configuration reload and on shutdown, never leaving them behind."""

import os
import signal
import subprocess
import time
import unittest

from harness import Processes, free_port, mcp_route_config, start_gateway
from mcp_tools import fixture, initialize


def config(port, marker, comment=""):
    args = fixture("stdio", marker)  # the port argument only marks the process
    target = f'{{name: fixture, stdio: {{cmd: "{args[0]}", args: {args[1:]!r}}}}}'
    return f"# {comment}\n" + mcp_route_config(port, "local", f"[{target}]")


def running(marker):
    found = subprocess.run(["pgrep", "-f", "--", f"--port {marker}"], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def wait_until(predicate, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


class StdioLifecycleTest(unittest.TestCase):
    def setUp(self):
        self.procs = Processes()
        self.port = free_port()
        self.marker = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"

    def tearDown(self):
        for pid in running(self.marker):
            os.kill(pid, signal.SIGKILL)
        self.procs.stop()

    def test_a_reload_ends_the_sessions_and_their_processes(self):
        start_gateway(self.procs, config(self.port, self.marker, "first"))
        session, _ = initialize(self.url)
        self.assertTrue(session)
        self.assertEqual(len(running(self.marker)), 1, "one process for the session")
        self.procs.write("gateway.yaml", config(self.port, self.marker, "second"))
        self.assertTrue(wait_until(lambda: not running(self.marker)), "the reload kills the process")

    def test_shutdown_kills_the_processes(self):
        start_gateway(self.procs, config(self.port, self.marker))
        gateway = self.procs.children[-1][0]
        initialize(self.url)
        initialize(self.url)
        self.assertEqual(len(running(self.marker)), 2, "a process per session")
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(timeout=30)
        self.assertTrue(wait_until(lambda: not running(self.marker)), "no process outlives the gateway")


if __name__ == "__main__":
    unittest.main()
