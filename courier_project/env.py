"""Typed access to the environment: a malformed value stops start-up naming its variable."""

import contextlib
import ipaddress
import math
import re
import sys
import zlib
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import environ
from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured

BAD_SETTINGS_EXIT_CODE = 2  # as argparse exits on a bad command line: the fault is in what was given
_ENV_FILE_LINE = re.compile(r"\A(?:export )?[A-Za-z_0-9]+=")


def exit_on_bad_settings(argv: list[str]) -> None:
    """Load the settings now: a missing or malformed one is one line on stderr and exit code 2, not a traceback.

    Django would load them later and print the traceback; --settings and --pythonpath are honoured as it does.
    """
    from django.conf import settings
    from django.core.management.base import CommandError, CommandParser, handle_default_options

    parser = CommandParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--settings")
    parser.add_argument("--pythonpath")
    with contextlib.suppress(CommandError):  # a bad option: the command's own parser says so, with the usage
        handle_default_options(parser.parse_known_args(argv[1:])[0])
    try:
        settings.INSTALLED_APPS  # noqa: B018 (touching a setting loads them all)
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        raise SystemExit(BAD_SETTINGS_EXIT_CODE) from None


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def redacted_url(url: str) -> str:
    """The URL as an error message may show it: a password in it replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


# A random key of 50 characters carries about 240 bits by the estimate below (Django's generator: never under 215);
# 'password' * 7 carries 154, 'changeme-' repeated 148.
SECRET_KEY_MIN_BITS = 200
# Raw deflate shrinks a random key by nothing (ratio about 1.0; hexadecimal 0.8) and a repeated phrase to a third.
SECRET_KEY_MIN_COMPRESSION_RATIO = 0.7


def secret_key_is_weak(key: str) -> bool:
    """What `check --deploy` calls weak (security.W009), refused at start-up instead of merely reported; and a key
    long enough but guessable: little entropy by its characters' frequencies, or a phrase repeated."""
    return (
        len(key) < SECRET_KEY_MIN_LENGTH
        or len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
        or key.startswith(SECRET_KEY_INSECURE_PREFIX)
        or estimated_bits(key) < SECRET_KEY_MIN_BITS
        or compression_ratio(key) < SECRET_KEY_MIN_COMPRESSION_RATIO
    )


def estimated_bits(key: str) -> float:
    """Shannon's entropy of the key's character frequencies, times its length: an upper bound on a key's
    strength, low for keys made of few characters."""
    counts = Counter(key)
    return -sum(count * math.log2(count / len(key)) for count in counts.values())


