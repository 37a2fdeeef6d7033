"""The drivers: live connection and REST, recorder and readers, replay, dead letters."""
