"""The caller's principal is visible to the code a call reaches, and only while it runs."""

from __future__ import annotations

import asyncio

from services.common.principal import ANONYMOUS, Principal, acting_as, current_principal

NURSE = Principal("nurse-7", frozenset({"briefing:read"}), "token")


async def test_a_call_sees_its_own_principal_and_no_other() -> None:
    seen: dict[str, str] = {}

    async def call(name: str, principal: Principal) -> None:
        with acting_as(principal):
            await asyncio.sleep(0)  # let the other call run in between
            seen[name] = current_principal().subject

    await asyncio.gather(call("a", NURSE), call("b", ANONYMOUS))
    assert seen == {"a": "nurse-7", "b": "anonymous"}
    assert current_principal() is ANONYMOUS
