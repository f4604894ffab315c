"""Command groups of `tos-policy`, one module each, each with `register(main: click.Group)`."""
