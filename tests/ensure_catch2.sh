#!/bin/sh
# Makes sure the Catch2 (v2, single header) test framework is installed.
# Installs it with the system package manager when we can; otherwise says
# exactly what to run.
header_found() {
    for d in /usr/include /usr/local/include; do
        [ -f "$d/catch2/catch.hpp" ] && return 0
    done
    return 1
}
header_found && exit 0

echo "Catch2 not found; installing it with the system package manager..."
if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        (apt-get install -y catch2 || (apt-get update && apt-get install -y catch2)) >/dev/null 2>&1
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        (sudo apt-get install -y catch2 || (sudo apt-get update && sudo apt-get install -y catch2)) >/dev/null 2>&1
    fi
    header_found && { echo "Catch2 installed."; exit 0; }
    echo "error: could not install Catch2 automatically. Run:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y catch2" >&2
    exit 1
fi
echo "error: Catch2 v2 (catch2/catch.hpp) is missing and no apt-get here. Install it, e.g.:" >&2
echo "    brew install catch2@2      # macOS" >&2
echo "    sudo dnf install catch2-devel   # Fedora" >&2
exit 1
