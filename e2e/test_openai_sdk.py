"""The official OpenAI Python SDK against the real gateway binary, which routes to a mock
OpenAI provider (a separate process serving OpenAI's wire format)."""

import json
import time
import unittest
import urllib.request

import openai

from harness import PROVIDER_MOCK, Processes, free_port, start_gateway, wait_port

PROVIDER_KEY = "sk-provider-key"


def config(gateway_port, provider_port):
    def backend(name, model_line):
        return f"""
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: {name}}}
spec:
  ai:
    provider:
      openai: {{{model_line}}}
      host: 127.0.0.1
      port: {provider_port}
  policies:
    auth: {{secretRef: {{name: provider-key}}}}
"""

    def route(name, prefix):
        return f"""
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
  - matches: [{{path: {{type: PathPrefix, value: {prefix}}}}}]
    backendRefs: [{{group: agentgateway.dev, kind: AgentgatewayBackend, name: {name}}}]
"""

    return f"""apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw}}
spec:
  gatewayClassName: agentgateway
  listeners: [{{name: http, port: {gateway_port}, protocol: HTTP}}]
---
apiVersion: v1
kind: Secret
metadata: {{name: provider-key}}
stringData: {{api-key: {PROVIDER_KEY}}}
""" + backend("ollama", "") + route("ollama", "/ollama") + backend("pinned", "model: missing-model") + route("pinned", "/pinned") + backend("budget", "") + route("budget", "/budget") + """
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: budget}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: budget}]
  traffic:
    rateLimit:
      local: [{tokens: 2000, unit: Hours}]
"""


