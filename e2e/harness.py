"""Starts the real gateway binary (and the mock OpenAI provider process) for SDK tests.

Everything listens on 127.0.0.1 on free ports and is stopped when the test class ends.
"""

import os
import socket
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
GATEWAY = os.path.join(TARGET, "debug", "agentgateway")
PROVIDER_MOCK = os.path.join(TARGET, "debug", "provider-mock")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not become ready")


def wait_port(port, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class Processes:
    """The processes of one test class, stopped together."""

    def __init__(self):
        self.children = []
        self.dir = tempfile.TemporaryDirectory()

    def start(self, args, log_name, env=None):
        log = open(os.path.join(self.dir.name, log_name), "w")
        child_env = None if env is None else {**os.environ, **env}
        child = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=child_env)
        self.children.append((child, log))
        return child

    def log(self, log_name):
        with open(os.path.join(self.dir.name, log_name)) as f:
            return f.read()

    def write(self, name, text):
        path = os.path.join(self.dir.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def stop(self):
        for child, log in self.children:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
            log.close()
        self.dir.cleanup()


def gateway_config(port):
    """A Gateway `gw` with one HTTP listener on `port`."""
    return f"""apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw}}
spec:
  gatewayClassName: agentgateway
  listeners: [{{name: http, port: {port}, protocol: HTTP}}]
"""


def static_route_config(port, backend_port, policies="", path="/"):
    """`gateway_config(port)` with a route for `path` to a static backend `app` on
    `backend_port`, whose `policies` are given as YAML lines indented by 4."""
    return gateway_config(port) + f"""---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: app}}
spec:
  static: {{host: 127.0.0.1, port: {backend_port}}}
{"  policies:" + chr(10) + policies if policies else ""}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: app}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
  - matches: [{{path: {{type: PathPrefix, value: {path}}}}}]
    backendRefs: [{{group: agentgateway.dev, kind: AgentgatewayBackend, name: app}}]
"""


def mcp_route_config(port, backend, targets):
    """A Gateway on `port` with one route to the MCP backend `backend`, whose `targets` are
    given as a YAML flow sequence."""
    return gateway_config(port) + f"""---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: {backend}}}
spec:
  mcp:
    targets: {targets}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: mcp}}
spec:
  parentRefs: [{{name: gw}}]
  rules: [{{backendRefs: [{{group: agentgateway.dev, kind: AgentgatewayBackend, name: {backend}}}]}}]
"""


def start_gateway(procs, config_text, name="gateway", env=None):
    """Runs `agentgateway run -f` on the config; returns (admin port, metrics port)."""
    admin, metrics, ready = free_port(), free_port(), free_port()
    path = procs.write(f"{name}.yaml", config_text)
    procs.start(
        [GATEWAY, "run", "-f", path, "--bind", "127.0.0.1",
         "--admin-addr", f"127.0.0.1:{admin}", "--metrics-addr", f"127.0.0.1:{metrics}",
         "--readiness-addr", f"127.0.0.1:{ready}"],
        f"{name}.log",
        env,
    )
    wait_http(f"http://127.0.0.1:{ready}/healthz/ready")
    return admin, metrics
