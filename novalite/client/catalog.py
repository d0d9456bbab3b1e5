"""What servers are made from and bounded by: flavors, images, limits."""

from __future__ import annotations

from typing import Any

from novalite.client import exceptions, versions
from novalite.client.base import Manager, quote
from novalite.client.resources import Flavor, Image, Resource

# Nova's /images proxy is gone from 2.36; the client asks for it at most at 2.35.
IMAGE_PROXY_MAX_VERSION = "2.35"


class FlavorManager(Manager[Flavor]):
    """/flavors."""

    resource_class = Flavor

    def list(self, detailed: bool = True, is_public: bool | None = None) -> list[Flavor]:
        """Flavors (every page). is_public: None = the server's default (public ones,
        plus for non-admins those shared with them), True/False = only those."""
        params = {"is_public": is_public}
        return self._list("/flavors/detail" if detailed else "/flavors", "flavors", params)

    def get(self, flavor_id: str) -> Flavor:
        """One flavor by id."""
        return self._get(f"/flavors/{quote(flavor_id)}", "flavor")

    def find(self, name_or_id: Any) -> Flavor:
        """A flavor by id, else by exact name (private ones too, for admins)."""
        def by_name(_name: str) -> list[Flavor]:
            # "None": every flavor, public or not (non-admins get their usual list).
            return self._list("/flavors/detail", "flavors", {"is_public": "None"})

        return self._find(name_or_id, "flavor", self.get, [by_name])

    def create(self, name: str, ram: int, vcpus: int, disk: int,
               flavorid: str | None = None, ephemeral: int = 0, swap: int = 0,
               is_public: bool = True) -> Flavor:
        """Create a flavor (admin); no flavorid (or "auto") lets the server pick a uuid."""
        body = {
            "name": name,
            "ram": ram,
            "vcpus": vcpus,
            "disk": disk,
            "id": None if flavorid in (None, "auto") else str(flavorid),
            "OS-FLV-EXT-DATA:ephemeral": ephemeral,
            "swap": swap,
            "os-flavor-access:is_public": is_public,
        }
        answer = self.client.request("POST", "/flavors", json={"flavor": body}) or {}
        return self._wrap(answer.get("flavor") or {})

    def delete(self, flavor: Any) -> None:
        """Delete a flavor (servers keep their copy of it)."""
        self.client.request("DELETE", f"/flavors/{quote(self._id(flavor))}")


class ImageManager(Manager[Image]):
    """Nova's /images proxy, asked at most at microversion 2.35 (where it still
    exists) whatever the client negotiated."""

    resource_class = Image

    def _version(self) -> str:
        negotiated = self.client.api_version
        if versions.at_least(negotiated, IMAGE_PROXY_MAX_VERSION):
            if not versions.at_least(IMAGE_PROXY_MAX_VERSION, self.client.min_version):
                raise exceptions.UnsupportedVersion(
                    "The server no longer serves Nova's /images proxy (its oldest "
                    f"microversion is {self.client.min_version}).")
            return IMAGE_PROXY_MAX_VERSION
        return negotiated

    def list(self, detailed: bool = True, **filters: Any) -> list[Image]:
        """Images (every page); filters: name, status, minRam, minDisk."""
        path = "/images/detail" if detailed else "/images"
        return self._list(path, "images", filters, version=self._version())

    def get(self, image_id: str) -> Image:
        """One image by id."""
        return self._get(f"/images/{quote(image_id)}", "image", version=self._version())

    def find(self, name_or_id: Any) -> Image:
        """An image by id, else by exact name."""
        def by_name(name: str) -> list[Image]:
            return self.list(name=name)

        return self._find(name_or_id, "image", self.get, [by_name])


class LimitsManager(Manager[Resource]):
    """/limits."""

    resource_class = Resource

    def get(self) -> dict[str, Any]:
        """The project's absolute limits and usage (maxTotalCores, totalCoresUsed, ...)."""
        body = self.client.request("GET", "/limits") or {}
        return dict((body.get("limits") or {}).get("absolute") or {})
