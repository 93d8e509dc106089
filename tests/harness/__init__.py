"""Real parts for integration tests: an Asterisk 22 instance and baresip softphones."""
