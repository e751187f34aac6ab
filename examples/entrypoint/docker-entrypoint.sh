#!/bin/sh
# Entrypoint of an image that runs a Python web app (see Dockerfile beside this file).
#
# Every X_FILE variable becomes X, exactly as the official images' file_env does (X and X_FILE
# both set is an error), and the command replaces this shell and then runsecrets: it keeps the
# container's PID 1 and receives `docker stop`'s SIGTERM itself.
set -eu

# `docker run IMAGE --workers 4` means: the default server, with these flags.
if [ "${1#-}" != "$1" ]; then
    set -- gunicorn --bind 0.0.0.0:8000 app:application "$@"
fi

exec runsecrets exec -- "$@"
