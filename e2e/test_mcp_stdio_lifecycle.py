"""stdio MCP targets live as long as their session: a reload that leaves their backend as it
was keeps them; one that changes it, and shutdown, kill their processes, never leaving
them behind."""

import os
import signal
import subprocess
import time
import unittest
import urllib.request

from harness import Processes, free_port, mcp_route_config, start_gateway
from mcp_tools import call, fixture, initialize


def config(port, marker, comment="", env="{}"):
    args = fixture("stdio", marker)  # the port argument only marks the process
    target = f'{{name: fixture, stdio: {{cmd: "{args[0]}", args: {args[1:]!r}, env: {env}}}}}'
    return f"# {comment}\n" + mcp_route_config(port, "local", f"[{target}]")


def reloads(metrics_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith('agentgateway_config_reloads_total{result="success"}'):
            return int(float(line.split()[-1]))
    return 0


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

    def test_a_reload_keeps_unchanged_backends_and_ends_changed_ones(self):
        _, metrics = start_gateway(self.procs, config(self.port, self.marker, "first"))
        session, _ = initialize(self.url)
        self.assertTrue(session)
        first = running(self.marker)
        self.assertEqual(len(first), 1, "one process for the session")
        # Only a comment changes: the backend, its session and its process go on.
        self.procs.write("gateway.yaml", config(self.port, self.marker, "second"))
        self.assertTrue(wait_until(lambda: reloads(metrics) >= 1), "the change is loaded")
        self.assertIn("result", call(self.url, session, 1, "ping", {}).response())
        self.assertEqual(running(self.marker), first, "the same process serves it")
        # The target's environment changes: the session ends with its process.
        self.procs.write("gateway.yaml", config(self.port, self.marker, "third", "{MODE: new}"))
        self.assertTrue(wait_until(lambda: reloads(metrics) >= 2), "the change is loaded")
        self.assertTrue(wait_until(lambda: not running(self.marker)), "the reload kills the process")
        self.assertEqual(call(self.url, session, 2, "ping", {}).status, 404)

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
