"""The OpenAI and Anthropic SDKs on a Bedrock backend, through the real gateway binary, with
every request's SigV4 signature recomputed by botocore's own signer on the provider side."""

import json
import os
import sys
import unittest
import urllib.request

import anthropic
import openai

from harness import ROOT, Processes, free_port, start_gateway, wait_port

FIXTURES = os.path.join(os.path.dirname(ROOT), "shared", "fixtures", "providers")


def config(gateway_port, bedrock_port, model="anthropic.claude-3-haiku-20240307-v1:0"):
    """A gateway routing everything to a Bedrock backend on `bedrock_port` that pins
    `model`, with static keys and a session token from a Secret."""
    return f"""apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw}}
spec:
  gatewayClassName: agentgateway
  listeners: [{{name: http, port: {gateway_port}, protocol: HTTP}}]
---
apiVersion: v1
kind: Secret
metadata: {{name: aws-creds}}
stringData:
  accessKeyId: AKIDEXAMPLE
  secretAccessKey: wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
  sessionToken: FAKE-SESSION-TOKEN-EXAMPLE
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: bedrock}}
spec:
  ai:
    provider:
      bedrock: {{region: us-east-1, model: "{model}"}}
      host: 127.0.0.1
      port: {bedrock_port}
  policies:
    auth: {{aws: {{secretRef: {{name: aws-creds}}}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: bedrock}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
  - backendRefs: [{{group: agentgateway.dev, kind: AgentgatewayBackend, name: bedrock}}]
"""


class BedrockSigningTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.procs = Processes()
        cls.bedrock_port = free_port()
        mock = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bedrock_signature_mock.py")
        cls.procs.start([sys.executable, mock, str(cls.bedrock_port), FIXTURES], "bedrock.log")
        wait_port(cls.bedrock_port)
        # Asked for only once the mock holds its port, so the two cannot be the same.
        cls.port = free_port()
        start_gateway(cls.procs, config(cls.port, cls.bedrock_port))
        base = f"http://127.0.0.1:{cls.port}"
        cls.openai = openai.OpenAI(base_url=f"{base}/v1", api_key="client-key", max_retries=0)
        cls.anthropic = anthropic.Anthropic(base_url=base, api_key="client-key", max_retries=0)

    @classmethod
    def tearDownClass(cls):
        cls.procs.stop()

    def verified(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.bedrock_port}/verified") as r:
            return json.load(r)["verified"]

    def test_openai_sdk_request_is_signed_as_botocore_signs(self):
        before = self.verified()
        completion = self.openai.chat.completions.create(
            model="ignored", messages=[{"role": "user", "content": "What's the weather in Paris?"}]
        )
        self.assertEqual(completion.choices[0].message.role, "assistant")
        self.assertTrue(completion.choices[0].message.content)
        self.assertGreater(completion.usage.prompt_tokens, 0)
        self.assertEqual(self.verified(), before + 1)

    def test_openai_sdk_streams_a_signed_event_stream(self):
        before = self.verified()
        stream = self.openai.chat.completions.create(
            model="ignored",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
            stream=True,
            stream_options={"include_usage": True},
        )
        arguments, usage, finish = "", None, None
        for chunk in stream:
            if chunk.usage:
                usage = chunk.usage
            for choice in chunk.choices:
                finish = choice.finish_reason or finish
                for call in choice.delta.tool_calls or []:
                    arguments += call.function.arguments or ""
        self.assertEqual(json.loads(arguments)["location"], "Paris")
        self.assertEqual(finish, "tool_calls")
        self.assertEqual(usage.prompt_tokens, 1948)  # input plus cache reads, as OpenAI counts
        self.assertEqual(usage.prompt_tokens_details.cached_tokens, 1536)
        self.assertEqual(self.verified(), before + 1)

    def test_anthropic_sdk_reaches_bedrock(self):
        before = self.verified()
        message = self.anthropic.messages.create(
            model="ignored", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
        )
        self.assertEqual(message.type, "message")
        self.assertEqual(message.content[0].type, "text")
        with self.anthropic.messages.stream(
            model="ignored", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            final = stream.get_final_message()
        self.assertEqual(final.stop_reason, "tool_use")
        self.assertEqual(final.content[-1].input["location"], "Paris")
        self.assertEqual(self.verified(), before + 2)


if __name__ == "__main__":
    unittest.main()
