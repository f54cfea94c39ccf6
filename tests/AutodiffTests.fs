module GcnKd.Tests.AutodiffTests

open System.Threading.Tasks
open Xunit
open GcnKd

type Lin = { W: Tensor; B: Tensor; Tag: string }
type Net = { Layers: Lin list; Extra: Tensor option; Scale: float32 }

[<Fact>]
let ``gradient of a shared subexpression accumulates`` () =
    // f(x) = sum((x * x) * x) -> 3x^2
    let x = Tensor.ofArray [| 3 |] [| 1.0f; -2.0f; 0.5f |]
    let _, g = Autodiff.vjp (fun (x: Tensor) -> (x * x) * x) x (Tensor.ones [| 3 |])
    Assert.Equal<float32[]>([| 3.0f; 12.0f; 0.75f |], g.Data)

[<Fact>]
let ``trees of records, lists and options keep names and structure`` () =
    let l i = { W = Tensor.full [| 2 |] (float32 i); B = Tensor.zeros [| 1 |]; Tag = "l" + string i }
    let net = { Layers = [ l 1; l 2 ]; Extra = Some (Tensor.ones [| 2 |]); Scale = 2.0f }
    let names = Tree.leaves net |> Array.map fst
    Assert.Equal<string[]>([| "Layers.0.W"; "Layers.0.B"; "Layers.1.W"; "Layers.1.B"; "Extra" |], names)
    let f (n: Net) =
        let s = n.Layers |> List.fold (fun acc l -> acc + l.W * l.W + l.B) (Tensor.zeros [| 2 |])
        let s = match n.Extra with Some e -> s * e | None -> s
        s * n.Scale
    let out, grads = Autodiff.vjp f net (Tensor.ones [| 2 |])
    Assert.Equal<float32[]>([| 10.0f; 10.0f |], out.Data)
    Assert.Equal<float32[]>([| 4.0f; 4.0f |], grads.Layers.[0].W.Data)
    Assert.Equal<float32[]>([| 8.0f; 8.0f |], grads.Layers.[1].W.Data)
    Assert.Equal<float32[]>([| 4.0f |], grads.Layers.[1].B.Data)
    Assert.Equal("l2", grads.Layers.[1].Tag)
    Assert.Equal<float32[]>([| 10.0f; 10.0f |], grads.Extra.Value.Data)

[<Fact>]
let ``valueAndGrad needs a scalar and leaves no tape behind`` () =
    let x = Tensor.ones [| 2 |]
    Assert.Throws<System.ArgumentException>(fun () -> Autodiff.valueAndGrad (fun (x: Tensor) -> x * 2.0f) x |> ignore) |> ignore
    // f(x) = (3x - 1)^2 at x = 1: value 4, gradient 6 (3x - 1) = 12; aux comes back detached
    let y, g, aux = Autodiff.valueAndGradAux (fun (x: Tensor) -> let h = x * 3.0f - 1.0f in h * h, h) (Tensor.ones [| 1 |])
    Assert.Equal(4.0f, y)
    Assert.Equal(12.0f, g.Data.[0])
    Assert.False aux.RequiresGrad

[<Fact>]
let ``a function that ignores its input has zero gradient`` () =
    let v, g = Autodiff.valueAndGrad (fun (_: Tensor) -> Tensor.scalar 3.0f) (Tensor.ones [| 4 |])
    Assert.Equal(3.0f, v)
    Assert.Equal<float32[]>(Array.zeroCreate 4, g.Data)

[<Fact>]
let ``two threads differentiate independently`` () =
    let run (k: float32) =
        let x = Tensor.full [| 1000 |] k
        Array.init 50 (fun _ -> (Autodiff.vjp (fun (x: Tensor) -> x * x * k) x (Tensor.ones [| 1000 |]) |> snd).Data.[0])
    let t1 = Task.Run(fun () -> run 1.0f)
    let t2 = Task.Run(fun () -> run 2.0f)
    Assert.All(t1.Result, fun g -> Assert.Equal(2.0f, g))
    Assert.All(t2.Result, fun g -> Assert.Equal(8.0f, g))

[<Fact>]
let ``mixing tensors of two differentiations is refused`` () =
    let outer = Tensor.ones [| 2 |]
    let ex =
        Assert.Throws<System.InvalidOperationException>(fun () ->
            Autodiff.grad (fun (a: Tensor) ->
                let inner = Autodiff.vjp (fun (b: Tensor) -> a * b) (Tensor.ones [| 2 |]) (Tensor.ones [| 2 |])
                ignore inner
                Tensor.scalar 0.0f) outer |> ignore)
    Assert.Contains("two different differentiations", ex.Message)

[<Fact>]
let ``the gradient checker catches a wrong backward and a wrong forward`` () =
    // x^2 with a backward that forgets the factor 2, and with a forward that is off by 1e-2
    let wrongBackward (xs: Tensor[]) =
        let x = xs.[0]
        Tensor.Make(x.Shape, Array.map (fun v -> v * v) x.Data, "bad_square", [| x |], fun g ->
            [| Tensor.ofArray x.Shape (Array.map2 (fun gv v -> gv * v) g.Data x.Data) |])
    let wrongForward (xs: Tensor[]) =
        let x = xs.[0]
        Tensor.Make(x.Shape, Array.map (fun v -> v * v + 0.01f) x.Data, "bad_square", [| x |], fun g ->
            [| Tensor.ofArray x.Shape (Array.map2 (fun gv v -> 2.0f * gv * v) g.Data x.Data) |])
    let reference (r: Tests.Ref64.R[]) = Tests.Ref64.map (fun v -> v * v) r.[0]
    let x = Tensor.ofArray [| 5 |] [| 0.5f; -1.0f; 2.0f; 1.5f; -0.7f |]
    let e1 = Assert.ThrowsAny<exn>(fun () -> Tests.GradCheck.check "bad" wrongBackward reference [| true |] [| x |] |> ignore)
    Assert.Contains("finite differences", e1.Message)
    let e2 = Assert.ThrowsAny<exn>(fun () -> Tests.GradCheck.check "bad" wrongForward reference [| true |] [| x |] |> ignore)
    Assert.Contains("forward element", e2.Message)
