/// Degree of parallelism for kernels. It is an execution resource, like torch.set_num_threads, not a semantic
/// state: every kernel partitions its work so that results are identical for any thread count.
namespace GcnKd

open System
open System.Threading.Tasks

[<AbstractClass; Sealed>]
type Threads private () =
    static let mutable count = max 1 Environment.ProcessorCount
    /// Threads used by kernels (defaults to the processor count).
    static member Count
        with get () = count
        and set (v: int) = count <- max 1 v

    /// Run body(lo, hi) over [0, n) in chunks. `costPerItem` (roughly, scalar operations per item) decides how many
    /// chunks are worth a thread hop; chunk boundaries never affect results because each item is written by
    /// exactly one chunk.
    static member For(n: int, costPerItem: int, body: Action<int, int>) =
        if n <= 0 then ()
        else
            let total = int64 n * int64 (max 1 costPerItem)
            let threads = count
            // ~64k scalar operations per chunk pays for a thread hop
            let byWork = int (min (int64 (threads * 4)) (total / 65536L))
            let chunks = max 1 (min n byWork)
            if chunks <= 1 || threads = 1 then body.Invoke(0, n)
            else
                let opts = ParallelOptions(MaxDegreeOfParallelism = threads)
                Parallel.For(0, chunks, opts, fun c ->
                    let lo = int (int64 n * int64 c / int64 chunks)
                    let hi = int (int64 n * int64 (c + 1) / int64 chunks)
                    if hi > lo then body.Invoke(lo, hi)) |> ignore

    /// Deterministic parallel reduction: [0, n) is cut into blocks of a fixed size (independent of the thread
    /// count); block partials are computed in parallel and combined in block order.
    static member Reduce<'T>(n: int, blockSize: int, block: Func<int, int, 'T>, combine: Func<'T, 'T, 'T>, zero: 'T) : 'T =
        if n <= 0 then zero
        else
            let nb = (n + blockSize - 1) / blockSize
            let partials = Array.zeroCreate<'T> nb
            Threads.For(nb, blockSize, Action<int, int>(fun lo hi ->
                for b in lo .. hi - 1 do
                    partials.[b] <- block.Invoke(b * blockSize, min n ((b + 1) * blockSize))))
            let mutable acc = zero
            for p in partials do acc <- combine.Invoke(acc, p)
            acc
