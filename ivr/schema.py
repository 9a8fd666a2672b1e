"""JSON Schema of the dialplan language, for editors (yaml-language-server)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ivr.model import Dialplan

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "dialplan" / "hotline.schema.json"


def dialplan_schema() -> dict[str, Any]:
    schema = Dialplan.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Hotline IVR dialplan"
    return schema


def schema_text() -> str:
    return json.dumps(dialplan_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write_schema(path: str | Path = SCHEMA_PATH) -> Path:
    path = Path(path)
    path.write_text(schema_text(), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write_schema(*sys.argv[1:2]))
