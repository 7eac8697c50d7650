#!/bin/sh
# An action in shell (with jq): its input text in capitals. Process only, so it needs no
# manifest. The request comes as JSON on stdin; the output goes as JSON on stdout; what it
# writes on stderr is quoted in the unit's error when it fails.
set -eu
request=$(cat)
path=$(printf '%s' "$request" | jq -r '.input_path // empty')
if [ -n "$path" ]; then
  text=$(cat "$path")
else
  text=$(printf '%s' "$request" | jq -r '.input | strings')
fi
if [ -z "$text" ]; then
  echo "shout: nothing to shout (give a text or a URL)" >&2
  exit 65 # a permanent failure: the unit is not tried again
fi
printf '%s' "$text" | tr '[:lower:]' '[:upper:]' | jq -Rs '{shouted: ., characters: length}'
