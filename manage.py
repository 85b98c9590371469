#!/usr/bin/env python
"""Django's command-line utility for service-courier."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courier_project.settings")
    from django.core.management import execute_from_command_line

    from courier_project.env import exit_on_bad_settings

    exit_on_bad_settings(sys.argv)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
