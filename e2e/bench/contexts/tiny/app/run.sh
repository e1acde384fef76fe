#!/bin/sh
echo "tiny: $(cat /app/hello.txt)"
