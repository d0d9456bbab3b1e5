"""The connection to one libvirt daemon: opened lazily, reopened when it drops, and a
lifecycle-event thread that tells the driver when a guest starts or stops by itself.

libvirt-python releases the GIL during calls and its connections may be shared by
threads; a migration job is nonetheless driven over a connection of its own
(`open_connection`), because calls on the connection running migrateToURI3 can block
until the migration ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from novalite import exception
from novalite.states import PowerState
from novalite.utils import concurrency

try:
    import libvirt
except ImportError:  # the fake driver and the control plane do not need it
    libvirt = None

LOG = logging.getLogger(__name__)

LifecycleListener = Callable[[str, PowerState], None]

_event_loop_lock = concurrency.Lock()
_event_loop_started = False


if libvirt is not None:
    # libvirt prints every error to stderr by default, even those novalite expects and
    # handles (no such domain, keepalive unsupported); the exceptions carry them anyway.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


def require_libvirt() -> None:
    if libvirt is None:
        raise exception.ConfigError(
            reason="compute_driver = libvirt needs the libvirt-python package "
                   "(pip install 'novalite[libvirt]'; it builds against libvirt-dev)")


def power_state(libvirt_state: int) -> PowerState:
    """A domain state as novalite's power state."""
    return {
        libvirt.VIR_DOMAIN_NOSTATE: PowerState.NOSTATE,
        libvirt.VIR_DOMAIN_RUNNING: PowerState.RUNNING,
        libvirt.VIR_DOMAIN_BLOCKED: PowerState.RUNNING,
        libvirt.VIR_DOMAIN_PAUSED: PowerState.PAUSED,
        libvirt.VIR_DOMAIN_SHUTDOWN: PowerState.SHUTDOWN,
        libvirt.VIR_DOMAIN_SHUTOFF: PowerState.SHUTDOWN,
        libvirt.VIR_DOMAIN_CRASHED: PowerState.CRASHED,
        libvirt.VIR_DOMAIN_PMSUSPENDED: PowerState.SUSPENDED,
    }.get(libvirt_state, PowerState.NOSTATE)


def is_error(err: Exception, *codes: int) -> bool:
    return isinstance(err, libvirt.libvirtError) and err.get_error_code() in codes


def _start_event_loop() -> None:
    """libvirt delivers events through a process-wide loop; start it once, before the
    first connection that registers callbacks."""
    global _event_loop_started
    with _event_loop_lock:
        if _event_loop_started:
            return
        libvirt.virEventRegisterDefaultImpl()

        def run() -> None:
            while True:
                try:
                    libvirt.virEventRunDefaultImpl()
                except Exception:  # never let the loop die: events would stop silently
                    LOG.exception("libvirt event loop iteration failed")
                    concurrency.sleep(1)

        concurrency.spawn(run, name="libvirt-events")
        _event_loop_started = True


class Host:
    def __init__(self, uri: str, lifecycle_listener: LifecycleListener | None = None) -> None:
        require_libvirt()
        self.uri = uri
        self._listener = lifecycle_listener
        self._lock = concurrency.Lock()
        self._conn = None

    # -- connections -------------------------------------------------------------
    def get_connection(self):
        """The shared connection, reopened if libvirtd restarted or the link dropped."""
        with self._lock:
            if self._conn is not None:
                try:
                    if self._conn.isAlive():
                        return self._conn
                except libvirt.libvirtError:
                    pass
                LOG.warning("Connection to %s lost; reconnecting", self.uri)
                self._close_quietly(self._conn)
                self._conn = None
            self._conn = self._connect()
            return self._conn

    def _connect(self):
        if self._listener is not None:
            _start_event_loop()
        try:
            conn = libvirt.open(self.uri)
        except libvirt.libvirtError as err:
            raise exception.VirtDriverError(
                reason=f"cannot connect to libvirt at {self.uri}: {err}") from err
        if self._listener is not None:
            conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                        self._lifecycle_event, None)
            try:
                conn.setKeepAlive(5, 3)
            except libvirt.libvirtError:  # local (unix socket) URIs may refuse it
                pass
        LOG.info("Connected to libvirt at %s (libvirt %s)", self.uri, conn.getLibVersion())
        return conn

    def open_connection(self):
        """A private connection (for one migration job); the caller closes it."""
        try:
            return libvirt.open(self.uri)
        except libvirt.libvirtError as err:
            raise exception.VirtDriverError(
                reason=f"cannot connect to libvirt at {self.uri}: {err}") from err

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._close_quietly(self._conn)
                self._conn = None

    @staticmethod
    def _close_quietly(conn) -> None:
        try:
            conn.close()
        except libvirt.libvirtError:
            pass

    # -- domains -------------------------------------------------------------------
    def get_domain(self, uuid: str):
        """The domain of this instance, or None when this host has none."""
        try:
            return self.get_connection().lookupByUUIDString(uuid)
        except libvirt.libvirtError as err:
            if is_error(err, libvirt.VIR_ERR_NO_DOMAIN):
                return None
            raise

    def list_domains(self) -> list:
        return self.get_connection().listAllDomains(0)

    # -- events --------------------------------------------------------------------
    def _lifecycle_event(self, conn, domain, event: int, detail: int, opaque) -> None:
        """Runs on the event loop thread: map the event and hand it on, never block."""
        states = {
            libvirt.VIR_DOMAIN_EVENT_STARTED: PowerState.RUNNING,
            libvirt.VIR_DOMAIN_EVENT_RESUMED: PowerState.RUNNING,
            libvirt.VIR_DOMAIN_EVENT_SUSPENDED: PowerState.PAUSED,
            libvirt.VIR_DOMAIN_EVENT_STOPPED: PowerState.SHUTDOWN,
            libvirt.VIR_DOMAIN_EVENT_SHUTDOWN: PowerState.SHUTDOWN,
            libvirt.VIR_DOMAIN_EVENT_CRASHED: PowerState.CRASHED,
        }
        state = states.get(event)
        if state is None or self._listener is None:
            return
        try:
            self._listener(domain.UUIDString(), state)
        except Exception:
            LOG.exception("Lifecycle event listener failed")
