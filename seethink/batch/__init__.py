"""Bulk work: OpenAI's batch file format, run through the online graph (see ``service``);
``python -m seethink.batch`` runs a file offline on a local Ray."""

from .lines import ENDPOINTS, Line, parse_lines, result_record, to_jsonl
from .service import BatchService, Execute

__all__ = [
    "ENDPOINTS",
    "BatchService",
    "Execute",
    "Line",
    "parse_lines",
    "result_record",
    "to_jsonl",
]
