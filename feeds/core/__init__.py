"""The sans-I/O core: guard, state, books, aggregator, trade-built candles, watchdog, telemetry, pipeline."""
