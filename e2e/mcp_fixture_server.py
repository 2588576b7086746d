"""A fixture MCP server for the gateway's end-to-end tests, built on the official Python SDK.

It serves what the MCP conformance suite's server scenarios call for (tools, resources,
resource templates, subscriptions, prompts, completion, logging, progress, sampling,
elicitation, SSE resumability, DNS-rebinding protection) plus two plain tools for gateway
tests: `add` and `echo`.

    python e2e/mcp_fixture_server.py --transport streamable-http --port 8931   # POST/GET /mcp
    python e2e/mcp_fixture_server.py --transport sse --port 8932               # GET /sse, POST /messages/
    python e2e/mcp_fixture_server.py --transport stdio

HTTP transports bind 127.0.0.1 only, and reject a Host or Origin that is not loopback.
`--json-response` makes Streamable HTTP answer POSTs with plain JSON instead of SSE.

Both protocol eras of the SDK are served: the initialize handshake (2024-11-05 to
2025-11-25) and the per-request envelope of 2026-07-28 that `server/discover` opens. On the
latter, sampling and elicitation travel as an InputRequiredResult the client answers by
retrying the call, since that revision has no server-to-client requests.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import re
import struct
import sys
import warnings
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp.types.version import MODERN_PROTOCOL_VERSIONS

# Logging and sampling are deprecated in the 2026-07-28 revision, yet the conformance suite
# (2025-11-25) exercises both: serve them without a warning on every call.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)

HOST = "127.0.0.1"
SERVER_NAME = "mcp-fixture-server"


# --- small binary payloads, made here rather than shipped ---------------------------------


def _png_1x1_red() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # filter byte + one red pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _wav_silence(samples: int = 800, rate: int = 8000) -> bytes:
    data = b"\x00\x00" * samples  # 16-bit mono silence, 0.1 s
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )


PNG_B64 = base64.b64encode(_png_1x1_red()).decode()
WAV_B64 = base64.b64encode(_wav_silence()).decode()


# --- resumability: an in-memory event store for Streamable HTTP ---------------------------


class MemoryEventStore(EventStore):
    """Keeps every SSE event in memory, in order, so a client can resume with Last-Event-ID."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._events: list[tuple[EventId, StreamId, types.JSONRPCMessage | None]] = []

    async def store_event(self, stream_id: StreamId, message: types.JSONRPCMessage | None) -> EventId:
        event_id = str(next(self._counter))
        self._events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        position = next((i for i, (eid, _, _) in enumerate(self._events) if eid == last_event_id), None)
        if position is None:
            return None
        stream_id = self._events[position][1]
        for event_id, sid, message in self._events[position + 1 :]:
            if sid == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream_id


# --- per-session state ------------------------------------------------------------------

LOG_LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
_log_levels: dict[str, str] = {}
_subscriptions: dict[str, set[str]] = {}


def _session_key(ctx: Any) -> str:
    """Streamable HTTP: the mcp-session-id; SSE: the session_id query parameter; stdio: one."""
    request = ctx.request
    headers = getattr(request, "headers", None)
    if headers is not None and headers.get("mcp-session-id"):
        return headers["mcp-session-id"]
    query = getattr(request, "query_params", None)
    if query is not None and query.get("session_id"):
        return query["session_id"]
    return "default"


async def _log(ctx: Any, level: str, message: str) -> None:
    threshold = _log_levels.get(_session_key(ctx), "debug")
    if LOG_LEVELS.index(level) < LOG_LEVELS.index(threshold):
        return
    await ctx.session.send_log_message(level, message, logger=SERVER_NAME, related_request_id=ctx.request_id)


DONE = "Elicitation completed: "


def _text(text: str) -> types.TextContent:
    return types.TextContent(type="text", text=text)


# --- tools --------------------------------------------------------------------------------

NO_ARGS: dict[str, Any] = {"type": "object", "properties": {}}
JSON_SCHEMA_2020_12 = "https://json-schema.org/draft/2020-12/schema"

