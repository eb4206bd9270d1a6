#!/usr/bin/env bash
# Headless Chromium for the report browser test (tests/test_report.py): Debian's package, since
# test tools cannot download their own browsers here. Quick no-op when it is already installed.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "chromium: /usr/bin/chromium is missing; install Debian's chromium package as root" >&2
    echo "          (apt-get install -y chromium) to run the report browser test" >&2
    exit 0
fi
echo "chromium: installing Debian's chromium package (once)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
