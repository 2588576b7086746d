"""The MCP gateway end to end: the official Python `mcp` SDK client and the MCP inspector
CLI, through the real gateway binary, to MCP servers nobody here wrote
(`@modelcontextprotocol/server-everything` over stdio, SSE and Streamable HTTP) and a
fixture server built on the official Python SDK, multiplexed behind one route."""

import asyncio
import base64
import json
import os
import re
import subprocess
import tempfile
import time
import unittest
import urllib.request

import mcp
from mcp import Client, ClientSession, types
from mcp.client.sse import sse_client

from harness import Processes, free_port, start_gateway, wait_port
from mcp_tools import INSPECTOR, NODE22, PYTHON, call, everything, fixture, initialize, post, send

GATEWAY_HEAD = """apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw}}
spec:
  gatewayClassName: agentgateway
  listeners: [{{name: http, port: {port}, protocol: HTTP}}]
"""


def backend(name, targets, extra=""):
    return f"""---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: {name}}}
spec:
  mcp:
{extra}    targets:
{targets}"""


def routes(*names):
    rules = "".join(
        f"""  - matches: [{{path: {{type: PathPrefix, value: /{n}}}}}]
    backendRefs: [{{group: agentgateway.dev, kind: AgentgatewayBackend, name: {n}}}]
"""
        for n in names
    )
    return f"""---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: mcp}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
{rules}"""


def http_target(name, port, protocol="StreamableHTTP"):
    return f"    - {{name: {name}, static: {{host: 127.0.0.1, port: {port}, protocol: {protocol}}}}}\n"


def stdio_target(name, args):
    return f"    - name: {name}\n      stdio: {{cmd: {json.dumps(args[0])}, args: {json.dumps(args[1:])}}}\n"


def text_of(result):
    return " ".join(c.text for c in result.content if isinstance(c, types.TextContent))


def rsa_jwks_and_token(sub, *others):
    """A fresh RSA key: its JWKS document and a token it signed (one per subject)."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = key.public_key().public_numbers()

    def b64(n):
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    jwks = {"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig", "n": b64(numbers.n), "e": b64(numbers.e)}]}
    tokens = [
        jwt.encode(
            {"iss": "https://issuer.test", "sub": who, "aud": "mcp", "exp": int(time.time()) + 600},
            key, algorithm="RS256", headers={"kid": "k1"},
        )
        for who in (sub, *others)
    ]
    return (json.dumps(jwks), *tokens)


async def all_tools(client, pages=None):
    """Every tool's name, following cursors; `pages` collects each page."""
    names, cursor = [], None
    while True:
        page = await client.list_tools(cursor=cursor)
        if pages is not None:
            pages.append(page)
        names += [t.name for t in page.tools]
        cursor = page.next_cursor
        if cursor is None:
            return names


class McpGatewayTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.procs = Processes()
        paged, sse, ev_http, ev_sse, stateless, cls.port = (free_port() for _ in range(6))
        # The fixture lists its tools 4 at a time, so the merged list needs cursors.
        cls.procs.start(fixture("streamable-http", paged, "--page-size", "4"), "fixture.log")
        cls.procs.start(fixture("sse", sse), "fixture-sse.log")
        cls.procs.start(fixture("streamable-http", stateless, "--stateless", "--json-response"), "fixture-stateless.log")
        args, env = everything("streamableHttp", ev_http)
        cls.procs.start(args, "everything-http.log", env)
        args, env = everything("sse", ev_sse)
        cls.procs.start(args, "everything-sse.log", env)
        for port in (paged, sse, ev_http, ev_sse, stateless):
            wait_port(port)
        everything_stdio, _ = everything("stdio")
        jwks, cls.alice, cls.bob = rsa_jwks_and_token("alice", "bob")
        _, cls.mallory = rsa_jwks_and_token("alice")
        jwks_path = cls.procs.write("jwks.json", jwks)
        closed = free_port()
        config = (
            GATEWAY_HEAD.format(port=cls.port)
            + backend("multi", http_target("fixture", paged) + stdio_target("everything", everything_stdio) + http_target("legacy", sse, "SSE"))
            + backend("everything", http_target("http", ev_http) + http_target("sse", ev_sse, "SSE"))
            + backend("guarded", http_target("fixture", paged))
            + backend("jwt", http_target("fixture", paged))
            + backend("failopen", http_target("fixture", paged) + http_target("down", closed), "    failureMode: FailOpen\n")
            + backend("crashy", stdio_target("fixture", fixture("stdio")))
            + backend("remote", http_target("fixture", paged) + http_target("http", ev_http))
            # A stateless route over a stateless server and a stateful one (server-everything
            # takes nothing before `initialize`): each request initializes the targets.
            + backend("stateless", http_target("one", stateless) + http_target("two", ev_http), "    sessionRouting: Stateless\n")
            + backend("passthrough", http_target("fixture", paged))
            + "  policies: {auth: {passthrough: {}}}\n"
            + routes("multi", "everything", "guarded", "jwt", "failopen", "crashy", "remote", "stateless", "passthrough")
            + f"""---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {{name: only-echo}}
spec:
  targetRefs: [{{group: agentgateway.dev, kind: AgentgatewayBackend, name: guarded}}]
  backend:
    mcp:
      authorization:
        policy: {{matchExpressions: ['has(mcp.tool) && mcp.tool.name == "echo"', 'has(mcp.prompt)', 'has(mcp.resource)']}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {{name: jwt}}
spec:
  targetRefs: [{{group: agentgateway.dev, kind: AgentgatewayBackend, name: jwt}}]
  traffic:
    jwtAuthentication:
      providers: [{{issuer: "https://issuer.test", audiences: [mcp], jwks: {{file: {jwks_path}}}}}]
  backend:
    mcp:
      authorization:
        policy: {{matchExpressions: ['jwt.sub == "alice" && has(mcp.tool) && mcp.tool.name == "add"']}}
"""
        )
        cls.key = os.urandom(32).hex()
        cls.admin, cls.metrics = start_gateway(cls.procs, config, env={"AGENTGATEWAY_MCP_SESSION_KEY": cls.key})
        cls.config = config

    @classmethod
    def tearDownClass(cls):
        cls.procs.stop()

    def url(self, route, suffix="/mcp"):
        return f"http://127.0.0.1:{self.port}/{route}{suffix}"

    def run_client(self, route, body, **options):
        async def main():
            async with Client(self.url(route), **options) as client:
                return await body(client)

        return asyncio.run(asyncio.wait_for(main(), 60))

    def test_tools_of_every_target_are_listed_prefixed_across_pages(self):
        pages = []

        async def body(client):
            return await all_tools(client, pages)

        names = self.run_client("multi", body)
        pages = len(pages)
        self.assertGreater(pages, 1, "the paged target needs several pages")
        for name in ["fixture_add", "fixture_echo", "fixture_exit_process", "everything_echo", "everything_get-sum", "legacy_add"]:
            self.assertIn(name, names)
        self.assertEqual(len(names), len(set(names)), "no tool listed twice")
        self.assertTrue(all(re.match(r"(fixture|everything|legacy)_", n) for n in names))

    def test_calls_prompts_and_resources_reach_their_target(self):
        async def body(client):
            add = await client.call_tool("fixture_add", {"a": 2, "b": 3})
            echo = await client.call_tool("everything_echo", {"message": "hi"})
            legacy = await client.call_tool("legacy_echo", {"message": "over sse"})
            prompt = await client.get_prompt("fixture_test_simple_prompt")
            prompts = await client.list_prompts()
            static = await client.read_resource("test://static-text")
            templated = await client.read_resource("test://template/123/data")
            resources = await client.list_resources()
            demo = next(r for r in resources.resources if str(r.uri).startswith("demo://"))
            demo_read = await client.read_resource(str(demo.uri))
            done = await client.complete(types.PromptReference(type="ref/prompt", name="fixture_test_prompt_with_arguments"), {"name": "arg1", "value": "pa"})
            return add, echo, legacy, prompt, prompts, static, templated, demo, demo_read, done

        add, echo, legacy, prompt, prompts, static, templated, demo, demo_read, done = self.run_client("multi", body)
        self.assertEqual(text_of(add), "5")
        self.assertEqual(text_of(echo), "Echo: hi")
        self.assertEqual(text_of(legacy), "over sse")
        self.assertIn("simple prompt", prompt.messages[0].content.text.lower())
        self.assertIn("everything_simple-prompt", [p.name for p in prompts.prompts])
        # URIs are not rewritten: each stays valid at its own server.
        self.assertEqual(str(static.contents[0].uri), "test://static-text")
        self.assertIn("123", static.contents[0].text + templated.contents[0].text)
        self.assertEqual(str(demo_read.contents[0].uri), str(demo.uri))
        self.assertIn("paris", done.completion.values)

    def test_progress_logging_and_sampling_travel_between_client_and_target(self):
        progress, logs, sampled = [], [], []

        async def on_log(params):
            logs.append(params)

        async def on_sample(context, params):
            sampled.append(params)
            return types.CreateMessageResult(
                role="assistant", content=types.TextContent(type="text", text="sampled by the client"), model="test-model", stop_reason="endTurn"
            )

        async def body(client):
            async def on_progress(value, total, message):
                progress.append(value)

            await client.call_tool("fixture_test_tool_with_progress", {}, progress_callback=on_progress)
            await client.call_tool("fixture_test_tool_with_logging", {})
            return await client.call_tool("fixture_test_sampling", {"prompt": "say hi"})

        result = self.run_client("multi", body, logging_callback=on_log, sampling_callback=on_sample)
        self.assertGreaterEqual(len(progress), 3, progress)
        self.assertEqual(progress, sorted(progress))
        self.assertGreaterEqual(len(logs), 3, logs)
        self.assertEqual(len(sampled), 1)
        self.assertIn("sampled by the client", text_of(result))

    def test_a_legacy_sse_client_is_served_too(self):
        async def main():
            async with sse_client(self.url("multi", "/sse")) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    tools = await session.list_tools()
                    add = await session.call_tool("fixture_add", {"a": 20, "b": 22})
                    return [t.name for t in tools.tools], add

        names, add = asyncio.run(asyncio.wait_for(main(), 60))
        self.assertIn("everything_echo", names)
        self.assertEqual(text_of(add), "42")

    def test_server_everything_over_streamable_http_and_sse(self):
        async def body(client):
            tools = await client.list_tools()
            summed = await client.call_tool("http_get-sum", {"a": 1, "b": 2})
            echoed = await client.call_tool("sse_echo", {"message": "x"})
            return [t.name for t in tools.tools], summed, echoed

        names, summed, echoed = self.run_client("everything", body)
        self.assertIn("http_echo", names)
        self.assertIn("sse_get-sum", names)
        self.assertIn("3", text_of(summed))
        self.assertEqual(text_of(echoed), "Echo: x")

    def test_authorization_filters_lists_and_refuses_calls(self):
        async def body(client):
            tools = await all_tools(client)
            echo = await client.call_tool("echo", {"message": "allowed"})
            try:
                await client.call_tool("add", {"a": 1, "b": 1})
            except mcp.MCPError as e:
                return tools, echo, e
            return tools, echo, None

        names, echo, denied = self.run_client("guarded", body)
        self.assertEqual(names, ["echo"], "one target: no prefix, and only the allowed tool")
        self.assertEqual(text_of(echo), "allowed")
        self.assertIsNotNone(denied, "the denied call must fail")
        self.assertIn("not allowed by the MCP authorization policy", str(denied))

    def test_jwt_protected_routes_point_to_their_oauth_metadata(self):
        url = self.url("jwt")
        answer = post(url, {"jsonrpc": "2.0", "id": 1, "method": "ping"})
        self.assertEqual(answer.status, 401)
        challenge = answer.headers["www-authenticate"]
        metadata_url = re.search(r'resource_metadata="([^"]+)"', challenge).group(1)
        self.assertEqual(metadata_url, f"http://127.0.0.1:{self.port}/.well-known/oauth-protected-resource/jwt/mcp")
        with urllib.request.urlopen(metadata_url, timeout=10) as r:
            document = json.load(r)
        self.assertEqual(document["resource"], url)
        self.assertEqual(document["authorization_servers"], ["https://issuer.test"])
        # A token from another key is refused; alice's token works, and her claims decide.
        self.assertEqual(post(url, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers={"authorization": f"Bearer {self.mallory}"}).status, 401)
        auth = {"authorization": f"Bearer {self.alice}"}
        session, _ = initialize(url, auth)
        names, cursor = [], None
        while True:
            listed = call(url, session, 2, "tools/list", {"cursor": cursor} if cursor else {}, auth).response()["result"]
            names += [t["name"] for t in listed["tools"]]
            cursor = listed.get("nextCursor")
            if not cursor:
                break
        self.assertEqual(names, ["add"])
        added = call(url, session, 3, "tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}}, auth).response()
        self.assertEqual(added["result"]["content"][0]["text"], "3")
        # Alice's session is hers: bob, with a valid token of his own, can neither use nor
        # end it, and it goes on working for her.
        bobs = {"authorization": f"Bearer {self.bob}"}
        self.assertEqual(call(url, session, 5, "ping", {}, bobs).status, 404)
        self.assertEqual(send(urllib.request.Request(url, method="DELETE", headers={"mcp-session-id": session, **bobs})).status, 404)
        self.assertIn("result", call(url, session, 6, "ping", {}, auth).response())
        # Completing a prompt's arguments uses the prompt, which the policy does not allow.
        completion = {"ref": {"type": "ref/prompt", "name": "test_prompt_with_arguments"}, "argument": {"name": "arg1", "value": "pa"}}
        refused = call(url, session, 4, "completion/complete", completion, auth).response()
        self.assertEqual(refused["error"]["code"], -32003, refused)

    def test_fail_open_serves_the_targets_that_are_up(self):
        async def body(client):
            return [t.name for t in (await client.list_tools()).tools], await client.call_tool("fixture_echo", {"message": "up"})

        names, echo = self.run_client("failopen", body)
        self.assertTrue(names and all(n.startswith("fixture_") for n in names), names)
        self.assertEqual(text_of(echo), "up")

    def test_bad_input_gets_json_rpc_errors_and_the_session_stays_usable(self):
        url = self.url("multi")
        session, result = initialize(url)
        self.assertTrue(session)
        self.assertEqual(result["result"]["serverInfo"]["name"], "agentgateway")
        unknown_method = call(url, session, 1, "nothing/here").response()
        self.assertEqual(unknown_method["error"]["code"], -32601)
        unknown_prefix = call(url, session, 2, "tools/call", {"name": "nowhere_add", "arguments": {}}).response()
        self.assertEqual(unknown_prefix["error"]["code"], -32602)
        self.assertIn("no target matches", unknown_prefix["error"]["message"])
        no_name = call(url, session, 3, "tools/call", {}).response()
        self.assertEqual(no_name["error"]["code"], -32602)
        invalid = send(urllib.request.Request(url, data=b"{oops", method="POST", headers={"content-type": "application/json", "mcp-session-id": session}))
        self.assertEqual(invalid.status, 400)
        self.assertEqual(json.loads(invalid.body)["error"]["code"], -32700)
        pong = call(url, session, 4, "ping").response()
        self.assertEqual(pong["result"], {})
        added = call(url, session, 5, "tools/call", {"name": "fixture_add", "arguments": {"a": 1, "b": 1}}).response()
        self.assertEqual(added["result"]["content"][0]["text"], "2")

    def test_a_stdio_target_that_dies_mid_call_is_reported_and_restarted(self):
        url = self.url("crashy")
        session, _ = initialize(url)
        died = call(url, session, 1, "tools/call", {"name": "exit_process", "arguments": {}}).response()
        self.assertEqual(died["error"]["code"], -32001)
        self.assertIn("closed the connection", died["error"]["message"])
        # The restart waits out a short backoff; the session (re-initialized) then works.
        for attempt in range(50):
            echoed = call(url, session, 10 + attempt, "tools/call", {"name": "echo", "arguments": {"message": "back"}}).response()
            if "result" in echoed:
                break
            time.sleep(0.1)
        self.assertEqual(echoed["result"]["content"][0]["text"], "back")

    def test_sessions_resume_on_another_replica_and_forgeries_are_refused(self):
        replica_port = free_port()
        replica = self.config.replace(f"port: {self.port}, protocol: HTTP", f"port: {replica_port}, protocol: HTTP", 1)
        start_gateway(self.procs, replica, name="replica", env={"AGENTGATEWAY_MCP_SESSION_KEY": self.key})
        url = self.url("remote")
        other = f"http://127.0.0.1:{replica_port}/remote/mcp"
        session, _ = initialize(url)
        added = call(other, session, 1, "tools/call", {"name": "http_get-sum", "arguments": {"a": 2, "b": 5}}).response()
        self.assertIn("result", added, added)
        self.assertIn("7", added["result"]["content"][0]["text"])
        tampered = session[:-2] + ("AA" if not session.endswith("AA") else "BB")
        refused = call(other, tampered, 2, "ping")
        self.assertEqual(refused.status, 404)
        self.assertIn("altered", refused.response()["error"]["message"])
        # A session with a stdio target lives in one process: another replica says so.
        local, _ = initialize(self.url("crashy"))
        elsewhere = call(f"http://127.0.0.1:{replica_port}/crashy/mcp", local, 3, "ping")
        self.assertEqual(elsewhere.status, 404)
        self.assertIn("stdio or SSE targets are gone", elsewhere.response()["error"]["message"])
        # DELETE ends it.
        ended = send(urllib.request.Request(self.url("crashy"), method="DELETE", headers={"mcp-session-id": local}))
        self.assertEqual(ended.status, 200)
        self.assertEqual(call(self.url("crashy"), local, 4, "ping").status, 404)

    def test_stateless_routing_serves_targets_without_sessions(self):
        url = self.url("stateless")
        answer = post(url, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}})
        self.assertEqual(answer.status, 200)
        self.assertNotIn("mcp-session-id", answer.headers, "stateless: no session id")
        listed = call(url, None, 1, "tools/list").response()["result"]["tools"]
        names = [t["name"] for t in listed]
        self.assertIn("one_add", names)
        self.assertIn("two_get-sum", names)
        added = call(url, None, 2, "tools/call", {"name": "two_get-sum", "arguments": {"a": 4, "b": 5}}).response()
        self.assertIn("9", added["result"]["content"][0]["text"])
        added = call(url, None, 3, "tools/call", {"name": "one_add", "arguments": {"a": 4, "b": 5}}).response()
        self.assertEqual(added["result"]["content"][0]["text"], "9")
        get = send(urllib.request.Request(url, headers={"accept": "text/event-stream"}))
        self.assertEqual(get.status, 405)

        async def body(client):
            return await client.call_tool("one_echo", {"message": "no session"})

        self.assertEqual(text_of(self.run_client("stateless", body)), "no session")

    def test_the_clients_credential_reaches_targets_only_when_passed_through(self):
        auth = {"authorization": "Bearer client-token"}
        for route, expected in [("passthrough", "Bearer client-token"), ("remote", "none")]:
            url = self.url(route)
            session, _ = initialize(url, auth)
            name = "whoami" if route == "passthrough" else "fixture_whoami"
            seen = call(url, session, 1, "tools/call", {"name": name, "arguments": {}}, auth).response()
            self.assertEqual(seen["result"]["content"][0]["text"], expected, route)
            # A later request without a credential does not travel with the earlier one's.
            bare = call(url, session, 2, "tools/call", {"name": name, "arguments": {}}).response()
            self.assertEqual(bare["result"]["content"][0]["text"], "none", route)

    def test_foreign_hosts_are_refused(self):
        answer = post(self.url("multi"), {"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers={"host": "attacker.example"})
        self.assertEqual(answer.status, 403)
        self.assertIn("DNS-rebinding", answer.response()["error"]["message"])

    def test_the_inspector_cli_lists_and_calls_through_the_gateway(self):
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "HOME": home}
            base = [NODE22, INSPECTOR, "--cli", self.url("multi"), "--transport", "http"]
            listed = subprocess.run(base + ["--method", "tools/list"], capture_output=True, text=True, timeout=120, env=env)
            self.assertEqual(listed.returncode, 0, listed.stderr)
            self.assertIn("fixture_add", listed.stdout)
            called = subprocess.run(base + ["--method", "tools/call", "--tool-name", "fixture_add", "--tool-arg", "a=19", "b=23"], capture_output=True, text=True, timeout=120, env=env)
            self.assertEqual(called.returncode, 0, called.stderr)
            self.assertIn('"text": "42"', called.stdout)

    def test_metrics_count_mcp_messages_by_method_target_and_tool(self):
        self.run_client("multi", lambda c: c.call_tool("fixture_echo", {"message": "count me"}))
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics}/metrics", timeout=10) as r:
            text = r.read().decode()
        self.assertRegex(text, r'agentgateway_mcp_requests_total\{backend="default/multi",method="tools/call",target="fixture",tool="echo"\} [1-9]')
        self.assertRegex(text, r'agentgateway_mcp_requests_total\{backend="default/multi",method="initialize",target="",tool=""\} [1-9]')
        # The access log names the method, target, tool and (a prefix of) the session.
        log = self.procs.log("gateway.log")
        self.assertRegex(log, r'mcp\.method="tools/call" mcp\.target="fixture" mcp\.tool="echo" mcp\.session="[A-Za-z0-9_-]{12}"')


if __name__ == "__main__":
    unittest.main()
