"""Dialogue policies of our own, used beside Rasa's (see config.yml)."""
