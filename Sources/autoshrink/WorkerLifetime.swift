import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Makes a `search-worker` die with the `search` that started it (docs/architecture.md, "Names, locks
/// and output folders"): `prctl(PR_SET_PDEATHSIG, SIGKILL)`, then a check that the parent is still the
/// one that spawned us (it may have died before the prctl). `runSubprocess` spawns from the thread that
/// then waits for the child, so the "parent thread" the kernel watches lives as long as the worker needs it.
enum WorkerLifetime {
    static func dieWithParent(_ parent: Int32) {
        // prctl is variadic in C and not imported into Swift; looked up and called with its four
        // unsigned long arguments (the System V calling convention passes them the same way).
        typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "prctl") {
            let prctl = unsafeBitCast(symbol, to: Prctl.self)
            let setParentDeathSignal: Int32 = 1  // PR_SET_PDEATHSIG
            _ = prctl(setParentDeathSignal, UInt(SIGKILL), 0, 0, 0)
        }
        if getppid() != parent { exit(1) }
    }
}
