"""The wiring that is not UI: session, settings, metrics, logging, command line."""
