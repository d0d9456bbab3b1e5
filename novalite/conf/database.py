"""[database] options."""

from oslo_config import cfg

database_group = cfg.OptGroup("database", title="Database options")

database_opts = [
    cfg.StrOpt(
        "connection",
        secret=True,
        help="SQLAlchemy URL of the database. Unset means the embedded SQLite "
        "database $state_path/novalite.sqlite. Examples: "
        "postgresql+psycopg2://user:pw@host/novalite, "
        "mysql+pymysql://user:pw@host/novalite. Compute agents never use it.",
    ),
    cfg.IntOpt("pool_size", default=10, min=1, help="Connections kept in the pool (not SQLite)."),
    cfg.IntOpt("max_overflow", default=20, min=0, help="Connections allowed above pool_size."),
    cfg.BoolOpt("echo", default=False, help="Log every SQL statement (debugging only)."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(database_group)
    conf.register_opts(database_opts, group=database_group)


def list_opts() -> dict:
    return {database_group: database_opts}
