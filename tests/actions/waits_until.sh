#!/bin/sh
# Holds its worker until the file its input names is there, then succeeds with the file's text:
# a unit that stays running for as long as a test needs.
file=$(jq -r '.input')
while [ ! -f "$file" ]; do
  sleep 0.02
done
jq -n --arg text "$(cat "$file")" '$text'
