"""Test helpers that ship with the package: a loopback server speaking the Anthropic Messages API.

Point the real Anthropic SDK at it (``base_url=server.base_url`` or ``ANTHROPIC_BASE_URL``) to run an
agent, the judge or the analyst with no API key and no network.
"""

from pytest_flywheel.testing.messages_api import (
    ErrorReply,
    MessagesAPIServer,
    RecordedRequest,
    message_to_sse,
    text_message,
    tool_use_message,
)

__all__ = [
    "ErrorReply",
    "MessagesAPIServer",
    "RecordedRequest",
    "message_to_sse",
    "text_message",
    "tool_use_message",
]
