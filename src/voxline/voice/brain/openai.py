"""A brain backed by any OpenAI-compatible chat-completions server.

OpenAI, Ollama, vLLM, llama.cpp's server and others accept the same streaming
``POST {base_url}/chat/completions``. :class:`ChatClient` speaks that protocol (SSE stream of
``chat.completion.chunk`` objects), :class:`OpenAIBrain` turns an agent and its conversation
into requests: the rendered system prompt, the turns so far (agent → ``assistant``, contact →
``user``), the agent's temperature, and its tools as function definitions: ``end_call``
(always: the model calls it to hang up) and the agent's own (:attr:`AgentProfile.tools`).
A turn that called tools is sent back as the assistant's ``tool_calls`` followed by one
``role: "tool"`` message per result, as the protocol requires. A reply streams as text
pieces, then each :class:`ToolCall` (several may come in one turn), then :class:`EndCall` if
``end_call`` was called; :func:`voxline.voice.brain.clauses.split_clauses` cuts the text
into clauses for speech.

Every failure — HTTP errors, timeouts, a dropped or garbled stream — raises
:class:`ProviderError` (``provider="llm"``), retryable for timeouts, 408, 429 and 5xx.
Messages never include prompts or what was said.

A brain built from settings owns its HTTP connection pool: close it with
:meth:`OpenAIBrain.aclose` (or ``async with``) when the call ends.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from voxline.config import Settings
from voxline.domain.templates import render
from voxline.errors import ProviderError
from voxline.voice.brain.base import (
    AgentProfile,
    EndCall,
    Reply,
    ToolCall,
    ToolSpec,
    ToolTurn,
    Turn,
    Utterance,
)
from voxline.voice.brain.scripted import FAREWELL, SILENT_FAREWELL, STILL_THERE

PROVIDER = "llm"
END_CALL_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "end_call",
        "description": (
            "Hang up the phone call. Call it after saying goodbye: when the conversation is "
            "finished, or the person asks to end it or not to be called again."
        ),
        "parameters": {
            "type": "object",
            "properties": {"reason": {"type": "string", "description": "Why the call ends"}},
            "required": [],
        },
    },
}
SUMMARY_PROMPT = (
    "You summarize phone calls. In two or three sentences, state the purpose of the call, "
    "what was agreed or learned, and any follow-up needed. Reply with the summary only."
)
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=5.0)
_ROLES = {"agent": "assistant", "contact": "user"}


def function_definition(spec: ToolSpec) -> dict[str, Any]:
    """A tool as an OpenAI-compatible ``tools`` entry."""
    return {
        "type": "function",
        "function": {
            "name": spec.name,
            "description": spec.description,
            "parameters": dict(spec.parameters),
        },
    }


class ChatClient:
    """Streaming chat completions against one OpenAI-compatible server.

    ``deadline_seconds`` bounds a whole reply; ``timeout`` (httpx) bounds connecting and each
    wait for the next chunk. Pass ``client`` to share a connection pool (it is then not
    closed by :meth:`aclose`).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        deadline_seconds: float = 60.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.deadline_seconds = deadline_seconds
        self._owned = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> ChatClient | None:
        """The deployment's LLM server, or None when ``llm_base_url`` is not set."""
        if not settings.llm_base_url:
            return None
        return cls(settings.llm_base_url, settings.llm_api_key, **options)

    async def aclose(self) -> None:
        if self._owned:
            await self._client.aclose()

    async def stream(
        self,
        *,
        model: str,
        messages: list[dict[str, Any]],
        temperature: float | None = None,
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int | None = None,
    ) -> AsyncIterator[str | ToolCall]:
        """Text pieces as they arrive, then every complete tool call."""
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": True}
        if temperature is not None:
            body["temperature"] = temperature
        if tools:
            body["tools"] = tools
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        calls: dict[int, dict[str, str]] = {}
        # The deadline is checked per chunk rather than with a cancel scope: a scope would
        # span the yields and so cancel whatever the consumer awaits between pieces.
        deadline = asyncio.get_running_loop().time() + self.deadline_seconds
        try:
            async with self._client.stream(
                "POST", self.url, json=body, headers=self._headers
            ) as response:
                if response.status_code >= 400:
                    raise _http_error(response.status_code)
                async for line in response.aiter_lines():
                    if asyncio.get_running_loop().time() > deadline:
                        raise ProviderError(
                            f"LLM reply took over {self.deadline_seconds:g}s",
                            provider=PROVIDER,
                            retryable=True,
                        )
                    chunk = _parse_line(line)
                    if chunk is None:
                        continue
                    if isinstance(chunk, str):  # "[DONE]"
                        break
                    for piece in _apply(chunk, calls):
                        yield piece
        except httpx.TimeoutException as exc:
            raise ProviderError(
                f"LLM server timed out ({type(exc).__name__})", provider=PROVIDER, retryable=True
            ) from None
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"LLM server unreachable ({type(exc).__name__})", provider=PROVIDER, retryable=True
            ) from None
        for index in sorted(calls):
            call = calls[index]
            yield ToolCall(
                call.get("id") or f"call_{uuid.uuid4().hex[:24]}",
                call.get("name", ""),
                call.get("arguments", ""),
            )

    async def complete(self, *, model: str, messages: list[dict[str, Any]], **options: Any) -> str:
        """The whole text of a reply (tool calls ignored)."""
        parts = [p async for p in self.stream(model=model, messages=messages, **options)]
        return "".join(p for p in parts if isinstance(p, str)).strip()


