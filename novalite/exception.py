"""novalite's exceptions. Each carries the HTTP status the API maps it to."""

from __future__ import annotations

from typing import Any


class NovaliteException(Exception):
    """Base class. `msg_fmt` is formatted with the keyword arguments."""

    msg_fmt = "An unknown error occurred."
    code = 500

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        self.kwargs = kwargs
        if message is None:
            try:
                message = self.msg_fmt % kwargs
            except (KeyError, TypeError):
                message = self.msg_fmt
        self.message = message
        super().__init__(message)

    def format_message(self) -> str:
        return self.message


class Invalid(NovaliteException):
    msg_fmt = "Invalid input: %(reason)s"
    code = 400


class ValidationError(Invalid):
    msg_fmt = "Invalid input for field/attribute %(field)s: %(reason)s"


class NotAuthorized(NovaliteException):
    msg_fmt = "Authentication required."
    code = 401


class Forbidden(NovaliteException):
    msg_fmt = "Policy does not allow %(action)s to be performed."
    code = 403


class NotFound(NovaliteException):
    msg_fmt = "Resource could not be found."
    code = 404


class ServiceNotFound(NotFound):
    msg_fmt = "Service %(service_id)s could not be found."


class ComputeHostNotFound(NotFound):
    msg_fmt = "Compute host %(host)s could not be found."


class ComputeNodeNotFound(NotFound):
    msg_fmt = "Compute node %(node)s could not be found."


class InstanceNotFound(NotFound):
    msg_fmt = "Instance %(instance_id)s could not be found."


class MigrationNotFound(NotFound):
    msg_fmt = "Migration %(migration_id)s could not be found."


class Conflict(NovaliteException):
    msg_fmt = "Conflict: %(reason)s"
    code = 409


class UnexpectedTaskStateError(Conflict):
    msg_fmt = (
        "Conflict updating instance %(instance_uuid)s. Expected: %(expected)s. Actual: %(actual)s"
    )


class UnexpectedMigrationStatusError(Conflict):
    msg_fmt = (
        "Conflict updating migration %(migration_id)s. Expected status: %(expected)s. "
        "Actual: %(actual)s"
    )


class InvalidStateTransition(Conflict):
    msg_fmt = "%(kind)s cannot go from %(source)s to %(target)s."


class ConfigError(NovaliteException):
    msg_fmt = "Configuration error: %(reason)s"


# Database errors: novalite.db.api turns SQLAlchemy's errors into these, so callers
# never see a driver-specific exception.
class DBError(NovaliteException):
    msg_fmt = "Database error: %(reason)s"
    code = 500


class DBConnectionError(DBError):
    msg_fmt = "Cannot reach the database: %(reason)s"
    code = 503


class DBDeadlock(DBError):
    msg_fmt = "Database deadlock or lock timeout: %(reason)s"
    code = 409


class DBDuplicateEntry(Conflict):
    msg_fmt = "Duplicate entry: %(reason)s"


# -- catalog, quota, scheduling, instance actions ---------------------------------
class FlavorNotFound(NotFound):
    msg_fmt = "Flavor %(flavor_id)s could not be found."


class FlavorExists(Conflict):
    msg_fmt = "Flavor with %(field)s %(value)s already exists."


class ImageNotFound(NotFound):
    msg_fmt = "Image %(image_id)s could not be found."


class ImageUnacceptable(Invalid):
    """An image whose file cannot be used as is (checksum mismatch, unusable id)."""

    msg_fmt = "Image %(image_id)s is unacceptable: %(reason)s"


class OverQuota(Forbidden):
    """Nova answers 403 for quota exceeded on create (with this message shape)."""

    msg_fmt = (
        "Quota exceeded for %(overs)s: Requested %(req)s, but already used %(used)s "
        "of %(allowed)s %(overs)s"
    )


class NoValidHost(NovaliteException):
    """Nothing fits. `reason` says, per filter, how many hosts it removed."""

    msg_fmt = "No valid host was found. %(reason)s"
    code = 500


