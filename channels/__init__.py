"""Rasa input/output channels. Each module is one channel; the rules they apply live in bot/."""

import warnings

# Rasa warns, with the whole line, when a message starting with "/" is not a payload it can read
# ("/help this is me@example.com"): a candidate's own words would land in the server log.
warnings.filterwarnings("ignore", message=r"Failed to parse arguments in line")