def _http_error(status: int) -> ProviderError:
    retryable = status in (408, 429) or status >= 500
    return ProviderError(
        f"LLM server answered HTTP {status}",
        provider=PROVIDER,
        retryable=retryable,
        http_status=status,
    )


def _parse_line(line: str) -> dict[str, Any] | str | None:
    """One SSE line: a chunk object, ``"[DONE]"``, or None for anything else."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return data
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError:
        raise ProviderError(
            "LLM server sent a malformed stream chunk", provider=PROVIDER, retryable=True
        ) from None
    if not isinstance(chunk, dict):
        raise ProviderError("LLM server sent a malformed chunk", provider=PROVIDER, retryable=True)
    if "error" in chunk:
        raise ProviderError(
            "LLM server reported an error mid-stream", provider=PROVIDER, retryable=True
        )
    return chunk


def _apply(chunk: dict[str, Any], calls: dict[int, dict[str, str]]) -> list[str]:
    """The text in one chunk; tool-call fragments are accumulated into ``calls``."""
    texts: list[str] = []
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        content = delta.get("content")
        if isinstance(content, str) and content:
            texts.append(content)
        for fragment in delta.get("tool_calls") or []:
            call = calls.setdefault(int(fragment.get("index", 0)), {})
            if isinstance(fragment.get("id"), str) and fragment["id"]:
                call["id"] = fragment["id"]
            function = fragment.get("function") or {}
            if function.get("name"):
                call["name"] = call.get("name", "") + function["name"]
            if function.get("arguments"):
                call["arguments"] = call.get("arguments", "") + function["arguments"]
    return texts


def _reason(arguments: str) -> str | None:
    try:
        parsed = json.loads(arguments) if arguments else {}
    except json.JSONDecodeError:
        return None
    reason = parsed.get("reason") if isinstance(parsed, dict) else None
    return reason if isinstance(reason, str) else None


def transcript_text(transcript: Sequence[Utterance]) -> str:
    return "\n".join(f"{u.speaker.capitalize()}: {u.text}" for u in transcript)


async def summarize(client: ChatClient, model: str, transcript: Sequence[Utterance]) -> str:
    """A short post-call summary of ``transcript`` ("" for an empty transcript)."""
    if not transcript:
        return ""
    messages = [
        {"role": "system", "content": SUMMARY_PROMPT},
        {"role": "user", "content": transcript_text(transcript)},
    ]
    return await client.complete(model=model, messages=messages, temperature=0.2)


class OpenAIBrain:
    """The agent's brain on an OpenAI-compatible server; see the module docstring.

    It greets with the agent's greeting when there is one (no round trip), asks the model
    otherwise, and handles silences like the scripted brain (no model round trip either).
    """

    # Each reply depends on the history alone, so one may be drafted ahead and thrown away
    # (voxline.voice.speculation).
    replayable = True

    def __init__(
        self,
        profile: AgentProfile,
        llm: ChatClient | Settings,
        *,
        model: str | None = None,
        max_tokens: int | None = 300,
    ) -> None:
        """``llm`` is a client, or the settings to build one from (``llm_base_url``,
        ``llm_api_key``). The model is ``model``, else the agent's, else ``llm_model``."""
        if isinstance(llm, Settings):
            client = ChatClient.from_settings(llm)
            if client is None:
                raise ValueError("OpenAIBrain needs llm_base_url to be set")
            fallback = llm.llm_model
        else:
            client, fallback = llm, None
        self.profile = profile
        self.client = client
        self._owns_client = isinstance(llm, Settings)
        agent_model = profile.model if profile.model not in ("", "scripted") else None
        self.model = model or agent_model or fallback or "default"
        self.max_tokens = max_tokens

    async def aclose(self) -> None:
        """Close the HTTP client if this brain built it (from settings)."""
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> OpenAIBrain:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def messages(self, history: Sequence[Turn]) -> list[dict[str, Any]]:
        """The request's messages: the system prompt, then the conversation and the tool
        calls made in it with their results."""
        messages: list[dict[str, Any]] = [{"role": "system", "content": self.profile.system_prompt}]
        for turn in history:
            if isinstance(turn, ToolTurn):
                messages.append(
                    {
                        "role": "assistant",
                        "content": turn.text or None,
                        "tool_calls": [
                            {
                                "id": call.id,
                                "type": "function",
                                "function": {"name": call.name, "arguments": call.arguments},
                            }
                            for call in turn.calls
                        ],
                    }
                )
                messages += [
                    {"role": "tool", "tool_call_id": result.call_id, "content": result.content}
                    for result in turn.results
                ]
            else:
                messages.append({"role": _ROLES.get(turn.speaker, "user"), "content": turn.text})
        return messages

    def tools(self) -> list[dict[str, Any]]:
        """The function definitions sent with every request: ``end_call``, then the
        agent's tools."""
        return [END_CALL_TOOL, *(function_definition(spec) for spec in self.profile.tools)]

    async def stream(self, history: Sequence[Turn]) -> AsyncIterator[str | EndCall | ToolCall]:
        ended: EndCall | None = None
        async for piece in self.client.stream(
            model=self.model,
            messages=self.messages(history),
            temperature=self.profile.temperature,
            tools=self.tools(),
            max_tokens=self.max_tokens,
        ):
            if isinstance(piece, str):
                yield piece
            elif piece.name == "end_call":
                if ended is None:
                    ended = EndCall(_reason(piece.arguments))
            else:
                yield piece
        if ended is not None:
            yield ended

    async def _reply(self, history: Sequence[Turn]) -> Reply:
        parts: list[str] = []
        calls: list[ToolCall] = []
        end_call = False
        async for piece in self.stream(history):
            if isinstance(piece, EndCall):
                end_call = True
            elif isinstance(piece, ToolCall):
                calls.append(piece)
            else:
                parts.append(piece)
        text = " ".join("".join(parts).split())
        if end_call and not text and not calls:
            text = FAREWELL  # hanging up without a word would be rude
        return Reply(text, end_call=end_call, tool_calls=tuple(calls))

    async def greet(self) -> Reply:
        if self.profile.greeting:
            return Reply(render(self.profile.greeting, self.profile.variables))
        return await self._reply([])

    async def respond(self, history: Sequence[Turn]) -> Reply:
        return await self._reply(history)

    async def on_silence(self, attempts: int) -> Reply:
        if attempts >= 2:
            return Reply(SILENT_FAREWELL, end_call=True)
        return Reply(STILL_THERE)

    async def summarize(self, transcript: Sequence[Utterance]) -> str:
        return await summarize(self.client, self.model, transcript)
