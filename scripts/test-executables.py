#!/usr/bin/env python3
"""Reads cargo's JSON messages on stdin and prints the path of every test
executable it built, one a line, for the VM to run."""
import json
import sys

for line in sys.stdin:
    try:
        message = json.loads(line)
    except json.JSONDecodeError:
        continue
    if message.get("reason") == "compiler-artifact" and message.get("executable"):
        if message.get("profile", {}).get("test"):
            print(message["executable"])
