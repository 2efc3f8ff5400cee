"""Rasa input/output channels. Each module is one channel; the rules they apply live in bot/."""