TOOLS = [
    types.Tool(name="test_simple_text", description="Returns a simple text response", input_schema=NO_ARGS),
    types.Tool(name="test_image_content", description="Returns a 1x1 red PNG image", input_schema=NO_ARGS),
    types.Tool(name="test_audio_content", description="Returns a short WAV clip", input_schema=NO_ARGS),
    types.Tool(name="test_embedded_resource", description="Returns an embedded text resource", input_schema=NO_ARGS),
    types.Tool(
        name="test_multiple_content_types",
        description="Returns text, image and embedded resource content",
        input_schema=NO_ARGS,
    ),
    types.Tool(
        name="test_tool_with_logging", description="Sends three info log notifications", input_schema=NO_ARGS
    ),
    types.Tool(
        name="test_tool_with_progress", description="Reports progress 0, 50 and 100 of 100", input_schema=NO_ARGS
    ),
    types.Tool(name="test_error_handling", description="Always returns a tool error", input_schema=NO_ARGS),
    types.Tool(
        name="test_sampling",
        description="Asks the client to sample an LLM completion",
        input_schema={
            "type": "object",
            "properties": {"prompt": {"type": "string", "description": "The prompt to send to the LLM"}},
            "required": ["prompt"],
        },
    ),
    types.Tool(
        name="test_elicitation",
        description="Asks the client for a username and an email address",
        input_schema={
            "type": "object",
            "properties": {"message": {"type": "string", "description": "The message to show the user"}},
            "required": ["message"],
        },
    ),
    types.Tool(
        name="test_elicitation_sep1034_defaults",
        description="Elicitation whose schema carries default values for every primitive type",
        input_schema=NO_ARGS,
    ),
    types.Tool(
        name="test_elicitation_sep1330_enums",
        description="Elicitation whose schema carries the five enum variants",
        input_schema=NO_ARGS,
    ),
    types.Tool(
        name="json_schema_2020_12_tool",
        description="Tool with JSON Schema 2020-12 features",
        input_schema={
            "$schema": JSON_SCHEMA_2020_12,
            "type": "object",
            "$defs": {
                "address": {
                    "type": "object",
                    "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
                }
            },
            "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
            "additionalProperties": False,
        },
    ),
    types.Tool(
        name="test_reconnection",
        description="Closes its SSE stream mid-call; the result arrives after the client resumes",
        input_schema=NO_ARGS,
    ),
    types.Tool(
        name="add",
        description="Adds two integers",
        input_schema={
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    ),
    types.Tool(
        name="whoami",
        description="The Authorization header this server received (gateway tests: credentials)",
        input_schema=NO_ARGS,
    ),
    types.Tool(
        name="exit_process",
        description="Ends the server process mid-call (gateway tests: a target that dies)",
        input_schema=NO_ARGS,
    ),
    types.Tool(
        name="echo",
        description="Echoes the message back",
        input_schema={
            "type": "object",
            "properties": {"message": {"type": "string"}},
            "required": ["message"],
        },
    ),
]

Call = types.CallToolRequestParams
ToolOutcome = types.CallToolResult | types.InputRequiredResult
ToolFn = Callable[[Any, Call], Awaitable[ToolOutcome]]
_tool_impls: dict[str, ToolFn] = {}


def tool(name: str) -> Callable[[ToolFn], ToolFn]:
    def register(fn: ToolFn) -> ToolFn:
        _tool_impls[name] = fn
        return fn

    return register


@tool("test_simple_text")
async def _simple_text(ctx: Any, call: Call) -> ToolOutcome:
    return types.CallToolResult(content=[_text("This is a simple text response for testing.")])


@tool("test_image_content")
async def _image(ctx: Any, call: Call) -> ToolOutcome:
    return types.CallToolResult(content=[types.ImageContent(type="image", data=PNG_B64, mime_type="image/png")])


@tool("test_audio_content")
async def _audio(ctx: Any, call: Call) -> ToolOutcome:
    return types.CallToolResult(content=[types.AudioContent(type="audio", data=WAV_B64, mime_type="audio/wav")])


@tool("test_embedded_resource")
async def _embedded(ctx: Any, call: Call) -> ToolOutcome:
    resource = types.TextResourceContents(
        uri="test://embedded-resource", mime_type="text/plain", text="This is an embedded resource content."
    )
    return types.CallToolResult(content=[types.EmbeddedResource(type="resource", resource=resource)])


@tool("test_multiple_content_types")
async def _mixed(ctx: Any, call: Call) -> ToolOutcome:
    resource = types.TextResourceContents(
        uri="test://mixed-content-resource", mime_type="application/json", text='{"test":"data","value":123}'
    )
    return types.CallToolResult(
        content=[
            _text("Multiple content types test:"),
            types.ImageContent(type="image", data=PNG_B64, mime_type="image/png"),
            types.EmbeddedResource(type="resource", resource=resource),
        ]
    )


@tool("test_tool_with_logging")
async def _logging(ctx: Any, call: Call) -> ToolOutcome:
    await _log(ctx, "info", "Tool execution started")
    await anyio.sleep(0.05)
    await _log(ctx, "info", "Tool processing data")
    await anyio.sleep(0.05)
    await _log(ctx, "info", "Tool execution completed")
    return types.CallToolResult(content=[_text("Tool with logging executed successfully")])


@tool("test_tool_with_progress")
async def _progress(ctx: Any, call: Call) -> ToolOutcome:
    for step, value in enumerate((0, 50, 100)):
        if step:
            await anyio.sleep(0.05)
        await ctx.session.report_progress(value, 100, f"step {step + 1} of 3")
    return types.CallToolResult(content=[_text("Tool with progress executed successfully")])


@tool("test_error_handling")
async def _error(ctx: Any, call: Call) -> ToolOutcome:
    return types.CallToolResult(content=[_text("This tool intentionally returns an error for testing")], is_error=True)


async def _ask_client(ctx: Any, call: Call, key: str, request: types.InputRequest) -> Any:
    """Sends a sampling or elicitation request to the client, in the era the client speaks.

    Handshake-era sessions (2025-11-25 and older) get a server-to-client JSON-RPC request on
    the tool call's stream. On 2026-07-28 there is no such back-channel: the tool answers
    with an InputRequiredResult, and the client retries the call carrying the response.
    Returns the client's response, or the InputRequiredResult to answer with.
    """
    if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        result_type = types.CreateMessageResult if isinstance(request, types.CreateMessageRequest) else types.ElicitResult
        return await ctx.session.send_request(
            request, result_type, metadata=ServerMessageMetadata(related_request_id=ctx.request_id)
        )
    responses = call.input_responses or {}
    if key in responses:
        return responses[key]
    return types.InputRequiredResult(input_requests={key: request})


@tool("test_sampling")
async def _sampling(ctx: Any, call: Call) -> ToolOutcome:
    if not ctx.session.check_client_capability(types.ClientCapabilities(sampling=types.SamplingCapability())):
        return types.CallToolResult(content=[_text("The client does not support sampling")], is_error=True)
    prompt = str((call.arguments or {}).get("prompt", ""))
    request = types.CreateMessageRequest(
        params=types.CreateMessageRequestParams(
            messages=[types.SamplingMessage(role="user", content=_text(prompt))], max_tokens=100
        )
    )
    result = await _ask_client(ctx, call, "sampling", request)
    if isinstance(result, types.InputRequiredResult):
        return result
    content = result.content
    reply = content.text if isinstance(content, types.TextContent) else str(content)
    return types.CallToolResult(content=[_text(f"LLM response: {reply}")])


async def _elicit(ctx: Any, call: Call, message: str, schema: dict[str, Any], prefix: str) -> ToolOutcome:
    if not ctx.session.check_client_capability(types.ClientCapabilities(elicitation=types.ElicitationCapability())):
        return types.CallToolResult(content=[_text("The client does not support elicitation")], is_error=True)
    request = types.ElicitRequest(params=types.ElicitRequestFormParams(message=message, requested_schema=schema))
    result = await _ask_client(ctx, call, "elicitation", request)
    if isinstance(result, types.InputRequiredResult):
        return result
    return types.CallToolResult(content=[_text(f"{prefix}action={result.action}, content={result.content or {}}")])


@tool("test_elicitation")
async def _elicitation(ctx: Any, call: Call) -> ToolOutcome:
    schema = {
        "type": "object",
        "properties": {
            "username": {"type": "string", "description": "User's response"},
            "email": {"type": "string", "description": "User's email address"},
        },
        "required": ["username", "email"],
    }
    message = str((call.arguments or {}).get("message", ""))
    return await _elicit(ctx, call, message, schema, "User response: ")


@tool("test_elicitation_sep1034_defaults")
async def _elicitation_defaults(ctx: Any, call: Call) -> ToolOutcome:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "User name", "default": "John Doe"},
            "age": {"type": "integer", "description": "User age", "default": 30},
            "score": {"type": "number", "description": "User score", "default": 95.5},
            "status": {
                "type": "string",
                "description": "User status",
                "enum": ["active", "inactive", "pending"],
                "default": "active",
            },
            "verified": {"type": "boolean", "description": "Verified user", "default": True},
        },
    }
    return await _elicit(ctx, call, "Please review and update the form fields with defaults", schema, DONE)


