/// Parameter trees: any value built of records, tuples, arrays, lists, options, unions and string-keyed maps whose
/// leaves are tensors (the pytree idea). Leaves get dotted names from their path ("layers.0.weight"), which are the
/// names used in checkpoints. Non-tensor fields (ints, strings, flags) are carried along unchanged.
module GcnKd.Tree

open System
open System.Collections.Generic
open Microsoft.FSharp.Reflection

let private join (path: string) (name: string) = if path = "" then name else path + "." + name

let private isMapType (t: Type) = t.IsGenericType && t.GetGenericTypeDefinition() = typedefof<Map<string, int>> && t.GetGenericArguments().[0] = typeof<string>

/// Rebuild `v` (of static type `t`) with every tensor leaf replaced by `f path leaf`, visiting leaves in a fixed
/// order (fields in declaration order, collections by index or key).
let rec private rebuild (f: string -> Tensor -> Tensor) (path: string) (t: Type) (v: obj) : obj =
    match v with
    | null -> null
    | :? Tensor as x -> box (f path x)
    | _ ->
    let t = if t = typeof<obj> then v.GetType() else t
    if t.IsPrimitive || t = typeof<string> || t.IsEnum || t = typeof<decimal> then v
    elif t.IsArray then
        let et = t.GetElementType()
        if et.IsPrimitive then v
        else
            let a = v :?> Array
            let r = Array.CreateInstance(et, a.Length)
            for i in 0 .. a.Length - 1 do r.SetValue(rebuild f (join path (string i)) et (a.GetValue i), i)
            box r
    elif isMapType t then
        let vt = t.GetGenericArguments().[1]
        let pairs = (v :?> System.Collections.IEnumerable) |> Seq.cast<obj> |> Seq.toArray
        let keyProp = if pairs.Length > 0 then pairs.[0].GetType().GetProperty("Key") else null
        let valProp = if pairs.Length > 0 then pairs.[0].GetType().GetProperty("Value") else null
        let entries =
            pairs |> Array.map (fun kv ->
                let k = keyProp.GetValue kv :?> string
                Tuple.Create(k, rebuild f (join path k) vt (valProp.GetValue kv)))
        // Map<string, 'V>(seq<string * 'V>)
        let tupleType = typedefof<Tuple<_, _>>.MakeGenericType(typeof<string>, vt)
        let typed = Array.CreateInstance(tupleType, entries.Length)
        entries |> Array.iteri (fun i (e: Tuple<string, obj>) ->
            typed.SetValue(Activator.CreateInstance(tupleType, [| box e.Item1; e.Item2 |]), i))
        Activator.CreateInstance(t, [| box typed |])
    elif FSharpType.IsRecord(t, true) then
        let fields = FSharpType.GetRecordFields(t, true)
        let vals = FSharpValue.GetRecordFields(v, true)
        let nv = Array.init fields.Length (fun i -> rebuild f (join path fields.[i].Name) fields.[i].PropertyType vals.[i])
        FSharpValue.MakeRecord(t, nv, true)
    elif FSharpType.IsTuple t then
        let ets = FSharpType.GetTupleElements t
        let vals = FSharpValue.GetTupleFields v
        FSharpValue.MakeTuple(Array.init ets.Length (fun i -> rebuild f (join path (string i)) ets.[i] vals.[i]), t)
    elif FSharpType.IsUnion(t, true) then
        // lists, options and user unions; list cells are flattened to indices
        if t.IsGenericType && t.GetGenericTypeDefinition() = typedefof<list<int>> then
            let et = t.GetGenericArguments().[0]
            let items = (v :?> System.Collections.IEnumerable) |> Seq.cast<obj> |> Seq.toArray
            let mapped = items |> Array.mapi (fun i x -> rebuild f (join path (string i)) et x)
            let cases = FSharpType.GetUnionCases t
            let empty = FSharpValue.MakeUnion(cases.[0], [||])
            Array.foldBack (fun x acc -> FSharpValue.MakeUnion(cases.[1], [| x; acc |])) mapped empty
        else
            let case, vals = FSharpValue.GetUnionFields(v, t, true)
            let fields = case.GetFields()
            if fields.Length = 0 then v
            else
                let prefix = if t.IsGenericType && t.GetGenericTypeDefinition() = typedefof<option<int>> then path else join path case.Name
                let nv = Array.init fields.Length (fun i ->
                    let name = if fields.Length = 1 then prefix else join prefix fields.[i].Name
                    rebuild f name fields.[i].PropertyType vals.[i])
                FSharpValue.MakeUnion(case, nv, true)
    else v

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
