"""[api] options for the REST API service."""

from oslo_config import cfg

api_group = cfg.OptGroup("api", title="REST API options")

api_opts = [
    cfg.HostAddressOpt("listen", default="0.0.0.0", help="Address the API listens on."),
    cfg.PortOpt("port", default=8774, help="Port the API listens on."),
    cfg.IntOpt("threads", default=16, min=1, help="Request threads per API worker."),
    cfg.StrOpt(
        "auth_strategy",
        default="token",
        choices=[
            ("token", "Tokens from the JSON file named by token_file"),
            ("noauth", "Development only: the token is 'user:project'; user 'admin' is an admin"),
        ],
        help="How API requests are authenticated.",
    ),
    cfg.StrOpt(
        "token_file",
        help="JSON file mapping each token to "
        '{"user_id": ..., "project_id": ..., "roles": [...]}. Required with auth_strategy=token.',
    ),
    cfg.IntOpt(
        "max_request_body_size",
        default=114688,
        min=1,
        help="Largest request body in bytes; larger bodies are refused with 413.",
    ),
    cfg.StrOpt(
        "public_endpoint",
        help="Base URL put in links (for example http://controller:8774). Unset means the "
        "host URL of each request.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(api_group)
    conf.register_opts(api_opts, group=api_group)


def list_opts() -> dict:
    return {api_group: api_opts}