def compression_ratio(key: str) -> float:
    """Raw deflate's output over the input: repetition (a phrase typed several times) compresses well."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    return len(deflate.compress(key.encode()) + deflate.flush()) / len(key.encode())


class StrictEnv(environ.Env):
    """django-environ's Env, but a value that does not parse names the variable at fault."""

    def get_value(
        self, var: str, cast: Any = None, default: Any = environ.Env.NOTSET, parse_default: bool = False
    ) -> Any:
        try:
            return super().get_value(var, cast=cast, default=default, parse_default=parse_default)
        except ImproperlyConfigured:
            raise
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(
                f"Environment variable {var}={self.ENVIRON.get(var)!r} is malformed: {exc}"
            ) from exc

    def read_file(self, var: str, default: str, base: Path) -> Path | None:
        """Read VAR=value lines from the file `var` names (relative to `base`) beneath the environment, which wins.

        Its path, read or not (None: `var` is empty, no file). The default file may be absent; a file named
        explicitly must exist. A line of another shape stops start-up (django-environ would only log it).
        """
        name = self.str(var, default=default)
        if not name:
            return None
        path = base / name
        if not path.is_file():
            if var in self.ENVIRON:
                raise ImproperlyConfigured(f"Environment variable {var}={name!r} is malformed: {path} is no file")
            return path
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip() and not line.startswith("#") and not _ENV_FILE_LINE.match(line):
                raise ImproperlyConfigured(f"{path}, line {number}, is malformed: expected VAR=value or a # comment")
        self.read_env(path)
        return path

    def bool(self, var: str, default: Any = environ.Env.NOTSET) -> bool:  # type: ignore[override]
        raw = self.str(var, default="" if default is environ.Env.NOTSET else str(default)).strip().lower()
        if raw in self.BOOLEAN_TRUE_STRINGS:
            return True
        if raw in ("false", "off", "no", "n", "0", ""):
            return False
        raise ImproperlyConfigured(f"Environment variable {var}={raw!r} is malformed: expected true or false")

    def database(self, var: str, default: str) -> dict[str, Any]:
        config = self.db_url(var, default=default)
        if not config.get("ENGINE"):
            raise ImproperlyConfigured(
                f"Environment variable {var} is malformed: use sqlite:///PATH or postgres://USER@HOST:PORT/NAME"
            )
        return config

    def http_url(self, var: str, default: str) -> str:
        try:
            url = self.url(var, default=default)
            url.port  # noqa: B018 (a malformed port raises here, its message naming nothing secret)
        except ValueError as exc:
            raise ImproperlyConfigured(f"Environment variable {var} is malformed: {exc}") from None
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ImproperlyConfigured(
                f"Environment variable {var}={redacted_url(url.geturl())!r} is malformed: "
                "expected http(s)://HOST[:PORT]"
            )
        return url.geturl()

    def positive_int(self, var: str, default: int) -> int:
        return self._checked(var, self.int(var, default=default), lambda v: v > 0, "a whole number above 0")

    def non_negative_int(self, var: str, default: int) -> int:
        return self._checked(var, self.int(var, default=default), lambda v: v >= 0, "a whole number, 0 or more")

    def positive_float(self, var: str, default: float) -> float:
        return self._checked(var, self.float(var, default=default), lambda v: v > 0, "a number above 0")

    def non_negative_float(self, var: str, default: float) -> float:
        return self._checked(var, self.float(var, default=default), lambda v: v >= 0, "a number, 0 or more")

    def seconds_or_never(self, var: str, default: str) -> float | None:
        """A number of seconds, 0 or more, or `never` (None)."""
        raw = self.str(var, default=default).strip().lower()
        if raw == "never":
            return None
        try:
            seconds = float(raw)
        except ValueError:
            seconds = math.nan
        if not 0 <= seconds < math.inf:
            raise ImproperlyConfigured(
                f"Environment variable {var}={raw!r} is malformed: expected seconds (0 or more) or never"
            )
        return seconds

    def file_path(self, var: str) -> str:
        """The path of an existing file, or "" when unset: a wrong path stops start-up, not the first call."""
        return self._checked(var, self.str(var, default=""), lambda v: not v or Path(v).is_file(), "an existing file")

    def networks(self, var: str, default: str) -> list[Network]:
        """Comma-separated addresses or networks (CIDR); empty: none."""
        try:
            return [ipaddress.ip_network(item, strict=False) for item in self.list(var, default=default.split(","))]
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"Environment variable {var}={self.ENVIRON.get(var)!r} is malformed: {exc}"
            ) from exc

    def choice(self, var: str, default: str, choices: tuple[str, ...]) -> str:
        return self._checked(
            var, self.str(var, default=default).lower(), lambda v: v in choices, f"one of {', '.join(choices)}"
        )

    def _checked(self, var: str, value: Any, ok: Any, expected: str) -> Any:
        if not ok(value):
            raise ImproperlyConfigured(f"Environment variable {var}={value!r} is malformed: expected {expected}")
        return value

    def cache(self, var: str, default: str) -> dict[str, Any]:  # type: ignore[override]
        raw = self.str(var, default=default)
        try:
            return self.cache_url_config(raw)
        except ImproperlyConfigured as exc:
            raise ImproperlyConfigured(
                f"Environment variable {var}={raw!r} is malformed: {exc}; use dbcache://TABLE or redis://HOST:PORT/DB"
            ) from exc

    def rate(self, var: str, default: str) -> str:
        """A throttle rate as DRF reads it: requests per second, minute, hour or day ("60/min")."""
        return self._checked(
            var,
            self.str(var, default=default),
            lambda v: re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", v) is not None,
            "a number of requests per s, min, hour or day, e.g. 60/min",
        )
