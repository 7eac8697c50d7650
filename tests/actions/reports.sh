#!/bin/sh
# Says it is halfway, then waits for the file `options.release_file` names, then answers.
release=$(jq -r '.options.release_file')
echo "progress: 50" >&2
while [ ! -e "$release" ]; do sleep 0.05; done
echo '"done"'
