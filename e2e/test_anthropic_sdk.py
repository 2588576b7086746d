"""The official Anthropic Python SDK against the real gateway binary, which routes to a mock
Anthropic provider (a separate process serving Anthropic's wire format)."""

import unittest

import anthropic

from harness import PROVIDER_MOCK, Processes, free_port, start_gateway, wait_port

PROVIDER_KEY = "sk-ant-provider-key"


def config(gateway_port, provider_port, model_line):
    return f"""apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw}}
spec:
  gatewayClassName: agentgateway
  listeners: [{{name: http, port: {gateway_port}, protocol: HTTP}}]
---
apiVersion: v1
kind: Secret
metadata: {{name: anthropic-key}}
stringData: {{api-key: {PROVIDER_KEY}}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: anthropic}}
spec:
  ai:
    provider:
      anthropic: {{{model_line}}}
      host: 127.0.0.1
      port: {provider_port}
  policies:
    auth: {{secretRef: {{name: anthropic-key}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: anthropic}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
  - matches: [{{path: {{type: PathPrefix, value: /anthropic}}}}]
    backendRefs: [{{group: agentgateway.dev, kind: AgentgatewayBackend, name: anthropic}}]
"""


class AnthropicSdkThroughGateway(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.procs = Processes()
        provider_port = free_port()
        cls.procs.start([PROVIDER_MOCK, "anthropic", str(provider_port), PROVIDER_KEY], "provider.log")
        wait_port(provider_port)
        cls.port = free_port()
        start_gateway(cls.procs, config(cls.port, provider_port, ""))
        cls.client = anthropic.Anthropic(base_url=f"http://127.0.0.1:{cls.port}/anthropic", api_key="client-key", max_retries=0)

    @classmethod
    def tearDownClass(cls):
        cls.procs.stop()

    def test_message(self):
        message = self.client.messages.create(
            model="claude-test-model", max_tokens=256, messages=[{"role": "user", "content": "Say hi"}]
        )
        self.assertEqual(message.role, "assistant")
        self.assertTrue(message.content)
        self.assertEqual(message.usage.output_tokens, 19)

    def test_streamed_message(self):
        with self.client.messages.stream(
            model="claude-test-model", max_tokens=256, messages=[{"role": "user", "content": "Say hi"}]
        ) as stream:
            events = [event.type for event in stream]
            final = stream.get_final_message()
        self.assertEqual(events[0], "message_start")
        self.assertIn("content_block_delta", events)
        self.assertEqual(final.usage.output_tokens, 74)

    def test_tool_use(self):
        tools = [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
        message = self.client.messages.create(
            model="claude-test-model", max_tokens=256, tools=tools, messages=[{"role": "user", "content": "Weather in Paris?"}]
        )
        self.assertEqual(message.stop_reason, "tool_use")
        uses = [block for block in message.content if block.type == "tool_use"]
        self.assertTrue(uses and isinstance(uses[0].input, dict))

    def test_streamed_tool_use_input_reassembles(self):
        tools = [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}]
        with self.client.messages.stream(
            model="claude-test-model", max_tokens=256, tools=tools, messages=[{"role": "user", "content": "Weather?"}]
        ) as stream:
            final = stream.get_final_message()
        uses = [block for block in final.content if block.type == "tool_use"]
        self.assertTrue(uses and isinstance(uses[0].input, dict))
        self.assertEqual(final.stop_reason, "tool_use")

    def test_missing_max_tokens_is_a_bad_request(self):
        with self.assertRaises(anthropic.BadRequestError) as raised:
            self.client.post(
                "/v1/messages",
                body={"model": "claude-test-model", "messages": [{"role": "user", "content": "hi"}]},
                cast_to=object,
            )
        self.assertIn("max_tokens", str(raised.exception))

    def test_unknown_model_is_not_found(self):
        with self.assertRaises(anthropic.NotFoundError) as raised:
            self.client.messages.create(
                model="missing-model", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
            )
        self.assertIn("missing-model", str(raised.exception))

    def test_broken_or_cut_short_streams_raise(self):
        for model, says in [("break-stream", "broke off"), ("cut-stream", "cut short")]:
            with self.subTest(model=model):
                with self.assertRaises(anthropic.APIStatusError) as raised:
                    with self.client.messages.stream(
                        model=model, max_tokens=16, messages=[{"role": "user", "content": "hi"}]
                    ) as stream:
                        for _ in stream:
                            pass
                self.assertIn(says, str(raised.exception))


if __name__ == "__main__":
    unittest.main()
