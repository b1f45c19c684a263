"""The reward profiles."""

from __future__ import annotations

from fastapi import APIRouter

from verifier.http.auth import Authenticated
from verifier.http.deps import RuntimeDep
from verifier.schemas import ProfileInfo, ProfilesResponse

router = APIRouter(prefix="/v1", tags=["rewards"])


@router.get("/profiles", response_model=ProfilesResponse)
async def list_profiles(runtime: RuntimeDep, _: Authenticated) -> ProfilesResponse:
    """List every reward profile with its rewards, weights and params, as requests naming it get them."""
    return ProfilesResponse(
        profiles=[
            ProfileInfo(
                name=p.name,
                description=p.description,
                builtin=p.builtin,
                rewards=p.rewards,
                params=p.params,
                response_start=list(p.response_start),
                data_source=p.data_source,
            )
            for p in runtime.profiles
        ]
    )
