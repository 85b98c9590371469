"""The .env.local a demo leaves behind, so that the README's commands run as written on this machine afterwards."""

import os
import secrets
from pathlib import Path

from django.conf import settings

DEFAULT_DATABASE_URL = "sqlite:///db.sqlite3"  # the settings' default


def local_env_text(database_url: str) -> str:
    return (
        "# Written by `make demo` for the commands you run on this machine (courier_project/settings.py reads it\n"
        "# beneath the environment, which wins). Never committed, never in the image, ignored in containers.\n"
        "# Delete it to get a new one from the next demo.\n"
        "DEBUG=true\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"DATABASE_URL={database_url}\n"
    )


def write_local_env() -> str:
    """Write settings.LOCAL_ENV_FILE unless it exists or is switched off; what was done, for the user."""
    path: Path | None = settings.LOCAL_ENV_FILE
    if path is None:
        return "LOCAL_ENV_FILE is empty: no local settings file written"
    shown = path.name if path.parent == Path(settings.BASE_DIR) else str(path)
    if path.exists():
        return f"{shown} kept as it is (delete it to have a new one written)"
    # Readable by its owner only: it holds a secret key.
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(local_env_text(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL))
    return f"{shown} written (DEBUG=true, a new SECRET_KEY, this database): manage.py commands here read it"
