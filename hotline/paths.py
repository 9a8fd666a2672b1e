"""Where the project's files are (config/, dialplan/, asterisk/templates/, var/)."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