class OpenAiSdkThroughGateway(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.procs = Processes()
        provider_port = free_port()
        cls.procs.start([PROVIDER_MOCK, "openai", str(provider_port), PROVIDER_KEY], "provider.log")
        wait_port(provider_port)
        cls.port = free_port()
        cls.admin, cls.metrics = start_gateway(cls.procs, config(cls.port, provider_port))
        # The client's own key is for the gateway; the provider only accepts the backend's.
        cls.client = openai.OpenAI(base_url=f"http://127.0.0.1:{cls.port}/ollama/v1", api_key="client-key", max_retries=0)

    @classmethod
    def tearDownClass(cls):
        cls.procs.stop()

    def test_chat_completion(self):
        completion = self.client.chat.completions.create(
            model="llama3.2", messages=[{"role": "user", "content": "Say hi"}], temperature=0.2
        )
        self.assertTrue(completion.choices[0].message.content)
        self.assertEqual(completion.usage.prompt_tokens, 1418)
        self.assertEqual(completion.usage.prompt_tokens_details.cached_tokens, 1280)

    def test_streamed_chat_completion(self):
        stream = self.client.chat.completions.create(
            model="llama3.2",
            messages=[{"role": "user", "content": "Say hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        text, usage, finish = "", None, None
        for chunk in stream:
            for choice in chunk.choices:
                text += choice.delta.content or ""
                finish = choice.finish_reason or finish
            usage = chunk.usage or usage
        self.assertTrue(text)
        self.assertEqual(finish, "stop")
        self.assertEqual(usage.completion_tokens, 12)

    def test_streamed_tool_call_arguments_reassemble(self):
        tools = [{
            "type": "function",
            "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
        }]
        stream = self.client.chat.completions.create(
            model="llama3.2", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=tools, stream=True
        )
        calls, finish = {}, None
        for chunk in stream:
            for choice in chunk.choices:
                for call in choice.delta.tool_calls or []:
                    name, arguments = calls.get(call.index, (None, ""))
                    calls[call.index] = (call.function.name or name, arguments + (call.function.arguments or ""))
                finish = choice.finish_reason or finish
        self.assertTrue(calls)
        for name, arguments in calls.values():
            self.assertEqual(name, "get_weather")
            self.assertIsInstance(json.loads(arguments), dict)
        self.assertEqual(finish, "tool_calls")

    def test_tool_call_response(self):
        tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
        completion = self.client.chat.completions.create(
            model="llama3.2", messages=[{"role": "user", "content": "Weather?"}], tools=tools
        )
        call = completion.choices[0].message.tool_calls[0]
        self.assertTrue(call.function.name)
        self.assertIsInstance(json.loads(call.function.arguments), dict)

    def test_models_list(self):
        models = self.client.models.list()
        self.assertTrue(len(models.data) > 0)

    def test_invalid_request_is_a_bad_request_error_naming_the_field(self):
        with self.assertRaises(openai.BadRequestError) as raised:
            self.client.chat.completions.create(model="llama3.2", messages=[])
        self.assertEqual(raised.exception.status_code, 400)
        self.assertEqual(raised.exception.param, "messages")

    def test_unknown_model_is_a_not_found_error_naming_the_model(self):
        pinned = openai.OpenAI(base_url=f"http://127.0.0.1:{self.port}/pinned/v1", api_key="x", max_retries=0)
        with self.assertRaises(openai.NotFoundError) as raised:
            pinned.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        self.assertIn("missing-model", str(raised.exception))
        self.assertEqual(raised.exception.code, "model_not_found")

    def test_broken_or_cut_short_streams_raise_instead_of_ending_quietly(self):
        for model, says in [("break-stream", "broke off"), ("cut-stream", "cut short")]:
            with self.subTest(model=model):
                stream = self.client.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": "hi"}], stream=True
                )
                with self.assertRaises(openai.APIError) as raised:
                    for _ in stream:
                        pass
                self.assertIn(says, str(raised.exception))

    def test_a_request_that_can_never_fit_its_budget_is_not_retried_by_the_sdk(self):
        retrying = openai.OpenAI(base_url=f"http://127.0.0.1:{self.port}/budget/v1", api_key="client-key", max_retries=3)
        with self.assertRaises(openai.RateLimitError) as refused:
            retrying.chat.completions.create(
                model="llama3.2", max_tokens=5000, messages=[{"role": "user", "content": "hi"}]
            )
        self.assertIn("more than the token budget can ever hold", str(refused.exception))
        # The SDK has made every attempt by the time it raises; their log lines may lag.
        def attempts():
            return [line for line in self.procs.log("gateway.log").splitlines() if "/budget/v1/chat/completions" in line]
        deadline = time.time() + 5
        while not attempts() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        self.assertEqual(len(attempts()), 1, "x-should-retry: false stops the SDK's retries")

    def test_access_log_names_models_and_tokens(self):
        self.client.chat.completions.create(model="llama3.2", messages=[{"role": "user", "content": "log me"}])
        log = self.procs.log("gateway.log")
        lines = [line for line in log.splitlines() if 'gen_ai.request.model="llama3.2"' in line]
        self.assertTrue(lines, log[-2000:])
        self.assertIn("gen_ai.usage.input_tokens=1418", lines[-1])
        self.assertIn('gen_ai.response.model="o4-mini-2025-04-16"', lines[-1])

    def access_lines(self, model, wanted="", timeout=10.0):
        """The gateway's access-log lines for requests naming `model`, once one holds `wanted`."""
        deadline = time.time() + timeout
        while True:
            lines = [line for line in self.procs.log("gateway.log").splitlines() if f'gen_ai.request.model="{model}"' in line]
            if any(wanted in line for line in lines) or time.time() > deadline:
                return lines
            time.sleep(0.05)

    def test_a_stream_the_client_closes_is_logged_as_client_gone_under_its_model(self):
        stream = self.client.chat.completions.create(
            model="stall-stream", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        first = next(iter(stream))
        self.assertEqual(first.model, "gpt-4o-mini-2024-07-18")
        stream.close()
        lines = self.access_lines("stall-stream", "outcome=")
        self.assertTrue(lines, "the left stream is logged")
        self.assertIn('outcome="client_gone"', lines[-1])
        self.assertIn('gen_ai.response.model="gpt-4o-mini-2024-07-18"', lines[-1])
        self.assertNotIn("gen_ai.usage.input_tokens=0", lines[-1], "no usage was reported, so none is logged")

    def test_a_stream_the_provider_breaks_is_logged_as_such(self):
        stream = self.client.chat.completions.create(
            model="break-stream", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        with self.assertRaises(openai.APIError):
            for _ in stream:
                pass
        lines = self.access_lines("break-stream", "outcome=")
        self.assertTrue(lines)
        self.assertIn('outcome="upstream_reset"', lines[-1])

    def test_streams_that_do_not_ask_for_usage_are_counted_without_seeing_it(self):
        stream = self.client.chat.completions.create(
            model="no-usage-asked", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        chunks = list(stream)
        self.assertTrue(chunks)
        self.assertTrue(all(chunk.usage is None for chunk in chunks), "the SDK sees no usage it did not ask for")
        self.assertTrue(all(chunk.choices for chunk in chunks))
        lines = self.access_lines("no-usage-asked", "outcome=")
        self.assertIn("gen_ai.usage.output_tokens=12", lines[-1])

    def test_token_usage_reaches_the_metrics(self):
        self.client.chat.completions.create(model="llama3.2", messages=[{"role": "user", "content": "hi"}])
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics}/metrics") as r:
            text = r.read().decode()
        self.assertIn('gen_ai_client_token_usage_count{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="llama3.2"', text)


if __name__ == "__main__":
    unittest.main()
