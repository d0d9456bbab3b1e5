"""Schemas for /flavors, its extra specs and its access actions (Nova's shapes).

Numbers in a flavor body may also come as digit strings, as Nova accepts; the handler
converts them and checks the upper bound a string cannot express. Patterns end in
``\\Z`` rather than ``$``, which in Python also matches before a final newline.
"""

from __future__ import annotations

from novalite.api.schemas import common

# The database's INTEGER (and Nova's db constant MAX_INT).
MAX_INT = 0x7FFFFFFF
# The largest value of a single-precision float column (Nova's SQL_SP_FLOAT_MAX).
MAX_RXTX_FACTOR = 3.40282e38

SORT_KEYS = ["created_at", "description", "disabled", "ephemeral_gb", "flavorid", "id",
             "is_public", "memory_mb", "name", "root_gb", "rxtx_factor", "swap",
             "updated_at", "vcpu_weight", "vcpus"]

# Printable characters, no leading or trailing whitespace.
NAME = {"type": "string", "minLength": 1, "maxLength": 255,
        "pattern": r"^(?!\s)(?!.*\s\Z)[^\x00-\x1f\x7f]+\Z"}
# Printable characters plus tab and newlines; the column is TEXT (64 KiB).
DESCRIPTION = {"type": ["string", "null"], "minLength": 0, "maxLength": 65535,
               "pattern": r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*\Z"}
FLAVOR_ID = {"type": ["string", "integer", "null"], "minLength": 1, "maxLength": 255,
             "pattern": r"^(?! )[a-zA-Z0-9. _-]+(?<! )\Z"}
POSITIVE = {"type": ["integer", "string"], "pattern": r"^0*[1-9][0-9]*\Z",
            "minimum": 1, "maximum": MAX_INT}
NON_NEGATIVE = {"type": ["integer", "string"], "pattern": r"^[0-9]+\Z",
                "minimum": 0, "maximum": MAX_INT}
# swap may also be "" (0), the value flavor views show for "no swap" before 2.75.
SWAP = {"type": ["integer", "string"], "pattern": r"^[0-9]*\Z",
        "minimum": 0, "maximum": MAX_INT}
RXTX_FACTOR = {"type": ["number", "string"], "pattern": r"^[0-9]+(\.[0-9]+)?\Z",
               "exclusiveMinimum": 0, "maximum": MAX_RXTX_FACTOR}
BOOLEAN = {"type": ["boolean", "string"],
           "enum": [True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes",
                    False, "False", "FALSE", "false", "0", "OFF", "Off", "off",
                    "NO", "No", "no"]}

_flavor_properties = {
    "name": NAME,
    "id": FLAVOR_ID,
    "ram": POSITIVE,
    "vcpus": POSITIVE,
    "disk": NON_NEGATIVE,
    "OS-FLV-EXT-DATA:ephemeral": NON_NEGATIVE,
    "swap": SWAP,
    "rxtx_factor": RXTX_FACTOR,
    "os-flavor-access:is_public": BOOLEAN,
}

# POST /flavors. `id` may be left out or null: the API then generates a uuid.
create = {
    "type": "object",
    "properties": {
        "flavor": {
            "type": "object",
            "properties": _flavor_properties,
            "required": ["name", "ram", "vcpus", "disk"],
            "additionalProperties": False,
        },
    },
    "required": ["flavor"],
    "additionalProperties": False,
}

# 2.55: an optional description.
create_v255 = {
    "type": "object",
    "properties": {
        "flavor": common.extend(create["properties"]["flavor"],
                                {"description": DESCRIPTION}),
    },
    "required": ["flavor"],
    "additionalProperties": False,
}

# PUT /flavors/{id} (2.55): only the description may change.
update_v255 = {
    "type": "object",
    "properties": {
        "flavor": {
            "type": "object",
            "properties": {"description": DESCRIPTION},
            "required": ["description"],
            "additionalProperties": False,
        },
    },
    "required": ["flavor"],
    "additionalProperties": False,
}

# GET /flavors and /flavors/detail. Unknown parameters are ignored until 2.75.
index_query = {
    "type": "object",
    "properties": {
        "limit": common.multi(common.NON_NEGATIVE_INT_STRING),
        "marker": common.multi({"type": "string"}),
        "is_public": common.multi({"type": "string"}),
        "minRam": common.multi({"type": "string"}),
        "minDisk": common.multi({"type": "string"}),
        "sort_key": common.multi({"type": "string", "enum": SORT_KEYS}),
        "sort_dir": common.multi({"type": "string", "enum": ["asc", "desc"]}),
    },
    "additionalProperties": True,
}
index_query_v275 = dict(index_query, additionalProperties=False)

# Extra specs: keys of letters, digits and - _ : . and space; string or number values.
EXTRA_SPEC_KEY = r"^[a-zA-Z0-9_:. -]{1,255}\Z"
extra_specs = {
    "type": "object",
    "patternProperties": {
        EXTRA_SPEC_KEY: {"type": ["string", "number"], "maxLength": 255},
    },
    "additionalProperties": False,
}

# POST /flavors/{id}/os-extra_specs.
extra_specs_create = {
    "type": "object",
    "properties": {"extra_specs": extra_specs},
    "required": ["extra_specs"],
    "additionalProperties": False,
}

# PUT /flavors/{id}/os-extra_specs/{key}: exactly the one key of the URL.
extra_spec_update = dict(extra_specs, minProperties=1, maxProperties=1)

_TENANT = {"type": "string", "minLength": 1, "maxLength": 255}


def _access_action(name: str) -> dict:
    return {
        "type": "object",
        "properties": {
            name: {
                "type": "object",
                "properties": {"tenant": _TENANT},
                "required": ["tenant"],
                "additionalProperties": False,
            },
        },
        "required": [name],
        "additionalProperties": False,
    }


# POST /flavors/{id}/action.
add_tenant_access = _access_action("addTenantAccess")
remove_tenant_access = _access_action("removeTenantAccess")
