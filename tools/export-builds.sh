# tools/export-builds.sh - sourced by tools/arm-insn-count, tools/tier-matrix and tools/gemm-insn-count: what they do with an int8 export
# folder (main.c idx.c model.c and their headers) and this tree's Sources/CRuntime.
#   export_sources DIR WORK    refuse DIR unless it is an int8 export folder; copy its C sources into WORK
#   build_export WORK NAME CC FLAGS
#                              build WORK/NAME (-O3 FLAGS, sections collected as `export` builds) with CC
#   count LOG                  guest instructions a qemu `-d in_asm,exec,nochain` log executed (arm-insn-count,
#                              gemm-insn-count)
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

count() { # LOG: executed guest instructions
    python3 - "$1" <<'PY'
import re, sys
blocks, total, start = {}, 0, None
pc = re.compile(r"^0x([0-9a-f]+):")
trace = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")
with open(sys.argv[1], errors="replace") as log:
    for line in log:
        if line.startswith("IN:"):
            start = None
            continue
        m = pc.match(line)
        if m:
            if start is None:
                start, blocks_n = int(m.group(1), 16), 0
            blocks_n += 1
            blocks[start] = blocks_n
            continue
        if not line.strip():
            start = None
            continue
        m = trace.match(line)
        if m:
            total += blocks.get(int(m.group(1), 16), 0)
print(total)
PY
}
