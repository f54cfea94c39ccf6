/// Parameter trees: any value built of records, tuples, arrays, lists, options, unions and string-keyed maps whose
/// leaves are tensors (the pytree idea). Leaves get dotted names from their path ("layers.0.weight"), which are the
/// names used in checkpoints. Non-tensor fields (ints, strings, flags) are carried along unchanged.
module GcnKd.Tree

open System
open System.Collections.Generic
open Microsoft.FSharp.Reflection

let private join (path: string) (name: string) = if path = "" then name else path + "." + name

let private isMapType (t: Type) = t.IsGenericType && t.GetGenericTypeDefinition() = typedefof<Map<string, int>> && t.GetGenericArguments().[0] = typeof<string>

/// How to rebuild a value of one static type: `plan f path v` returns `v` with every tensor leaf replaced by
/// `f path leaf`, visiting leaves in a fixed order (fields in declaration order, collections by index or key).
type private Plan = (string -> Tensor -> Tensor) -> string -> obj -> obj

/// Reflection plans by static type. Reading a type's shape (record fields, union cases, constructors) through
/// FSharp.Reflection on every call cost more than a small model's whole training step; the shape of a type never
/// changes, so it is read once per type and the compiled readers/constructors are reused. An execution-level
/// memo like Threads.Count: it never changes a result.
let private plans = System.Collections.Concurrent.ConcurrentDictionary<Type, Plan>()

let private identity : Plan = fun _ _ v -> v

let rec private planFor (t: Type) : Plan =
    match plans.TryGetValue t with
    | true, p -> p
    | _ ->
        let p = buildPlan t
        plans.TryAdd(t, p) |> ignore
        p

/// Rebuild `v` (of static type `t`): tensors and null first (a field typed obj may hold a tensor), then the plan
/// of the static type (or of the runtime type when the static one is obj).
and private rebuild (f: string -> Tensor -> Tensor) (path: string) (t: Type) (v: obj) : obj =
    match v with
    | null -> null
    | :? Tensor as x -> box (f path x)
    | _ -> (planFor (if t = typeof<obj> then v.GetType() else t)) f path v

and private buildPlan (t: Type) : Plan =
    // child plans are looked up lazily: building never recurses, so recursive types are fine
    let child (ct: Type) = lazy (if ct = typeof<obj> || ct = typeof<Tensor> then None else Some (planFor ct))
    let inline visit (c: Lazy<Plan option>) (ct: Type) f path (x: obj) =
        match x with
        | null -> null
        | :? Tensor as tx -> box (f path tx)
        | _ ->
            match c.Value with
            | Some p -> p f path x
            | None -> rebuild f path ct x
    if t = typeof<Tensor> then fun f path v -> box (f path (v :?> Tensor))
    elif t.IsPrimitive || t = typeof<string> || t.IsEnum || t = typeof<decimal> then identity
    elif t.IsArray then
        let et = t.GetElementType()
        if et.IsPrimitive then identity
        else
            let c = child et
            fun f path v ->
                let a = v :?> Array
                let r = Array.CreateInstance(et, a.Length)
                for i in 0 .. a.Length - 1 do r.SetValue(visit c et f (join path (string i)) (a.GetValue i), i)
                box r
    elif isMapType t then
        let vt = t.GetGenericArguments().[1]
        let tupleType = typedefof<Tuple<_, _>>.MakeGenericType(typeof<string>, vt)
        fun f path v ->
            let pairs = (v :?> System.Collections.IEnumerable) |> Seq.cast<obj> |> Seq.toArray
            let keyProp = if pairs.Length > 0 then pairs.[0].GetType().GetProperty("Key") else null
            let valProp = if pairs.Length > 0 then pairs.[0].GetType().GetProperty("Value") else null
            // Map<string, 'V>(seq<string * 'V>)
            let typed = Array.CreateInstance(tupleType, pairs.Length)
            pairs |> Array.iteri (fun i kv ->
                let k = keyProp.GetValue kv :?> string
                typed.SetValue(Activator.CreateInstance(tupleType, [| box k; rebuild f (join path k) vt (valProp.GetValue kv) |]), i))
            Activator.CreateInstance(t, [| box typed |])
    elif FSharpType.IsRecord(t, true) then
        let fields = FSharpType.GetRecordFields(t, true)
        let names = fields |> Array.map (fun p -> p.Name)
        let types = fields |> Array.map (fun p -> p.PropertyType)
        let children = types |> Array.map child
        let read = FSharpValue.PreComputeRecordReader(t, true)
        let make = FSharpValue.PreComputeRecordConstructor(t, true)
        fun f path v ->
            let vals = read v
            make (Array.init vals.Length (fun i -> visit children.[i] types.[i] f (join path names.[i]) vals.[i]))
    elif FSharpType.IsTuple t then
        let ets = FSharpType.GetTupleElements t
        let children = ets |> Array.map child
        let read = FSharpValue.PreComputeTupleReader t
        let make = FSharpValue.PreComputeTupleConstructor t
        fun f path v ->
            let vals = read v
            make (Array.init ets.Length (fun i -> visit children.[i] ets.[i] f (join path (string i)) vals.[i]))
    elif FSharpType.IsUnion(t, true) then
        // lists, options and user unions; list cells are flattened to indices
        if t.IsGenericType && t.GetGenericTypeDefinition() = typedefof<list<int>> then
            let et = t.GetGenericArguments().[0]
            let c = child et
            let cases = FSharpType.GetUnionCases t
            let empty = FSharpValue.MakeUnion(cases.[0], [||])
            let cons = FSharpValue.PreComputeUnionConstructor(cases.[1], true)
            fun f path v ->
                let items = (v :?> System.Collections.IEnumerable) |> Seq.cast<obj> |> Seq.toArray
                let mapped = items |> Array.mapi (fun i x -> visit c et f (join path (string i)) x)
                Array.foldBack (fun x acc -> cons [| x; acc |]) mapped empty
        else
            let isOption = t.IsGenericType && t.GetGenericTypeDefinition() = typedefof<option<int>>
            let tag = FSharpValue.PreComputeUnionTagReader(t, true)
            let cases =
                FSharpType.GetUnionCases(t, true) |> Array.map (fun case ->
                    let fields = case.GetFields()
                    let types = fields |> Array.map (fun p -> p.PropertyType)
                    case, fields |> Array.map (fun p -> p.Name), types, types |> Array.map child,
                    FSharpValue.PreComputeUnionReader(case, true), FSharpValue.PreComputeUnionConstructor(case, true))
            fun f path v ->
                let case, names, types, children, read, make = cases.[tag v]
                if names.Length = 0 then v
                else
                    let prefix = if isOption then path else join path case.Name
                    let vals = read v
                    make (Array.init names.Length (fun i ->
                        let name = if names.Length = 1 then prefix else join prefix names.[i]
                        visit children.[i] types.[i] f name vals.[i]))
    else identity

