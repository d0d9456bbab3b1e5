"""Falling back to the scheduler's alternates after a host failed (build or resize)."""

from __future__ import annotations

from novalite.conf import CONF
from novalite.context import RequestContext
from novalite.objects.request_spec import RequestSpec, Selection
from novalite.scheduler import engine


def claim_next(ctxt: RequestContext, instance_uuid: str, spec: RequestSpec,
               alternates: list[Selection],
               tried: list[dict]) -> tuple[Selection | None, list[Selection], list[dict]]:
    """Claim the first alternate that still has room, within [scheduler] max_attempts.

    Returns (the claimed alternate or None, the alternates left after it, the hosts tried
    with why). The failed host's claim must already be released.
    """
    remaining = list(alternates)
    while remaining and len(tried) < CONF.scheduler.max_attempts:
        alternate = remaining.pop(0)
        alternate.consumer_uuid = instance_uuid
        if engine.claim_alternate(ctxt, alternate, spec):
            return alternate, remaining, tried
        tried = tried + [{"host": alternate.host, "reason": "it no longer has room"}]
    return None, [], tried


def tried_text(tried: list[dict]) -> str:
    attempts = "; ".join(f"{t['host']}: {t['reason']}" for t in tried)
    return f"Failed on every host tried ({len(tried)}): {attempts}."