class InstanceInvalidState(Conflict):
    msg_fmt = (
        "Cannot '%(action)s' instance %(instance_uuid)s while it is in "
        "%(attr)s %(state)s"
    )


class InstanceIsLocked(Conflict):
    msg_fmt = "Instance %(instance_uuid)s is locked"


class ServiceUnavailable(Conflict):
    """The compute service an action needs is down (the API answers 409)."""

    msg_fmt = "Compute service of %(host)s is unavailable at this time."


class BuildAbortException(NovaliteException):
    msg_fmt = "Build of instance %(instance_uuid)s aborted: %(reason)s"


class RescheduledException(NovaliteException):
    msg_fmt = "Build of instance %(instance_uuid)s was re-scheduled: %(reason)s"


class VirtDriverError(NovaliteException):
    msg_fmt = "The virt driver failed: %(reason)s"


# -- servers API (novalite.compute.api) --------------------------------------------
class InstanceNotReady(Conflict):
    """An action needs the instance's host, and it has none yet (never scheduled)."""

    msg_fmt = "Instance %(instance_id)s is not ready"


class InstanceActionNotFound(NotFound):
    msg_fmt = "Action for request_id %(request_id)s on instance %(instance_uuid)s not found"


class InstanceMarkerNotFound(Invalid):
    msg_fmt = "marker [%(marker)s] not found"


class FlavorMemoryTooSmall(Invalid):
    msg_fmt = "Flavor's memory is too small for requested image."


class FlavorDiskTooSmall(Invalid):
    msg_fmt = ("Flavor's disk is too small for requested image. Flavor disk is "
               "%(flavor_size)i bytes, %(what)s is %(image_size)i bytes.")


class FlavorAccessExists(Conflict):
    msg_fmt = ("Flavor access already exists for flavor %(flavor_id)s and project "
               "%(project_id)s combination.")


class FlavorAccessNotFound(NotFound):
    msg_fmt = "Flavor access not found for %(flavor_id)s / %(project_id)s combination."


class FlavorExtraSpecsNotFound(NotFound):
    msg_fmt = "Flavor %(flavor_id)s has no extra specs with key %(extra_specs_key)s."


class MarkerNotFound(Invalid):
    msg_fmt = "marker [%(marker)s] not found"


# -- resize, cold migration and migration lists (novalite.compute.api) -------------
class MigrationNotFoundByStatus(MigrationNotFound):
    """No migration of the instance in that status (confirm/revert: "not resized")."""

    msg_fmt = "Migration not found for instance %(instance_id)s with status %(status)s."


class MigrationNotFoundForInstance(MigrationNotFound):
    msg_fmt = "Migration %(migration_id)s not found for instance %(instance_id)s"


class CannotResizeToSameFlavor(Invalid):
    msg_fmt = "When resizing, instances must change flavor!"


class CannotResizeDisk(Invalid):
    msg_fmt = "Server disk was unable to be resized because: %(reason)s"


class ResizeError(Invalid):
    msg_fmt = "Resize error: %(reason)s"


class CannotMigrateToSameHost(Invalid):
    msg_fmt = "Cannot migrate to the host where the server exists."


class LiveMigrationAborted(NovaliteException):
    msg_fmt = "Live migration of instance %(instance_uuid)s was aborted."


class MigrationPreCheckError(NovaliteException):
    msg_fmt = "Migration pre-check error: %(reason)s"
    code = 400


class InvalidMigrationState(Invalid):
    """force_complete/abort on a migration not in a status that allows it (a 400)."""

    msg_fmt = ("Migration %(migration_id)s state of instance %(instance_uuid)s is "
               "%(state)s. Cannot %(method)s while the migration is in this state.")


class UnableToMigrateToSelf(Invalid):
    """os-migrateLive naming the host the server already runs on (a 400)."""

    msg_fmt = "Unable to migrate instance (%(instance_id)s) to current host (%(host)s)."


class MigrationError(NovaliteException):
    msg_fmt = "Migration error: %(reason)s"
