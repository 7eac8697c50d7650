#!/bin/sh
# Starts a child that would outlive it, writes the child's pid where `options.pid_file` says,
# and never returns: what a timeout or a deletion must stop, child and all.
pid_file=$(jq -r '.options.pid_file')
sleep 600 &
echo $! > "$pid_file.tmp" && mv "$pid_file.tmp" "$pid_file"
wait
