"""Reasoning through translated routes, driven by the official SDKs through the real
gateway binary: the OpenAI SDK on an Anthropic provider (reasoning_effort in, reasoning
content and signed thinking blocks out, sent back in a tool loop) and the Anthropic SDK on
Bedrock (Claude Code's `thinking` in, thinking blocks the SDK's own stream accumulator
rebuilds, replayed on the next turn). The provider mocks hold each request to the
provider's thinking rules."""

import json
import unittest

import anthropic
import openai

from harness import PROVIDER_MOCK, Processes, free_port, start_gateway, wait_port
from test_anthropic_sdk import PROVIDER_KEY
from test_anthropic_sdk import config as anthropic_config
from test_bedrock_signing import config as bedrock_gateway_config

WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}},
}


def bedrock_config(gateway_port, bedrock_port):
    """A gateway on a Bedrock backend pinning a Claude model that can think."""
    return bedrock_gateway_config(gateway_port, bedrock_port, "us.anthropic.claude-sonnet-4-5-20250929-v1:0")


class ReasoningWithSdks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.procs = Processes()
        anthropic_port, bedrock_port = free_port(), free_port()
        cls.procs.start([PROVIDER_MOCK, "anthropic", str(anthropic_port), PROVIDER_KEY], "anthropic.log")
        cls.procs.start([PROVIDER_MOCK, "bedrock", str(bedrock_port)], "bedrock.log")
        wait_port(anthropic_port)
        wait_port(bedrock_port)
        to_anthropic, to_bedrock = free_port(), free_port()
        start_gateway(cls.procs, anthropic_config(to_anthropic, anthropic_port, ""), name="to-anthropic")
        start_gateway(cls.procs, bedrock_config(to_bedrock, bedrock_port), name="to-bedrock")
        cls.openai = openai.OpenAI(
            base_url=f"http://127.0.0.1:{to_anthropic}/anthropic/v1", api_key="client-key", max_retries=0
        )
        cls.anthropic = anthropic.Anthropic(base_url=f"http://127.0.0.1:{to_bedrock}", api_key="client-key", max_retries=0)

    @classmethod
    def tearDownClass(cls):
        cls.procs.stop()

    def test_openai_sdk_tool_loop_keeps_claudes_thinking(self):
        question = {"role": "user", "content": "Weather in Paris?"}
        first = self.openai.chat.completions.create(
            model="claude-sonnet-4-5", messages=[question], tools=[WEATHER_TOOL], reasoning_effort="low"
        )
        message = first.choices[0].message
        extra = message.model_extra
        self.assertIn("get_weather tool", extra["reasoning_content"])
        self.assertEqual([b["type"] for b in extra["thinking_blocks"]], ["thinking", "redacted_thinking"])
        self.assertTrue(extra["thinking_blocks"][0]["signature"])
        # The SDK's message, dumped as applications keep it, goes back with the tool's result.
        result = {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "18C"}
        second = self.openai.chat.completions.create(
            model="claude-sonnet-4-5",
            messages=[question, message.model_dump(exclude_none=True), result],
            tools=[WEATHER_TOOL],
            reasoning_effort="low",
        )
        self.assertEqual(second.choices[0].finish_reason, "tool_calls")
        # Without the thinking Anthropic refuses the turn; the SDK raises its 400 with why.
        bare = message.model_dump(exclude_none=True)
        del bare["thinking_blocks"]
        with self.assertRaises(openai.BadRequestError) as refused:
            self.openai.chat.completions.create(
                model="claude-sonnet-4-5", messages=[question, bare, result], tools=[WEATHER_TOOL], reasoning_effort="low"
            )
        self.assertIn("thinking block", str(refused.exception))

    def test_openai_sdk_streams_reasoning_deltas(self):
        stream = self.openai.chat.completions.create(
            model="claude-sonnet-4-5",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[WEATHER_TOOL],
            reasoning_effort="medium",
            stream=True,
        )
        reasoning, blocks, arguments = "", [], ""
        for chunk in stream:
            for choice in chunk.choices:
                extra = choice.delta.model_extra or {}
                reasoning += extra.get("reasoning_content") or ""
                blocks += extra.get("thinking_blocks") or []
                for call in choice.delta.tool_calls or []:
                    arguments += call.function.arguments or ""
        self.assertTrue(reasoning.startswith("The user wants the weather in Paris."))
        self.assertEqual(blocks[0]["thinking"], reasoning)
        self.assertTrue(blocks[0]["signature"])
        self.assertEqual(json.loads(arguments), {"location": "Paris"})

    def test_openai_sdk_stream_helper_gathers_the_thinking_blocks(self):
        # The SDK's helper merges list entries of deltas by their `index`.
        with self.openai.chat.completions.stream(
            model="claude-sonnet-4-5",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[WEATHER_TOOL],
            reasoning_effort="low",
        ) as stream:
            final = stream.get_final_completion()
        message = final.choices[0].message
        blocks = message.model_extra["thinking_blocks"]
        self.assertEqual([b["type"] for b in blocks], ["thinking", "redacted_thinking"])
        self.assertTrue(blocks[0]["signature"])
        self.assertEqual(message.tool_calls[0].function.name, "get_weather")

    def test_anthropic_sdk_on_bedrock_thinks_and_replays_its_thinking(self):
        tools = [{"name": "get_weather", "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}}]
        question = {"role": "user", "content": "Weather in Paris?"}
        thinking = {"type": "enabled", "budget_tokens": 2048}
        with self.anthropic.messages.stream(
            model="claude-test-model", max_tokens=1024, thinking=thinking, tools=tools, messages=[question]
        ) as stream:
            final = stream.get_final_message()
        self.assertEqual([b.type for b in final.content], ["thinking", "redacted_thinking", "text", "tool_use"])
        self.assertIn("get_weather tool", final.content[0].thinking)
        self.assertTrue(final.content[0].signature.startswith("ErcB"))
        self.assertEqual(final.stop_reason, "tool_use")
        # The SDK's own content blocks go back as the assistant turn, as Claude Code sends them.
        tool_use = final.content[3]
        result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "18C"}]}
        again = self.anthropic.messages.create(
            model="claude-test-model",
            max_tokens=1024,
            thinking=thinking,
            tools=tools,
            messages=[question, {"role": "assistant", "content": final.content}, result],
        )
        self.assertEqual(again.content[0].type, "thinking")
        with self.assertRaises(anthropic.BadRequestError) as refused:
            self.anthropic.messages.create(
                model="claude-test-model",
                max_tokens=1024,
                thinking=thinking,
                tools=tools,
                messages=[question, {"role": "assistant", "content": final.content[2:]}, result],
            )
        self.assertIn("thinking block", str(refused.exception))


if __name__ == "__main__":
    unittest.main()
