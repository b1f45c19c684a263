"""The chat message: one declaration for the core (``RewardItem.completion``) and the wire (``Item``)."""

from __future__ import annotations

from typing import (
    Any,
    Required,  # pydantic validates only typing_extensions' before 3.12
)

from typing_extensions import TypedDict


class Message(TypedDict, total=False):
    """An OpenAI / TRL conversational message. Content is text or a list of typed parts."""

    role: Required[str]
    content: str | list[dict[str, Any]] | None
