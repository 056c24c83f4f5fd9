"""Allow `python -m campfire`."""

from campfire.cli import main

main()
