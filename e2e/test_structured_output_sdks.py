"""Structured output through translated routes, driven by the official SDKs' own helpers
through the real gateway binary: the Anthropic SDK's `messages.parse(output_format=...)` on
Bedrock (asked of Claude through a forced tool), and the OpenAI SDK's
`chat.completions.parse` on Bedrock. (The OpenAI SDK on an Anthropic backend is in
test_openai_sdk_on_anthropic.py.)"""

import unittest

import anthropic
import openai
import pydantic

from harness import PROVIDER_MOCK, Processes, free_port, start_gateway, wait_port
from test_reasoning_sdks import bedrock_config


class Weather(pydantic.BaseModel):
    location: str
    unit: str


class StructuredOutputWithSdks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.procs = Processes()
        bedrock_port = free_port()
        cls.procs.start([PROVIDER_MOCK, "bedrock", str(bedrock_port)], "bedrock.log")
        wait_port(bedrock_port)
        port = free_port()
        start_gateway(cls.procs, bedrock_config(port, bedrock_port))
        base = f"http://127.0.0.1:{port}"
        cls.anthropic = anthropic.Anthropic(base_url=base, api_key="client-key", max_retries=0)
        cls.openai = openai.OpenAI(base_url=f"{base}/v1", api_key="client-key", max_retries=0)

    @classmethod
    def tearDownClass(cls):
        cls.procs.stop()

    def test_anthropic_sdk_parse_on_bedrock(self):
        message = self.anthropic.messages.parse(
            model="claude-test-model",
            max_tokens=512,
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            output_format=Weather,
        )
        self.assertEqual(message.parsed_output, Weather(location="Paris", unit="celsius"))
        self.assertEqual(message.stop_reason, "end_turn")

    def test_openai_sdk_parse_on_bedrock(self):
        completion = self.openai.chat.completions.parse(
            model="claude-test-model",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            response_format=Weather,
        )
        self.assertEqual(completion.choices[0].message.parsed, Weather(location="Paris", unit="celsius"))
        with self.openai.chat.completions.stream(
            model="claude-test-model",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            response_format=Weather,
        ) as stream:
            final = stream.get_final_completion()
        self.assertEqual(final.choices[0].message.parsed.location, "Paris")


if __name__ == "__main__":
    unittest.main()
