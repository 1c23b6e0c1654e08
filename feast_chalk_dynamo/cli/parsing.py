"""The commands' argument parser: a bad option is one line on stderr and exit status 2, as every wrong
setup is.

argparse prints the command's whole usage first (12 lines for ``capacity``),
in which the one line that says what is wrong is easy to miss; ``--help``
still prints it all.
"""

from __future__ import annotations

import argparse
from typing import NoReturn


class OneLineErrors(argparse.ArgumentParser):
    """``ArgumentParser`` whose errors are one line; its subcommands' parsers are of its class too."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {' '.join(message.split())} (see {self.prog} --help)\n")
