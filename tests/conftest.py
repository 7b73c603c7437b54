"""Test-wide settings: tests never touch the network.

Hugging Face libraries read these at import, so they are set before any test module
imports transformers or diffusers: a model id that is not a local folder then fails at
once (the one-line "model missing" error) instead of retrying a download.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
