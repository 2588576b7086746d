"""The MCP conformance suite (`@modelcontextprotocol/conformance`, every server scenario)
run against the fixture server directly and through the gateway (one target, no prefix):
the gateway must not lose a scenario the server passes alone. Both counts are printed."""

import os
import subprocess
import unittest

from harness import ROOT, Processes, free_port, mcp_route_config, start_gateway, wait_port
from mcp_tools import fixture

CONFORMANCE = os.path.join(ROOT, "scripts", "run-conformance.sh")


def run_suite(url, name):
    """Scenario counts and the names of failed scenarios."""
    done = subprocess.run([CONFORMANCE, url, name, "--suite", "all"], capture_output=True, text=True, timeout=900, cwd=ROOT)
    line = next((l for l in done.stdout.splitlines() if l.startswith("conformance:")), None)
    if line is None:
        raise AssertionError(f"the conformance suite did not run: {done.stdout}{done.stderr}")
    failed = {l.split("failed: ", 1)[1] for l in done.stderr.splitlines() if "failed: " in l}
    print(f"\n  {name}: {line}")
    return line, failed


class ConformanceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.procs = Processes()
        server, cls.port = free_port(), free_port()
        cls.procs.start(fixture("streamable-http", server), "fixture.log")
        wait_port(server)
        cls.direct = f"http://127.0.0.1:{server}/mcp"
        target = f"{{name: fixture, static: {{host: 127.0.0.1, port: {server}}}}}"
        start_gateway(cls.procs, mcp_route_config(cls.port, "fixture", f"[{target}]"))

    @classmethod
    def tearDownClass(cls):
        cls.procs.stop()

    def test_the_gateway_loses_no_scenario_the_server_passes_alone(self):
        direct_line, direct_failed = run_suite(self.direct, "direct")
        gateway_line, gateway_failed = run_suite(f"http://127.0.0.1:{self.port}/mcp", "gateway")
        self.assertEqual(gateway_failed - direct_failed, set(), f"direct: {direct_line}; gateway: {gateway_line}")
        self.assertEqual(direct_line, gateway_line)


if __name__ == "__main__":
    unittest.main()
