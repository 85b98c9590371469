"""Django's shell, without "N objects imported automatically" before the output of every `shell -c`: a
one-off command's output is what scripts read. The interactive shell still says it."""

from typing import Any

from django.core.management.commands import shell


class Command(shell.Command):
    def get_namespace(self, **options: Any) -> dict[str, Any]:
        if options.get("command"):
            options = {**options, "verbosity": 0}
        return super().get_namespace(**options)
