"""Client side of the compute RPC API; messages go to one host's agent.

Version history:
  1.0 - ping
  1.1 - build_and_run_instance, start_instance, stop_instance, reboot_instance,
        terminate_instance
  1.2 - prep_resize, resize_instance, finish_resize, confirm_resize, revert_resize,
        finish_revert_resize
  1.3 - check_can_live_migrate_destination, check_can_live_migrate_source,
        pre_live_migration, live_migration, post_live_migration_at_destination,
        rollback_live_migration_at_destination, live_migration_abort,
        live_migration_force_complete
  1.4 - resize_instance takes disk_target (where the destination wants the disks)
"""

from __future__ import annotations

from novalite import rpc
from novalite.conf import CONF
from novalite.context import RequestContext
from novalite.objects.instance import Instance
from novalite.objects.migration import Migration
from novalite.objects.request_spec import RequestSpec, Selection

TOPIC = "compute"


class ComputeAPI:
    VERSION = "1.4"

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

    # -- resize and cold migration (1.2); DESIGN §4 -----------------------------------
    def prep_resize(self, ctxt: RequestContext, host: str, instance: Instance,
                    migration: Migration, flavor: dict, request_spec: RequestSpec,
                    alternates: list[Selection], tried: list[dict]) -> None:
        """To the destination: check, then ask the source to resize_instance."""
        self._to(host, "1.2").cast(ctxt, "prep_resize", instance=instance,
                                   migration=migration, flavor=flavor,
                                   request_spec=request_spec, alternates=alternates,
                                   tried=tried)

    def resize_instance(self, ctxt: RequestContext, host: str, instance: Instance,
                        migration: Migration, flavor: dict,
                        disk_target: dict | None = None) -> None:
        """To the source: power off, move the disks, then ask the dest to finish."""
        kwargs = {"instance": instance, "migration": migration, "flavor": flavor}
        version = "1.2"
        if disk_target is not None and self.client.can_send_version("1.4"):
            kwargs["disk_target"], version = disk_target, "1.4"
        self._to(host, version).cast(ctxt, "resize_instance", **kwargs)

    def finish_resize(self, ctxt: RequestContext, host: str, instance: Instance,
                      migration: Migration, flavor: dict) -> None:
        """To the destination: define the guest with the new flavor → VERIFY_RESIZE."""
        self._to(host, "1.2").cast(ctxt, "finish_resize", instance=instance,
                                   migration=migration, flavor=flavor)

    def confirm_resize(self, ctxt: RequestContext, host: str, instance: Instance,
                       migration: Migration) -> None:
        """To the source: drop the old guest and its resources."""
        self._to(host, "1.2").cast(ctxt, "confirm_resize", instance=instance,
                                   migration=migration)

    def revert_resize(self, ctxt: RequestContext, host: str, instance: Instance,
                      migration: Migration) -> None:
        """To the destination: destroy the new guest, then hand back to the source."""
        self._to(host, "1.2").cast(ctxt, "revert_resize", instance=instance,
                                   migration=migration)

    def finish_revert_resize(self, ctxt: RequestContext, host: str, instance: Instance,
                             migration: Migration) -> None:
        """To the source: restore the old guest with the old flavor."""
        self._to(host, "1.2").cast(ctxt, "finish_revert_resize", instance=instance,
                                   migration=migration)

    # -- live migration (1.3); DESIGN §4 ----------------------------------------------
    def live_migration_abort(self, ctxt: RequestContext, host: str, instance: Instance,
                             migration_id: int) -> None:
        """To the source: abort the live migration (queued, preparing or running)."""
        self._to(host, "1.3").cast(ctxt, "live_migration_abort", instance=instance,
                                   migration_id=migration_id)

    def live_migration_force_complete(self, ctxt: RequestContext, host: str,
                                      instance: Instance) -> None:
        """To the source: make the running live migration converge (pause the guest)."""
        self._to(host, "1.3").cast(ctxt, "live_migration_force_complete", instance=instance)

    def check_can_live_migrate_destination(self, ctxt: RequestContext, host: str,
                                           instance: Instance,
                                           block_migration: bool | str) -> dict:
        """Call the destination, which calls the source; returns the migrate data."""
        return self._to(host, "1.3").call(ctxt, "check_can_live_migrate_destination",
                                          instance=instance, block_migration=block_migration)

    def check_can_live_migrate_source(self, ctxt: RequestContext, host: str,
                                      instance: Instance, dest_check_data: dict) -> dict:
        return self._to(host, "1.3").call(ctxt, "check_can_live_migrate_source",
                                          instance=instance, dest_check_data=dest_check_data)

    def live_migration(self, ctxt: RequestContext, host: str, instance: Instance,
                       migration: Migration, dest: str, migrate_data: dict) -> None:
        """To the source: queue the migration in its live-migration pool."""
        self._to(host, "1.3").cast(ctxt, "live_migration", instance=instance,
                                   migration=migration, dest=dest, migrate_data=migrate_data)

    def pre_live_migration(self, ctxt: RequestContext, host: str, instance: Instance,
                           migrate_data: dict) -> dict:
        return self._to(host, "1.3").call(ctxt, "pre_live_migration", instance=instance,
                                          migrate_data=migrate_data)

    def post_live_migration_at_destination(self, ctxt: RequestContext, host: str,
                                           instance: Instance, migration: Migration,
                                           migrate_data: dict) -> None:
        self._to(host, "1.3").call(ctxt, "post_live_migration_at_destination",
                                   instance=instance, migration=migration,
                                   migrate_data=migrate_data)

    def rollback_live_migration_at_destination(self, ctxt: RequestContext, host: str,
                                               instance: Instance, migrate_data: dict,
                                               wait: float | None = None) -> None:
        """Clean the destination. wait=None: a cast, done whenever that host runs again;
        otherwise a call that waits up to `wait` seconds."""
        if wait is None:
            self._to(host, "1.3").cast(ctxt, "rollback_live_migration_at_destination",
                                       instance=instance, migrate_data=migrate_data)
            return
        self.client.prepare(server=host, version="1.3", timeout=wait).call(
            ctxt, "rollback_live_migration_at_destination", instance=instance,
            migrate_data=migrate_data)
