import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The threads that run `ExecutionContext`'s parallel chunks: the caller and up to one persistent worker per
/// further processor take the chunks in order, and the caller waits for the workers by polling a counter.
///
/// Why not `DispatchQueue.concurrentPerform`: each call of it cost about 30-35 us on the 2-core test machine
/// (waking a pool thread and joining it), and a training step of a small cell network makes 60-100 parallel
/// calls of 10-300 us each, so on 2 threads the engine ran no faster than on 1 (docs/benchmarks.md,
/// "Worker team"). Here a worker that has just finished a chunk polls for the next one for `pollNanoseconds`
/// before it parks on a semaphore, so consecutive layers hand work over in well under a microsecond, and an
/// idle process holds no busy thread for longer than that.
///
/// The chunking is `ExecutionContext`'s and does not depend on which thread runs a chunk, so results are the
/// same as with any other executor. A call made while the team is busy (a chunk's body calling `parallelFor`,
/// or two evaluations in one process at once) runs its chunks one after another on the calling thread.
final class WorkerTeam: @unchecked Sendable {
    /// The one team of the process (workers start on first use, as many as the widest call needs).
    static let shared = WorkerTeam()

    /// How long a worker polls for the next chunk before it parks.
    static let pollNanoseconds: UInt64 = 200_000
    /// Polls of a plain load (a few microseconds) before a polling thread yields its core between polls.
    static let tightPolls = 4096

    /// Processors this process may use (the team never runs more threads than this).
    static let processors = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    /// One worker's hand-over slot. `generation` counts the jobs given to it (release: the job's fields are set
    /// before), `done` the jobs it finished (release: its writes are visible to the caller after).
    private final class Worker: @unchecked Sendable {
        let generation = Atomic<Int>(0)
        let done = Atomic<Int>(0)
        let sleeping = Atomic<Bool>(false)
        let wake = DispatchSemaphore(value: 0)
        // Written by the caller before `generation` is raised and read by the worker after it sees the raise.
        var job: (() -> Void)?
    }

    /// Held by the call that uses the workers; others run inline.
    private let busy = Atomic<Bool>(false)
    /// The next chunk of the running call to take.
    private let next = ChunkCounter()
    /// Guards `workers` while it grows.
    private let growth = Mutex<Void>(())
    private var workers: [Worker] = []

    private init() {}

    /// Runs `body(chunk, range)` for `chunks` contiguous chunks of 0..<count (chunk i covers
    /// count*i/chunks ..< count*(i+1)/chunks; empty chunks are skipped). The calling thread and up to
    /// `min(threads, processors) - 1` workers take the chunks in order, each the next one not taken when it is
    /// free, so a call with more chunks than processors (`--threads` above the core count) runs them on as many
    /// threads as there are cores, and a chunk whose worker is slow to wake is taken by another thread.
    func run(_ count: Int, chunks: Int, threads: Int, _ body: (_ chunk: Int, _ range: Range<Int>) -> Void) {
        func bounds(_ chunk: Int) -> Range<Int> { (count * chunk / chunks)..<(count * (chunk + 1) / chunks) }
        let helpers = min(chunks, threads, Self.processors) - 1
        guard helpers > 0, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for chunk in 0..<chunks where !bounds(chunk).isEmpty { body(chunk, bounds(chunk)) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        let team = workers(helpers)
        next.value.store(0, ordering: .relaxed)  // published to the workers by their `generation` raise below
        withoutActuallyEscaping(body) { body in
            let participate = { [next] in
                while true {
                    let chunk = next.value.add(1, ordering: .relaxed).oldValue
                    if chunk >= chunks { break }
                    if !bounds(chunk).isEmpty { body(chunk, bounds(chunk)) }
                }
            }
            var given: [(worker: Worker, target: Int)] = []
            for worker in team {
                worker.job = participate
                let target = worker.generation.add(1, ordering: .sequentiallyConsistent).newValue
                if worker.sleeping.exchange(false, ordering: .sequentiallyConsistent) { worker.wake.signal() }
                given.append((worker, target))
            }
            participate()
            for (worker, target) in given {
                var polls = 0
                while worker.done.load(ordering: .acquiring) != target {
                    // a worker descheduled on a busy machine: let it have this core
                    polls += 1
                    if polls > Self.tightPolls { sched_yield() }
                }
                worker.job = nil
            }
        }
    }

    /// Workers started so far (never more than `processors - 1`).
    var startedWorkers: Int { growth.withLock { _ in workers.count } }

    /// The first `count` workers, started if needed.
    private func workers(_ count: Int) -> [Worker] {
        growth.withLock { _ in
            while workers.count < count {
                let worker = Worker()
                workers.append(worker)
                Self.start(worker)
            }
            return Array(workers.prefix(count))
        }
    }

    private static func start(_ worker: Worker) {
        let thread = Thread { serve(worker) }
        thread.start()
    }

    /// A worker's loop: poll for the next job, park when none comes within `pollNanoseconds`.
    private static func serve(_ worker: Worker) {
        var seen = 0
        while true {
            var current = worker.generation.load(ordering: .acquiring)
            if current == seen {
                let start = DispatchTime.now().uptimeNanoseconds
                var polls = 0
                while current == seen {
                    polls += 1
                    if polls > tightPolls {
                        sched_yield()  // after the first microseconds, leave the core to anything runnable
                        if polls & 15 == 0, DispatchTime.now().uptimeNanoseconds - start > pollNanoseconds { break }
                    }
                    current = worker.generation.load(ordering: .acquiring)
                }
            }
            if current == seen {
                // Park. The caller raises `generation` before it looks at `sleeping`, and the worker sets
                // `sleeping` before it looks at `generation` again, so one of them sees the other.
                worker.sleeping.store(true, ordering: .sequentiallyConsistent)
                if worker.generation.load(ordering: .sequentiallyConsistent) == seen {
                    worker.wake.wait()
                } else if !worker.sleeping.exchange(false, ordering: .sequentiallyConsistent) {
                    worker.wake.wait()  // the caller saw `sleeping` and signalled: take that signal
                }
                continue
            }
            seen = current
            worker.job!()
            worker.done.store(seen, ordering: .releasing)
        }
    }
}

/// A detached thread running one closure (Foundation-free).
private final class Thread: @unchecked Sendable {
    private let main: () -> Void
    init(_ main: @escaping () -> Void) { self.main = main }

    func start() {
        var handle = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let status = pthread_create(&handle, nil, { context in
            let thread = Unmanaged<Thread>.fromOpaque(context!).takeRetainedValue()
            thread.main()
            return nil
        }, context)
        precondition(status == 0, "pthread_create failed (\(status))")
        pthread_detach(handle)
    }
}

/// The next chunk to take, shared by the threads of one `WorkerTeam.run` call.
private final class ChunkCounter: Sendable {
    let value = Atomic<Int>(0)
}
