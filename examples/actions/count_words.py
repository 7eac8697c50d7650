#!/usr/bin/env python3
"""An action in Python, with all three stages (count_words.toml declares split and merge).

split:   the input text (or the file it was downloaded to) into chunks of `lines_per_chunk`
         lines (an option, 2 by default): each chunk becomes a process unit.
process: counts a chunk's words and saves the chunk as a file: {"$save": "chunk.txt"} in the
         output becomes the stored file's URL.
merge:   the total, and every chunk's URL in order.

The request comes as JSON on stdin; the output goes as JSON on stdout. See the README's
"Actions in any language".
"""
import json
import sys

request = json.load(sys.stdin)
stage = request["stage"]

if stage == "split":
    if request["input_path"]:
        with open(request["input_path"], encoding="utf-8", errors="replace") as f:
            text = f.read()
    else:
        text = request["input"]
    if not isinstance(text, str):
        print(f"count_words: expected a text or a URL, got {text!r}", file=sys.stderr)
        sys.exit(65)  # a permanent failure: the unit is not tried again
    lines = text.splitlines()
    size = int(request["options"].get("lines_per_chunk", 2))
    output = ["\n".join(lines[i:i + size]) for i in range(0, len(lines), size)]
elif stage == "process":
    chunk = request["input"]
    with open("chunk.txt", "w", encoding="utf-8") as f:  # in the unit's work directory
        f.write(chunk)
    output = {"words": len(chunk.split()), "chunk": {"$save": "chunk.txt"}}
else:  # merge: every process output, in unit order
    outputs = request["input"]
    output = {"words": sum(o["words"] for o in outputs), "chunks": [o["chunk"] for o in outputs]}

json.dump(output, sys.stdout)
