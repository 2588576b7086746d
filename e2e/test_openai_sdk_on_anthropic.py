"""The official OpenAI Python SDK against an Anthropic backend: the gateway translates Chat
Completions to Messages and back (responses, streams, tool calls, errors)."""

import json
import unittest

import openai
import pydantic

from harness import PROVIDER_MOCK, Processes, free_port, start_gateway, wait_port
from test_anthropic_sdk import PROVIDER_KEY, config


class OpenAiSdkOnAnthropic(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.procs = Processes()
        provider_port = free_port()
        cls.procs.start([PROVIDER_MOCK, "anthropic", str(provider_port), PROVIDER_KEY], "provider.log")
        wait_port(provider_port)
        port = free_port()
        start_gateway(cls.procs, config(port, provider_port, ""))
        cls.client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/anthropic/v1", api_key="client-key", max_retries=0)

    @classmethod
    def tearDownClass(cls):
        cls.procs.stop()

    def test_chat_completion(self):
        completion = self.client.chat.completions.create(
            model="claude-test-model",
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"}],
        )
        self.assertTrue(completion.choices[0].message.content)
        self.assertEqual(completion.choices[0].finish_reason, "stop")
        self.assertEqual(completion.usage.completion_tokens, 19)

    def test_streamed_tool_calls(self):
        tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
        stream = self.client.chat.completions.create(
            model="claude-test-model",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=tools,
            stream=True,
            stream_options={"include_usage": True},
        )
        calls, finish, usage = {}, None, None
        for chunk in stream:
            usage = chunk.usage or usage
            for choice in chunk.choices:
                for call in choice.delta.tool_calls or []:
                    name, arguments = calls.get(call.index, (None, ""))
                    calls[call.index] = (call.function.name or name, arguments + (call.function.arguments or ""))
                finish = choice.finish_reason or finish
        self.assertEqual(finish, "tool_calls")
        self.assertTrue(calls)
        for name, arguments in calls.values():
            self.assertEqual(name, "get_weather")
            self.assertIsInstance(json.loads(arguments), dict)
        self.assertEqual(usage.completion_tokens, 74)

    def test_structured_output_through_the_sdks_parse_helpers(self):
        class Weather(pydantic.BaseModel):
            location: str

        question = [{"role": "user", "content": "Weather in Paris?"}]
        completion = self.client.chat.completions.parse(
            model="claude-test-model", messages=question, response_format=Weather
        )
        self.assertEqual(completion.choices[0].finish_reason, "stop")
        self.assertEqual(completion.choices[0].message.parsed.location, "Paris")
        self.assertFalse(completion.choices[0].message.tool_calls)
        with self.client.chat.completions.stream(
            model="claude-test-model", messages=question, response_format=Weather
        ) as stream:
            final = stream.get_final_completion()
        self.assertEqual(final.choices[0].message.parsed.location, "Paris")

    def test_unknown_model_is_not_found(self):
        with self.assertRaises(openai.NotFoundError) as raised:
            self.client.chat.completions.create(model="missing-model", messages=[{"role": "user", "content": "hi"}])
        self.assertIn("missing-model", str(raised.exception))


if __name__ == "__main__":
    unittest.main()