@tool("test_elicitation_sep1330_enums")
async def _elicitation_enums(ctx: Any, call: Call) -> ToolOutcome:
    schema = {
        "type": "object",
        "properties": {
            "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
            "titledSingle": {
                "type": "string",
                "oneOf": [
                    {"const": "value1", "title": "First Option"},
                    {"const": "value2", "title": "Second Option"},
                    {"const": "value3", "title": "Third Option"},
                ],
            },
            "legacyEnum": {
                "type": "string",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"],
            },
            "untitledMulti": {
                "type": "array",
                "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
            },
            "titledMulti": {
                "type": "array",
                "items": {
                    "anyOf": [
                        {"const": "value1", "title": "First Choice"},
                        {"const": "value2", "title": "Second Choice"},
                        {"const": "value3", "title": "Third Choice"},
                    ]
                },
            },
        },
    }
    return await _elicit(ctx, call, "Please choose from the enum fields", schema, DONE)


@tool("json_schema_2020_12_tool")
async def _json_schema(ctx: Any, call: Call) -> ToolOutcome:
    return types.CallToolResult(content=[_text(f"Received: {call.arguments or {}}")])


@tool("test_reconnection")
async def _reconnection(ctx: Any, call: Call) -> ToolOutcome:
    # Closing the stream is a no-op without an event store or for clients older than
    # 2025-11-25; they simply get the result on the open stream.
    if ctx.close_sse_stream is not None:
        await anyio.sleep(0.1)
        await ctx.close_sse_stream()
    await anyio.sleep(0.2)
    return types.CallToolResult(content=[_text("Reconnection test completed")])


