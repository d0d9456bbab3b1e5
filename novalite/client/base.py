"""What every manager shares: wrapping JSON in resources, marker paging, finding by name.

Managers talk to the API only through Client.request(), so error mapping, retries and
the microversion header live in one place.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from novalite.client import exceptions, versions
from novalite.client.resources import Resource

if TYPE_CHECKING:
    from novalite.client.client import Client

R = TypeVar("R", bound=Resource)


def quote(value: Any) -> str:
    """A path segment: ids and names may hold '/', spaces or '?'."""
    return urllib.parse.quote(str(value), safe="")


def query_value(value: Any) -> Any:
    """A Python value as Nova reads query strings (booleans as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Resource):
        return value.id
    if isinstance(value, list | tuple):
        return [query_value(v) for v in value]
    return value


def clean_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """Query parameters without the None values (left out, not sent as "None")."""
    return {k: query_value(v) for k, v in (params or {}).items() if v is not None}


def next_marker(links: Any) -> str | None:
    """The marker of the rel=next link of a `*_links` list, if there is one.

    Only the marker is taken: the link's host may be how the server sees itself,
    which need not be how this client reaches it.
    """
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("rel") == "next" and link.get("href"):
            query = urllib.parse.urlsplit(link["href"]).query
            markers = urllib.parse.parse_qs(query).get("marker")
            if markers:
                return markers[-1]
    return None


class Manager(Generic[R]):
    """Base of the per-resource managers hanging off a Client."""

    resource_class: type[R]

    def __init__(self, client: Client) -> None:
        self.client = client

    def _wrap(self, info: dict[str, Any]) -> R:
        return self.resource_class(self, info)

    def _at_least(self, version: str) -> bool:
        return versions.at_least(self.client.api_version, version)

    def _require(self, version: str, what: str) -> None:
        """UnsupportedVersion, before any request, for a call the version lacks."""
        if not self._at_least(version):
            raise exceptions.UnsupportedVersion(
                f"{what} needs API microversion {version} or later; this client "
                f"negotiated {self.client.api_version}.")

    def _get(self, path: str, key: str, params: dict[str, Any] | None = None,
             version: str | None = None) -> R:
        body = self.client.request("GET", path, params=clean_params(params),
                                   version=version) or {}
        return self._wrap(body.get(key) or {})

    def _list(self, path: str, key: str, params: dict[str, Any] | None = None,
              limit: int | None = None, links_key: str | None = None,
              version: str | None = None) -> list[R]:
        """Every item of a collection, following rel=next links until the last page
        or until `limit` items (each page asks only for what is still missing)."""
        query = clean_params(params)
        links_key = links_key or f"{key}_links"
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        while True:
            if limit is not None:
                if len(items) >= limit:
                    break
                query["limit"] = limit - len(items)
            body = self.client.request("GET", path, params=query, version=version) or {}
            page = body.get(key) or []
            items.extend(page)
            marker = next_marker(body.get(links_key))
            if not page or marker is None or marker in seen:
                break
            seen.add(marker)
            query["marker"] = marker
        if limit is not None:
            items = items[:limit]
        return [self._wrap(item) for item in items]

    def _find(self, name_or_id: Any, kind: str, get: Callable[[str], R],
              searches: Iterable[Callable[[str], list[R]]],
              name_of: Callable[[R], Any] = lambda r: r.get("name")) -> R:
        """By id first; else the first search with exact name matches. NotFound for
        none, NoUniqueMatch (naming the ids) for several."""
        if isinstance(name_or_id, Resource):
            return name_or_id  # type: ignore[return-value]
        text = str(name_or_id)
        try:
            return get(text)
        except (exceptions.NotFound, exceptions.BadRequest):
            # A malformed id is a 400 on some resources (uuids from 2.53): a name then.
            pass
        matches: list[R] = []
        for search in searches:
            matches = [r for r in search(text) if name_of(r) == text]
            if matches:
                break
        if not matches:
            raise exceptions.NotFound(f"No {kind} with a name or ID of '{text}' exists.")
        if len(matches) > 1:
            ids = ", ".join(str(r.id) for r in matches)
            raise exceptions.NoUniqueMatch(
                f"More than one {kind} exists with the name '{text}': {ids}. "
                "Use the ID instead.")
        return matches[0]

    def _id(self, item: Any) -> str:
        """The id of a resource, or of what find() resolves a name or id to."""
        if isinstance(item, Resource):
            return str(item.id)
        return str(self.find(item).id)  # type: ignore[attr-defined]
