"""[image] options: the local image store."""

from oslo_config import cfg

image_group = cfg.OptGroup("image", title="Image store options")

image_opts = [
    cfg.StrOpt(
        "local_dir",
        help="Directory holding image files (qcow2 or raw) and images.json, their index: "
        'a list of {"id", "name", "file", "disk_format", "min_disk", "min_ram", ...}. '
        "Unset means $state_path/images.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(image_group)
    conf.register_opts(image_opts, group=image_group)


def list_opts() -> dict:
    return {image_group: image_opts}
