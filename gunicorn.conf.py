"""gunicorn settings for the web process, all from the environment.

The image runs `gunicorn --config gunicorn.conf.py`; docs/deployment.md lists the variables. A malformed value
stops start-up naming its variable, as in courier_project/settings.py. Anything not covered here can still be set
with gunicorn's own GUNICORN_CMD_ARGS (e.g. GUNICORN_CMD_ARGS="--bind unix:/run/courier.sock").
"""

import logging
import os

from courier_project.env import StrictEnv
from courier_project.logging import JsonFormatter

env = StrictEnv()

wsgi_app = "courier_project.wsgi:application"
bind = [f"0.0.0.0:{env.positive_int('PORT', default=8000)}"]

# Processes x threads is the number of requests served at once, and of database connections held.
workers = env.positive_int("WEB_CONCURRENCY", default=2)
threads = env.positive_int("GUNICORN_THREADS", default=4)
timeout = env.positive_int("GUNICORN_TIMEOUT", default=30)
# On SIGTERM the workers get this long to finish the requests they hold; keep it below the orchestrator's
# grace period (compose's stop_grace_period for web is 30 s).
graceful_timeout = env.positive_int("GUNICORN_GRACEFUL_TIMEOUT", default=20)
keepalive = env.positive_int("GUNICORN_KEEPALIVE", default=5)
# Recycle a worker after this many requests (0: never), staggered so that they do not all restart at once.
max_requests = env.non_negative_int("GUNICORN_MAX_REQUESTS", default=1000)
max_requests_jitter = max_requests // 10

# The heartbeat files on tmpfs: a container's overlay filesystem can stall them and get workers killed.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# gunicorn's runtime control socket (gunicornc) is not used here; it would be created under $HOME.
control_socket_disable = True

# Access log on stdout, errors on stderr, in the same format as the application (LOG_FORMAT).
accesslog = "-"
errorlog = "-"
loglevel = env.choice("LOG_LEVEL", default="info", choices=("debug", "info", "warning", "error"))
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'


class AccessJsonFormatter(JsonFormatter):
    """The project's JSON lines; an access line also carries its request's fields as keys."""

    FIELDS = {"method": "m", "path": "U", "status": "s", "bytes": "B", "duration_ms": "M", "remote_addr": "h"}

    def format(self, record: logging.LogRecord) -> str:
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            for key, atom in self.FIELDS.items():
                setattr(record, key, record.args.get(atom))
            record.status = int(record.status) if str(record.status).isdigit() else record.status
        return super().format(record)


if env.choice("LOG_FORMAT", default="text", choices=("text", "json")) == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": AccessJsonFormatter}},
        "handlers": {
            "stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"},
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
        },
        "root": {"level": "INFO", "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": loglevel.upper(), "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
        },
    }
