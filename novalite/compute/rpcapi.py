"""Client side of the compute RPC API; messages go to one host's agent.

Version history:
  1.0 - ping
  1.1 - build_and_run_instance, start_instance, stop_instance, reboot_instance,
        terminate_instance
"""

from __future__ import annotations

from novalite import rpc
from novalite.conf import CONF
from novalite.context import RequestContext
from novalite.objects.instance import Instance
from novalite.objects.request_spec import RequestSpec, Selection

TOPIC = "compute"


class ComputeAPI:
    VERSION = "1.1"

    def __init__(self) -> None:
        self.client = rpc.get_client(TOPIC, self.VERSION, version_cap=CONF.upgrade_levels.compute)

    def _to(self, host: str, version: str = "1.1"):
        return self.client.prepare(server=host, version=version)

    def ping(self, ctxt: RequestContext, host: str, timeout: float | None = None) -> str:
        return self.client.prepare(server=host, timeout=timeout).call(ctxt, "ping")

    def build_and_run_instance(self, ctxt: RequestContext, host: str, instance: Instance,
                               request_spec: RequestSpec, image: dict, selection: Selection,
                               alternates: list[Selection], tried: list[dict]) -> None:
        self._to(host).cast(ctxt, "build_and_run_instance", instance=instance,
                            request_spec=request_spec, image=image, selection=selection,
                            alternates=alternates, tried=tried)

    def start_instance(self, ctxt: RequestContext, instance: Instance) -> None:
        """(stopped, powering-on) → (active, None)."""
        self._to(instance.host).cast(ctxt, "start_instance", instance=instance)

    def stop_instance(self, ctxt: RequestContext, instance: Instance,
                      clean_shutdown: bool = True) -> None:
        """(active|error, powering-off) → (stopped, None)."""
        self._to(instance.host).cast(ctxt, "stop_instance", instance=instance,
                                     clean_shutdown=clean_shutdown)

    def reboot_instance(self, ctxt: RequestContext, instance: Instance, reboot_type: str) -> None:
        """reboot_type SOFT|HARD; (active, reboot_pending[_hard]) → (active, None)."""
        self._to(instance.host).cast(ctxt, "reboot_instance", instance=instance,
                                     reboot_type=reboot_type)

    def terminate_instance(self, ctxt: RequestContext, instance: Instance) -> None:
        """(…, deleting) → destroyed, allocations dropped, row marked deleted."""
        self._to(instance.host).cast(ctxt, "terminate_instance", instance=instance)
