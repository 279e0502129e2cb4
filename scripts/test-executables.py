#!/usr/bin/env python3
"""Reads cargo's JSON messages on stdin and prints the path of every
integration test executable it built (tests/), one a line, for the VM to
run. Unit tests of libraries and programs run on the host instead."""
import json
import sys

for line in sys.stdin:
    try:
        message = json.loads(line)
    except json.JSONDecodeError:
        continue
    if message.get("reason") == "compiler-artifact" and message.get("executable"):
        if message.get("target", {}).get("kind") == ["test"]:
            print(message["executable"])