@tool("add")
async def _add(ctx: Any, call: Call) -> ToolOutcome:
    args = call.arguments or {}
    a, b = args.get("a"), args.get("b")
    if not isinstance(a, int) or not isinstance(b, int) or isinstance(a, bool) or isinstance(b, bool):
        return types.CallToolResult(content=[_text("a and b must be integers")], is_error=True)
    return types.CallToolResult(content=[_text(str(a + b))])


@tool("echo")
async def _echo(ctx: Any, call: Call) -> ToolOutcome:
    message = (call.arguments or {}).get("message")
    if not isinstance(message, str):
        return types.CallToolResult(content=[_text("message must be a string")], is_error=True)
    return types.CallToolResult(content=[_text(message)])


@tool("whoami")
async def _whoami(ctx: Any, call: Call) -> ToolOutcome:
    headers = getattr(ctx.request, "headers", None)
    value = headers.get("authorization") if headers is not None else None
    return types.CallToolResult(content=[_text(value or "none")])


@tool("exit_process")
async def _exit_process(ctx: Any, call: Call) -> ToolOutcome:
    import os

    os._exit(3)


# Tools are listed in pages of this size when set (--page-size), to test cursors.
_page_size: int | None = None


async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
    if _page_size is None:
        return types.ListToolsResult(tools=TOOLS)
    cursor = getattr(params, "cursor", None) if params is not None else None
    start = int(cursor) if cursor else 0
    end = start + _page_size
    next_cursor = str(end) if end < len(TOOLS) else None
    return types.ListToolsResult(tools=TOOLS[start:end], next_cursor=next_cursor)


async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> ToolOutcome:
    impl = _tool_impls.get(params.name)
    if impl is None:
        return types.CallToolResult(content=[_text(f"Unknown tool: {params.name}")], is_error=True)
    return await impl(ctx, params)


