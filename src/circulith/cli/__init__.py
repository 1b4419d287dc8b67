"""Command-line interface (Typer). Thin: parse input, call services and engines, format output."""
