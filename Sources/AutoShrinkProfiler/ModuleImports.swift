// The profiler measures a device reached through AutoShrinkTarget (device files, toolchains, runners)
// with the kernels and harness embedded by AutoShrinkCSources, whose hash stamps every profile.
// Both are re-exported: every file here and every user of profiles and predictions sees them
// (docs/architecture.md, layers).
@_exported import AutoShrinkCSources
@_exported import AutoShrinkTarget