# --- resources ----------------------------------------------------------------------------

TEMPLATE = "test://template/{id}/data"
TEMPLATE_RE = re.compile(r"^test://template/([^/]+)/data$")

RESOURCES = [
    types.Resource(
        uri="test://static-text",
        name="static-text",
        description="A static text resource",
        mime_type="text/plain",
    ),
    types.Resource(
        uri="test://static-binary",
        name="static-binary",
        description="A static binary resource (1x1 PNG)",
        mime_type="image/png",
    ),
    types.Resource(
        uri="test://watched-resource",
        name="watched-resource",
        description="A resource clients can subscribe to",
        mime_type="text/plain",
    ),
]


async def list_resources(ctx: Any, params: Any) -> types.ListResourcesResult:
    return types.ListResourcesResult(resources=RESOURCES)


async def list_resource_templates(ctx: Any, params: Any) -> types.ListResourceTemplatesResult:
    template = types.ResourceTemplate(
        uri_template=TEMPLATE,
        name="template-data",
        description="Data for an ID, substituted into the URI",
        mime_type="application/json",
    )
    return types.ListResourceTemplatesResult(resource_templates=[template])


async def read_resource(ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
    uri = str(params.uri)
    contents: types.TextResourceContents | types.BlobResourceContents
    if uri == "test://static-text":
        contents = types.TextResourceContents(
            uri=uri, mime_type="text/plain", text="This is the content of the static text resource."
        )
    elif uri == "test://static-binary":
        contents = types.BlobResourceContents(uri=uri, mime_type="image/png", blob=PNG_B64)
    elif uri == "test://watched-resource":
        contents = types.TextResourceContents(uri=uri, mime_type="text/plain", text="Watched resource content.")
    elif match := TEMPLATE_RE.match(uri):
        ident = match.group(1)
        text = f'{{"id":"{ident}","templateTest":true,"data":"Data for ID: {ident}"}}'
        contents = types.TextResourceContents(uri=uri, mime_type="application/json", text=text)
    else:
        raise MCPError(code=-32002, message=f"Resource not found: {uri}")
    return types.ReadResourceResult(contents=[contents])


async def subscribe(ctx: Any, params: types.SubscribeRequestParams) -> types.EmptyResult:
    _subscriptions.setdefault(_session_key(ctx), set()).add(str(params.uri))
    return types.EmptyResult()


async def unsubscribe(ctx: Any, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
    _subscriptions.get(_session_key(ctx), set()).discard(str(params.uri))
    return types.EmptyResult()


# --- prompts ------------------------------------------------------------------------------

PROMPTS = [
    types.Prompt(name="test_simple_prompt", description="A simple prompt without arguments"),
    types.Prompt(
        name="test_prompt_with_arguments",
        description="A prompt with two required arguments",
        arguments=[
            types.PromptArgument(name="arg1", description="First test argument", required=True),
            types.PromptArgument(name="arg2", description="Second test argument", required=True),
        ],
    ),
    types.Prompt(
        name="test_prompt_with_embedded_resource",
        description="A prompt that embeds a resource",
        arguments=[types.PromptArgument(name="resourceUri", description="URI of the resource", required=True)],
    ),
    types.Prompt(name="test_prompt_with_image", description="A prompt that carries an image"),
]


async def list_prompts(ctx: Any, params: Any) -> types.ListPromptsResult:
    return types.ListPromptsResult(prompts=PROMPTS)


def _user(content: Any) -> types.PromptMessage:
    return types.PromptMessage(role="user", content=content)


async def get_prompt(ctx: Any, params: types.GetPromptRequestParams) -> types.GetPromptResult:
    args = params.arguments or {}
    if params.name == "test_simple_prompt":
        messages = [_user(_text("This is a simple prompt for testing."))]
    elif params.name == "test_prompt_with_arguments":
        arg1, arg2 = args.get("arg1", ""), args.get("arg2", "")
        messages = [_user(_text(f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"))]
    elif params.name == "test_prompt_with_embedded_resource":
        resource = types.TextResourceContents(
            uri=args.get("resourceUri", "test://example-resource"),
            mime_type="text/plain",
            text="Embedded resource content for testing.",
        )
        messages = [
            _user(types.EmbeddedResource(type="resource", resource=resource)),
            _user(_text("Please process the embedded resource above.")),
        ]
    elif params.name == "test_prompt_with_image":
        messages = [
            _user(types.ImageContent(type="image", data=PNG_B64, mime_type="image/png")),
            _user(_text("Please analyze the image above.")),
        ]
    else:
        raise MCPError(code=-32602, message=f"Unknown prompt: {params.name}")
    return types.GetPromptResult(messages=messages)


# --- completion, logging ------------------------------------------------------------------

COMPLETIONS = {
    ("ref/prompt", "test_prompt_with_arguments", "arg1"): ["paris", "park", "party", "test", "testValue1"],
    ("ref/prompt", "test_prompt_with_arguments", "arg2"): ["world", "testValue2"],
    ("ref/resource", TEMPLATE, "id"): ["1", "2", "3", "123"],
}


async def complete(ctx: Any, params: types.CompleteRequestParams) -> types.CompleteResult:
    ref = params.ref
    key_name = ref.name if isinstance(ref, types.PromptReference) else ref.uri
    candidates = COMPLETIONS.get((ref.type, key_name, params.argument.name), [])
    values = [v for v in candidates if v.startswith(params.argument.value)]
    return types.CompleteResult(completion=types.Completion(values=values, total=len(values), has_more=False))


async def set_level(ctx: Any, params: types.SetLevelRequestParams) -> types.EmptyResult:
    _log_levels[_session_key(ctx)] = params.level
    return types.EmptyResult()


# --- wiring -------------------------------------------------------------------------------


def build_server() -> Server:
    return Server(
        SERVER_NAME,
        version="1.0.0",
        instructions="Fixture server for MCP gateway end-to-end tests.",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_resource_templates,
        on_read_resource=read_resource,
        on_subscribe_resource=subscribe,
        on_unsubscribe_resource=unsubscribe,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
        on_completion=complete,
        on_set_logging_level=set_level,
    )


def _serve_http(app: Any, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host=HOST, port=port, log_level="warning")


def serve_sse(server: Server, port: int) -> None:
    from mcp.server.sse import SseServerTransport
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Mount, Route

    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )
    sse = SseServerTransport("/messages/", security_settings=security)

    async def handle_sse(request: Request) -> Response:
        async with sse.connect_sse(request.scope, request.receive, request._send) as (read, write):  # noqa: SLF001
            await server.run(read, write, server.create_initialization_options())
        return Response()

    app = Starlette(
        routes=[Route("/sse", endpoint=handle_sse, methods=["GET"]), Mount("/messages/", app=sse.handle_post_message)]
    )
    _serve_http(app, port)


def serve_streamable_http(server: Server, port: int, json_response: bool, stateless: bool = False) -> None:
    # host=127.0.0.1 turns on the SDK's Host/Origin checks (DNS-rebinding protection).
    app = server.streamable_http_app(
        streamable_http_path="/mcp",
        json_response=json_response,
        stateless_http=stateless,
        event_store=None if stateless else MemoryEventStore(),
        retry_interval=None if stateless else 500,
        host=HOST,
    )
    _serve_http(app, port)


async def serve_stdio(server: Server) -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", choices=["stdio", "sse", "streamable-http"], default="stdio")
    parser.add_argument("--port", type=int, default=8931, help="loopback port for the HTTP transports")
    parser.add_argument(
        "--json-response", action="store_true", help="Streamable HTTP: answer POSTs with JSON, not SSE"
    )
    parser.add_argument("--page-size", type=int, help="list tools in pages of this size")
    parser.add_argument("--stateless", action="store_true", help="Streamable HTTP without sessions")
    options = parser.parse_args(argv)
    global _page_size
    _page_size = options.page_size
    server = build_server()
    if options.transport == "stdio":
        anyio.run(serve_stdio, server)
    elif options.transport == "sse":
        serve_sse(server, options.port)
    else:
        serve_streamable_http(server, options.port, options.json_response, options.stateless)
    return 0


if __name__ == "__main__":
    sys.exit(main())
