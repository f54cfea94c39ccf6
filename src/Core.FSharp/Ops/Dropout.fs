/// Inverted dropout (Srivastava et al. 2014, with the rescaling at training time as in PyTorch): each element is
/// zeroed with probability p and the survivors are scaled by 1/(1-p), so evaluation is the identity.
/// The keep decision for element i is `Rng.uniformAt rng i >= p`: a pure function of (rng, i), hence the same mask
/// on any thread count, and a new mask only when the caller passes a new key.
[<RequireQualifiedAccess>]
module GcnKd.Dropout

open GcnKd.Kernels

/// The mask times the scale: 1/(1-p) where element i is kept, 0 where it is dropped.
let mask (rng: Rng) (p: float32) (n: int) =
    let scale = 1.0f / (1.0f - p)
    let m = Array.zeroCreate<float32> n
    Simd.forBlocks n 8 (fun lo hi ->
        for i in lo .. hi - 1 do
            m.[i] <- if Rng.uniformAt rng (int64 i) >= p then scale else 0.0f)
    m

/// y = x * mask / (1 - p) when training with p > 0; x itself otherwise. p must lie in [0, 1).
let apply (rng: Rng) (p: float32) (training: bool) (x: Tensor) : Tensor =
    if not (p >= 0.0f && p < 1.0f) then
        invalidArg "p" (sprintf "Dropout.apply: p must lie in [0, 1), got %g" p)
    if not training || p = 0.0f then x
    else
        let m = mask rng p x.Numel
        let y = Simd.zip x.Data m (fun a b -> a * b) (fun a b -> a * b) (fun a b -> a * b)
        Tensor.Make(x.Shape, y, "dropout", [| x |], fun g ->
            [| Tensor.Wrap(x.Shape, Simd.zip g.Data m (fun a b -> a * b) (fun a b -> a * b) (fun a b -> a * b)) |])
