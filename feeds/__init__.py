"""clearterm's market-data core: event model, venue codecs, transport, state, simulator."""