/// `p` with every tensor leaf replaced by `f name leaf`.
let map (f: string -> Tensor -> Tensor) (p: 'P) : 'P = rebuild f "" typeof<'P> (box p) :?> 'P

/// The tensor leaves with their names, in the tree's fixed order.
let leaves (p: 'P) : (string * Tensor)[] =
    let acc = ResizeArray()
    map (fun name t -> acc.Add((name, t)); t) p |> ignore
    acc.ToArray()

/// `template` with its leaves replaced, in order, by `values` (shapes must match).
let withLeaves (template: 'P) (values: Tensor[]) : 'P =
    let mutable i = 0
    let r =
        map (fun name (t: Tensor) ->
            if i >= values.Length then invalidArg "values" (sprintf "too few tensors: the tree has more leaves than %d" values.Length)
            let v = values.[i]
            if v.Shape <> t.Shape then
                invalidArg "values" (sprintf "%s: expected shape %s, got %s" name (Shape.describe t.Shape) (Shape.describe v.Shape))
            i <- i + 1
            v) template
    if i <> values.Length then invalidArg "values" (sprintf "the tree has %d leaves, %d values given" i values.Length)
    r

/// Leaf-wise combination of two trees of the same structure.
let map2 (f: string -> Tensor -> Tensor -> Tensor) (p: 'P) (q: 'P) : 'P =
    let qs = leaves q
    let mutable i = 0
    map (fun name t ->
        let r = f name t (snd qs.[i])
        i <- i + 1
        r) p

/// Fill a tree from named tensors (a checkpoint), checking every name and shape.
let ofNamed (template: 'P) (named: IReadOnlyDictionary<string, Tensor>) : 'P =
    map (fun name (t: Tensor) ->
        match named.TryGetValue name with
        | true, v when v.Shape = t.Shape -> v
        | true, v -> invalidArg name (sprintf "parameter '%s': expected shape %s, found %s" name (Shape.describe t.Shape) (Shape.describe v.Shape))
        | _ -> invalidArg name (sprintf "parameter '%s' is missing" name)) template

/// Total number of scalar parameters.
let count (p: 'P) = leaves p |> Array.sumBy (fun (_, t) -> t.Numel)
