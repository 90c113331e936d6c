"""`python -m atelier` runs the CLI."""

from atelier.cli.app import main

main()
