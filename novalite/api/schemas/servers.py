"""Schemas for /servers: create and update bodies, and the list query string.

Each follows Nova's schema at the microversion that changed it; bodies never allow
unknown keys, so a typo is a 400 naming the key instead of a silently ignored field.
Where novalite differs from Nova it is said next to the field.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from novalite.api.schemas import common

# -- parameter types ------------------------------------------------------------------

# Printable, no leading or trailing whitespace (Nova's "name" format). \Z, not $, so a
# trailing newline does not slip through.
NAME = {"type": "string", "minLength": 1, "maxLength": 255,
        "pattern": r"^(?!\s)[^\x00-\x1f\x7f]*(?<!\s)\Z"}
DESCRIPTION = {"type": ["string", "null"], "minLength": 0, "maxLength": 255,
               "pattern": r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*\Z"}
UUID = {"type": "string",
        "pattern": r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                   r"[0-9a-fA-F]{12}\Z"}
# Nova's "boolean" in bodies: JSON booleans and the usual strings.
BOOLEAN = {"type": ["boolean", "string"],
           "enum": [True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes",
                    False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No",
                    "no"]}
POSITIVE_INTEGER = {"type": ["integer", "string"], "pattern": r"^[1-9][0-9]*\Z",
                    "minimum": 1, "minLength": 1}
FLAVOR_REF = {"type": ["string", "integer"], "minLength": 1, "maxLength": 1024}
# novalite boots from images only, so imageRef is required and never "". It may be an
# id or a link URL ending in one (not only a UUID): the local image store's ids are
# whatever its index says.
IMAGE_REF = {"type": "string", "minLength": 1, "maxLength": 1024}
IP_ADDRESS = {"type": "string", "oneOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
ACCESS_IPV4 = {"type": "string", "format": "ipv4"}
ACCESS_IPV6 = {"type": "string", "format": "ipv6"}
DISK_CONFIG = {"type": "string", "enum": ["AUTO", "MANUAL"]}
METADATA = {
    "type": "object",
    "patternProperties": {r"^[a-zA-Z0-9-_:. ]{1,255}\Z": {"type": "string", "maxLength": 255}},
    "additionalProperties": False,
}
# Base64 is checked by the handler (jsonschema has no base64 format).
USER_DATA = {"type": "string", "maxLength": 65535}
SECURITY_GROUPS = {
    "type": "array",
    "items": {"type": "object", "properties": {"name": NAME}, "additionalProperties": False},
}
PERSONALITY = {
    "type": "array",
    "items": {"type": "object",
              "properties": {"path": {"type": "string"}, "contents": {"type": "string"}},
              "additionalProperties": False},
}
# Accepted by the schema so the handler can say plainly that volumes are not supported.
BLOCK_DEVICE_MAPPING = {"type": "array", "items": {"type": "object"}}
NETWORK_TAG = {"type": "string", "maxLength": 60, "pattern": r"^[^,/]*\Z"}
HOSTNAME = {"type": "string", "minLength": 2, "maxLength": 63,
            "pattern": r"^[a-zA-Z0-9]+[a-zA-Z0-9-]*[a-zA-Z0-9]+\Z"}

_NETWORK_V21 = {
    "type": "object",
    "properties": {
        "fixed_ip": IP_ADDRESS,
        "port": {"oneOf": [UUID, {"type": "null"}]},
        "uuid": {"type": "string"},
    },
    "additionalProperties": False,
}
_NETWORK_V232 = common.extend(_NETWORK_V21, {"tag": NETWORK_TAG})
_NETWORK_V237 = common.extend(_NETWORK_V232, {"uuid": UUID})
NETWORKS_V21 = {"type": "array", "items": _NETWORK_V21}
NETWORKS_V232 = {"type": "array", "items": _NETWORK_V232}
# 2.37: "auto", "none", or a list; required.
NETWORKS_V237 = {"oneOf": [{"type": "array", "items": _NETWORK_V237},
                           {"type": "string", "enum": ["none", "auto"]}]}

_UUID_OR_UUIDS = {"oneOf": [UUID, {"type": "array", "items": UUID}]}
SCHEDULER_HINTS = {
    "type": "object",
    "properties": {
        "group": UUID,
        "different_host": _UUID_OR_UUIDS,
        "same_host": _UUID_OR_UUIDS,
        "query": {"type": ["string", "object"]},
        "target_cell": NAME,
        "different_cell": {"oneOf": [{"type": "string"},
                                     {"type": "array", "items": {"type": "string"}}]},
        "build_near_host_ip": IP_ADDRESS,
        "cidr": {"type": "string", "pattern": r"^/[0-9a-f.:]+\Z"},
    },
    # Nova passes unknown hints through to the scheduler filters.
    "additionalProperties": True,
}

# -- POST /servers --------------------------------------------------------------------

_SERVER_V21: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": NAME,
        "imageRef": IMAGE_REF,
        "flavorRef": FLAVOR_REF,
        "adminPass": {"type": "string"},
        "metadata": METADATA,
        "networks": NETWORKS_V21,
        "OS-DCF:diskConfig": DISK_CONFIG,
        "accessIPv4": ACCESS_IPV4,
        "accessIPv6": ACCESS_IPV6,
        # Accepted and ignored: novalite injects no files (removed by Nova in 2.57).
        "personality": PERSONALITY,
        "availability_zone": NAME,
        "block_device_mapping": BLOCK_DEVICE_MAPPING,
        "block_device_mapping_v2": BLOCK_DEVICE_MAPPING,
        "config_drive": BOOLEAN,
        # Recorded and shown; novalite has no key pairs to check it against.
        "key_name": NAME,
        "min_count": POSITIVE_INTEGER,
        "max_count": POSITIVE_INTEGER,
        "return_reservation_id": BOOLEAN,
        # Echoed in the create response as Nova does; novalite has no networking.
        "security_groups": SECURITY_GROUPS,
        "user_data": USER_DATA,
    },
    "required": ["name", "flavorRef", "imageRef"],
    "additionalProperties": False,
}


def _server_schema(version: str) -> dict[str, Any]:
    server = copy.deepcopy(_SERVER_V21)
    props = server["properties"]
    if _at_least(version, "2.19"):
        props["description"] = DESCRIPTION
    if _at_least(version, "2.32"):
        props["networks"] = NETWORKS_V232
    if _at_least(version, "2.37"):
        props["networks"] = NETWORKS_V237
        server["required"] = [*server["required"], "networks"]
    if _at_least(version, "2.57"):
        del props["personality"]
    if _at_least(version, "2.74"):
        props["host"] = common.HOSTNAME
        props["hypervisor_hostname"] = common.HOSTNAME
    if _at_least(version, "2.90"):
        props["hostname"] = HOSTNAME
    return server


def _at_least(version: str, other: str) -> bool:
    major, minor = (int(part) for part in version.split("."))
    other_major, other_minor = (int(part) for part in other.split("."))
    return (major, minor) >= (other_major, other_minor)


@functools.cache
def create(version: str) -> dict[str, Any]:
    """The POST /servers body schema at `version` ("2.X"); do not mutate it."""
    return {
        "type": "object",
        "properties": {
            "server": _server_schema(version),
            "os:scheduler_hints": SCHEDULER_HINTS,
            "OS-SCH-HNT:scheduler_hints": SCHEDULER_HINTS,
        },
        "required": ["server"],
        "additionalProperties": False,
    }


# -- PUT /servers/{server_id} ---------------------------------------------------------

@functools.cache
def update(version: str) -> dict[str, Any]:
    """The PUT /servers/{id} body schema at `version`; do not mutate it."""
    props: dict[str, Any] = {"name": NAME, "OS-DCF:diskConfig": DISK_CONFIG,
                             "accessIPv4": ACCESS_IPV4, "accessIPv6": ACCESS_IPV6}
    if _at_least(version, "2.19"):
        props["description"] = DESCRIPTION
    if _at_least(version, "2.90"):
        props["hostname"] = HOSTNAME
    return {
        "type": "object",
        "properties": {"server": {"type": "object", "properties": props,
                                  "additionalProperties": False}},
        "required": ["server"],
        "additionalProperties": False,
    }


# -- GET /servers and /servers/detail ----------------------------------------------------

# Nova's sort keys. Keys of columns novalite lacks (access IPs, kernel/ramdisk, ...) and
# Nova's ignored keys are accepted and dropped, as Nova drops its ignored ones.
SORT_KEYS = (
    "access_ip_v4", "access_ip_v6", "auto_disk_config", "availability_zone", "config_drive",
    "created_at", "display_description", "display_name", "host", "hostname", "image_ref",
    "instance_type_id", "kernel_id", "key_name", "launch_index", "launched_at", "locked_by",
    "node", "power_state", "progress", "project_id", "ramdisk_id", "root_device_name",
    "task_state", "terminated_at", "updated_at", "user_id", "uuid", "vm_state",
)
IGNORED_SORT_KEYS = (
    "architecture", "cell_name", "cleaned", "default_ephemeral_device",
    "default_swap_device", "deleted", "deleted_at", "disable_terminate", "ephemeral_gb",
    "ephemeral_key_uuid", "id", "key_data", "launched_on", "locked", "memory_mb", "os_type",
    "reservation_id", "root_gb", "shutdown_terminate", "user_data", "vcpus", "vm_mode",
)

# Every filter Nova's list accepts at 2.1 (unknown ones were ignored until 2.75).
QUERY_V21_KEYS = (
    "user_id", "project_id", "tenant_id", "launch_index", "image_ref", "image", "kernel_id",
    "ramdisk_id", "hostname", "key_name", "power_state", "vm_state", "task_state", "host",
    "node", "flavor", "reservation_id", "launched_at", "terminated_at", "availability_zone",
    "name", "display_name", "description", "display_description", "locked_by", "uuid",
    "root_device_name", "config_drive", "access_ip_v4", "access_ip_v6", "auto_disk_config",
    "progress", "sort_key", "sort_dir", "all_tenants", "soft_deleted", "deleted", "status",
    "changes-since", "ip", "ip6", "created_at", "block_device_mapping", "services",
    "metadata", "pci_devices", "security_groups", "info_cache", "system_metadata", "limit",
    "marker",
)
QUERY_V226_KEYS = ("tags", "tags-any", "not-tags", "not-tags-any")


@functools.cache
def index_query(version: str) -> dict[str, Any]:
    """The GET /servers[/detail] query schema at `version`; do not mutate it."""
    props: dict[str, Any] = {key: common.multi({"type": "string"}) for key in QUERY_V21_KEYS}
    sort_keys = list(SORT_KEYS) + list(IGNORED_SORT_KEYS)
    props.update({
        "limit": common.multi(common.NON_NEGATIVE_INT_STRING),
        "sort_key": common.multi({"type": "string", "enum": sort_keys}),
        "sort_dir": common.multi({"type": "string", "enum": ["asc", "desc"]}),
        "deleted": common.multi(common.BOOLEAN_STRING),
        "soft_deleted": common.multi(common.BOOLEAN_STRING),
    })
    if _at_least(version, "2.26"):
        props.update({key: common.multi({"type": "string"}) for key in QUERY_V226_KEYS})
    if _at_least(version, "2.66"):
        props["changes-before"] = common.multi({"type": "string"})
    if _at_least(version, "2.73"):
        props["locked"] = common.multi(common.BOOLEAN_STRING)
    # 2.75: unknown query parameters are refused.
    return {"type": "object", "properties": props,
            "additionalProperties": not _at_least(version, "2.75")}
