# tools/export-builds.sh - sourced by tools/arm-insn-count and tools/tier-matrix: what both do with an int8 export
# folder (main.c idx.c model.c and their headers) and this tree's Sources/CRuntime.
#   export_sources DIR WORK    refuse DIR unless it is an int8 export folder; copy its C sources into WORK
#   build_export WORK NAME CC FLAGS
#                              build WORK/NAME (-O3 FLAGS, sections collected as `export` builds) with CC
# Needs $root (the repository) and $tool (the caller's name, for messages).

export_sources() {
    for f in main.c idx.c model.c; do
        [ -f "$1/$f" ] || { echo "$tool: $1/$f missing: not an int8 export folder" >&2; exit 2; }
    done
    cp "$1"/*.c "$1"/*.h "$2/"
}

build_export() {
    (cd "$1" && $3 -std=c99 -O3 $4 -ffunction-sections -fdata-sections -I. -I"$root/Sources/CRuntime/include" \
        -I"$root/Sources/CRuntime" -o "$2" main.c idx.c model.c "$root/Sources/CRuntime"/*.c -Wl,--gc-sections -lm)
}
