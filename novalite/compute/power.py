"""Power flows on the compute host: start, stop, reboot, and power-state sync."""

from __future__ import annotations

import logging

from novalite import rpc
from novalite.compute import steps
from novalite.context import RequestContext, get_admin_context
from novalite.objects.instance import Instance
from novalite.states import PowerState, VmState
from novalite.utils import concurrency

LOG = logging.getLogger(__name__)

REBOOT_HARD = "HARD"
LIFECYCLE_EVENT_DELAY = 2.0  # seconds between a lifecycle event and its power sync


class PowerMixin:
    """Part of ComputeManager (self.driver, self.conductor, self.host, self.instance_locks)."""

    @rpc.expose
    def start_instance(self, ctxt: RequestContext, instance: Instance) -> None:
        with steps.instance_step(self, ctxt, instance, "compute_start_instance",
                                 failure="start_failed") as step:
            self.driver.power_on(instance)
            step.transition(instance, "powered_on", last=True,
                            power_state=int(self.power_state_of(instance)))

    @rpc.expose
    def stop_instance(self, ctxt: RequestContext, instance: Instance,
                      clean_shutdown: bool = True) -> None:
        with steps.instance_step(self, ctxt, instance, "compute_stop_instance",
                                 failure="stop_failed") as step:
            self.driver.power_off(instance, timeout=60 if clean_shutdown else 0)
            step.transition(instance, "powered_off", last=True,
                            power_state=int(self.power_state_of(instance)))

    @rpc.expose
    def reboot_instance(self, ctxt: RequestContext, instance: Instance, reboot_type: str) -> None:
        hard = reboot_type.upper() == REBOOT_HARD
        with steps.instance_step(self, ctxt, instance, "compute_reboot_instance",
                                 failure="reboot_failed") as step:
            instance = step.transition(instance, "rebooting_hard" if hard else "rebooting")
            self.driver.reboot(instance, REBOOT_HARD if hard else "SOFT")
            step.transition(instance, "rebooted", last=True,
                            power_state=int(self.power_state_of(instance)))

    def sync_power_states(self) -> None:
        """Periodic: make the database agree with the hypervisor about each stable guest.

        As Nova does: a guest found shut off while its instance is active becomes
        stopped; the recorded power_state follows the driver. Instances with a task in
        progress are left to that task.
        """
        ctxt = get_admin_context()
        for instance in self.conductor.instances_on_host(ctxt, self.host):
            self._sync_power_state(ctxt, instance)

    def handle_lifecycle_event(self, uuid: str, power_state: PowerState) -> None:
        """The driver saw a guest start or stop (from its event thread): sync that one
        instance soon, off the driver's thread."""
        LOG.debug("Lifecycle event: %s is now %s", uuid, power_state.name)
        concurrency.spawn(self._sync_after_event, uuid, name=f"power-sync-{uuid[:8]}")

    def _sync_after_event(self, uuid: str) -> None:
        # A moment's grace: a reboot or a move stops and starts the guest on purpose,
        # and its own task_state (which the sync leaves alone) is then already set.
        concurrency.sleep(LIFECYCLE_EVENT_DELAY)
        ctxt = get_admin_context()
        try:
            for instance in self.conductor.instances_on_host(ctxt, self.host):
                if instance.uuid == uuid:
                    self._sync_power_state(ctxt, instance)
        except Exception:
            LOG.exception("Power-state sync of %s after a lifecycle event failed", uuid)

    def _sync_power_state(self, ctxt: RequestContext, instance: Instance) -> None:
        if instance.task_state is not None:
            return
        with self.instance_locks(instance.uuid):
            power = self.power_state_of(instance)
            values: dict = {}
            if power != instance.power_state:
                values["power_state"] = int(power)
            if (instance.vm_state == VmState.ACTIVE
                    and power in (PowerState.SHUTDOWN, PowerState.CRASHED)):
                values["vm_state"] = VmState.STOPPED.value
                LOG.warning("Instance %s is shut off on %s; marking it stopped",
                            instance.uuid, self.host)
            if values:
                try:
                    self.conductor.instance_update(
                        ctxt, instance.uuid, values,
                        {"task_state": [None], "vm_state": [instance.vm_state.value]})
                except Exception as exc:  # changed meanwhile: the next run sees it
                    LOG.info("Power sync of %s skipped: %s", instance.uuid, exc)
