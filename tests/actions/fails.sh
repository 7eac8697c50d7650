#!/bin/sh
# Fails every attempt, saying which on stderr after some noise.
echo "warming up" >&2
attempt=$(jq -r '.attempt')
echo "the disk is full on attempt $attempt" >&2
exit 1
