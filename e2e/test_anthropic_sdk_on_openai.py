"""The official Anthropic Python SDK against an OpenAI-compatible backend (as when Claude Code
is pointed at a local Ollama through the gateway): Messages are translated to Chat
Completions and back, streams event by event."""

import unittest

import anthropic

from harness import PROVIDER_MOCK, Processes, free_port, start_gateway, wait_port
from test_openai_sdk import PROVIDER_KEY, config


class AnthropicSdkOnOpenAi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.procs = Processes()
        provider_port = free_port()
        cls.procs.start([PROVIDER_MOCK, "openai", str(provider_port), PROVIDER_KEY], "provider.log")
        wait_port(provider_port)
        port = free_port()
        start_gateway(cls.procs, config(port, provider_port))
        cls.client = anthropic.Anthropic(base_url=f"http://127.0.0.1:{port}/ollama", api_key="client-key", max_retries=0)

    @classmethod
    def tearDownClass(cls):
        cls.procs.stop()

    def test_message(self):
        message = self.client.messages.create(
            model="llama3.2", max_tokens=128, system="Be brief.", messages=[{"role": "user", "content": "Say hi"}]
        )
        self.assertEqual(message.role, "assistant")
        self.assertEqual(message.content[0].type, "text")
        self.assertTrue(message.content[0].text)
        self.assertEqual(message.usage.output_tokens, 214)

    def test_streamed_message(self):
        with self.client.messages.stream(
            model="llama3.2", max_tokens=128, messages=[{"role": "user", "content": "Say hi"}]
        ) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
        self.assertTrue(text)
        self.assertEqual(final.stop_reason, "end_turn")
        self.assertEqual(final.usage.output_tokens, 12)

    def test_streamed_tool_use(self):
        tools = [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}]
        with self.client.messages.stream(
            model="llama3.2", max_tokens=128, tools=tools, messages=[{"role": "user", "content": "Weather in Paris and London?"}]
        ) as stream:
            final = stream.get_final_message()
        uses = [block for block in final.content if block.type == "tool_use"]
        self.assertEqual(len(uses), 2)
        self.assertTrue(all(isinstance(u.input, dict) and u.input for u in uses))
        self.assertEqual(final.stop_reason, "tool_use")


if __name__ == "__main__":
    unittest.main()
