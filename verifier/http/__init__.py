"""The HTTP layer: a thin FastAPI app over the verifier core."""

from __future__ import annotations

from verifier.http.app import create_app

__all__ = ["create_app"]
