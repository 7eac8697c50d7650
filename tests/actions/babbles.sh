#!/bin/sh
# Answers with something that is not JSON.
cat > /dev/null
echo "Hello! Here is your result: 42"
