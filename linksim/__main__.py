"""``python -m linksim``: the same command line as the ``linksim`` script."""

from linksim.cli import entry_point

entry_point()
