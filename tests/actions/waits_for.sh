#!/bin/sh
# Succeeds, with the file's text, once the file its input names is there; fails for good
# (exit 65) until then, so a job of it fails at once and can be retried.
file=$(jq -r '.input')
if [ -f "$file" ]; then
  jq -n --arg text "$(cat "$file")" '$text'
else
  echo "$file is not there yet" >&2
  exit 65
fi
