"""The part of CRIU's ``rpc.proto`` (criu_req, criu_resp, criu_opts) that pyoci sends
or reads, as field tables for ``pyoci.criu.wire``.  Field numbers and types are
CRIU's (rpc.proto of CRIU 3.x, MIT); names are theirs so they can be grepped.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.criu.wire import Table

# criu_req_type
EMPTY = 0
DUMP = 1
RESTORE = 2
CHECK = 3
PRE_DUMP = 4
PAGE_SERVER = 5
NOTIFY = 6
FEATURE_CHECK = 9
VERSION = 10

REQ_TYPE_NAMES = {
    DUMP: "DUMP",
    RESTORE: "RESTORE",
    CHECK: "CHECK",
    PRE_DUMP: "PRE_DUMP",
    NOTIFY: "NOTIFY",
    FEATURE_CHECK: "FEATURE_CHECK",
    VERSION: "VERSION",
}

# criu_cg_mode
CG_IGNORE = 0
CG_NONE = 1
CG_PROPS = 2
CG_SOFT = 3
CG_FULL = 4
CG_STRICT = 5
CG_DEFAULT = 6

PAGE_SERVER_INFO: Table = {
    "address": (1, "string", None),
    "port": (2, "int32", None),
    "pid": (3, "int32", None),
    "fd": (4, "int32", None),
}
EXT_MOUNT_MAP: Table = {"key": (1, "string", None), "val": (2, "string", None)}
JOIN_NAMESPACE: Table = {
    "ns": (1, "string", None),
    "ns_file": (2, "string", None),
    "extra_opt": (3, "string", None),
}
INHERIT_FD: Table = {"key": (1, "string", None), "fd": (2, "int32", None)}
CGROUP_ROOT: Table = {"ctrl": (1, "string", None), "path": (2, "string", None)}

OPTS: Table = {
    "images_dir_fd": (1, "int32", None),
    "pid": (2, "int32", None),
    "leave_running": (3, "bool", None),
    "ext_unix_sk": (4, "bool", None),
    "tcp_established": (5, "bool", None),
    "evasive_devices": (6, "bool", None),
    "shell_job": (7, "bool", None),
    "file_locks": (8, "bool", None),
    "log_level": (9, "int32", None),
    "log_file": (10, "string", None),
    "ps": (11, "message", PAGE_SERVER_INFO),
    "notify_scripts": (12, "bool", None),
    "root": (13, "string", None),
    "parent_img": (14, "string", None),
    "track_mem": (15, "bool", None),
    "auto_dedup": (16, "bool", None),
    "work_dir_fd": (17, "int32", None),
    "ext_mnt": (23, "[message]", EXT_MOUNT_MAP),
    "manage_cgroups": (24, "bool", None),
    "cg_root": (25, "[message]", CGROUP_ROOT),
    "rst_sibling": (26, "bool", None),
    "inherit_fd": (27, "[message]", INHERIT_FD),
    "manage_cgroups_mode": (34, "enum", None),
    "external": (37, "[string]", None),
    "empty_ns": (38, "uint32", None),
    "join_ns": (39, "[message]", JOIN_NAMESPACE),
    "freeze_cgroup": (44, "string", None),
    "lazy_pages": (48, "bool", None),
    "status_fd": (49, "int32", None),
    "orphan_pts_master": (50, "bool", None),
    "config_file": (51, "string", None),
    "lsm_profile": (53, "string", None),
    "lsm_mount_context": (63, "string", None),
}

FEATURES: Table = {
    "mem_track": (1, "bool", None),
    "lazy_pages": (2, "bool", None),
    "pidfd_store": (3, "bool", None),
}

REQ: Table = {
    "type": (1, "enum", None),
    "opts": (2, "message", OPTS),
    "notify_success": (3, "bool", None),
    "keep_open": (4, "bool", None),
    "features": (5, "message", FEATURES),
    "pid": (6, "uint32", None),
}

VERSION_MSG: Table = {
    "major_number": (1, "int32", None),
    "minor_number": (2, "int32", None),
    "gitid": (3, "string", None),
    "sublevel": (4, "int32", None),
    "extra": (5, "int32", None),
    "name": (6, "string", None),
}

RESP: Table = {
    "type": (1, "enum", None),
    "success": (2, "bool", None),
    "dump": (3, "message", {"restored": (1, "bool", None)}),
    "restore": (4, "message", {"pid": (1, "int32", None)}),
    "notify": (5, "message", {"script": (1, "string", None), "pid": (2, "int32", None)}),
    "ps": (6, "message", PAGE_SERVER_INFO),
    "cr_errno": (7, "int32", None),
    "features": (8, "message", FEATURES),
    "cr_errmsg": (9, "string", None),
    "version": (10, "message", VERSION_MSG),
    "status": (11, "int32", None),
}
