//===- OnnxOps.td - the onnx import dialect -----------------*- tablegen -*-===//
//
// One generic operation per ONNX node, as the importer writes it; raising and
// legalisation give nodes their meaning.
//
//===----------------------------------------------------------------------===//

#ifndef ONNX_OPS_TD
#define ONNX_OPS_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/BuiltinAttributes.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Onnx_Dialect : Dialect {
  let name = "onnx";
  let cppNamespace = "::mlir::onnx";
  let summary = "ONNX graphs as imported, one generic op per node";
  let description = [{
    The importer writes each ONNX node as one `onnx.node` that keeps the node's domain,
    op type, the opset version in force for its domain, its name and its attributes.
    Optional inputs that the model leaves empty are `onnx.none` values. Handlers in
    raising and legalisation are keyed by (domain, op type, since-version), so one
    dialect serves every opset.
  }];
}

class Onnx_Op<string mnemonic, list<Trait> traits = []>
    : Op<Onnx_Dialect, mnemonic, traits>;

def Onnx_NodeOp : Onnx_Op<"node", [DeclareOpInterfaceMethods<MemoryEffectsOpInterface>]> {
  let summary = "one ONNX node";
  let description = [{
    `op_type` and `domain` name the operator (the empty domain is the default
    `ai.onnx`); `opset` is the version of that domain the model imports. ONNX attributes
    are kept in `node_attributes` (printed after `attributes`), with ONNX's types: `si64` integers, `f32` floats,
    strings, tensors as dense elements, lists as arrays.

    ```mlir
    %values, %indices = onnx.node "TopK" opset 13 name "router/topk" (%scores, %k)
        attributes {axis = -1 : si64, largest = 1 : si64}
        : (tensor<?x8xf32>, tensor<1xi64>) -> (tensor<?x2xf32>, tensor<?x2xi64>)
    %y = onnx.node "MoE" domain "com.microsoft" opset 1 (%x, %logits, %w1, %w2)
        attributes {k = 2 : si64, activation_type = "silu"}
        : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>)
        -> tensor<?x64xf32>
    ```

    Nodes of the default domain are free of side effects, except the random
    generators (`RandomNormal`, `RandomUniform`, their `Like` forms, `Multinomial`,
    `Bernoulli`), so unused ones are removed and equal ones merged. Nodes of other
    domains may have effects and are kept.
  }];
  let arguments = (ins
    StrAttr:$op_type,
    OptionalAttr<StrAttr>:$domain,
    ConfinedAttr<I64Attr, [IntPositive]>:$opset,
    OptionalAttr<StrAttr>:$name,
    Variadic<AnyType>:$inputs,
    OptionalAttr<DictionaryAttr>:$node_attributes
  );
  let results = (outs Variadic<AnyType>:$outputs);
  let assemblyFormat = [{
    $op_type (`domain` $domain^)? `opset` $opset (`name` $name^)? ` ` `(` $inputs `)`
    (`attributes` $node_attributes^)? attr-dict `:` functional-type($inputs, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The node's domain; the default domain (ai.onnx) is "".
    ::llvm::StringRef getDomainName() { return getDomain().value_or(""); }
    /// The ONNX attribute `name`, or null.
    ::mlir::Attribute getOnnxAttr(::llvm::StringRef name) {
      std::optional<::mlir::DictionaryAttr> attrs = getNodeAttributes();
      return attrs ? attrs->get(name) : ::mlir::Attribute();
    }
  }];
}

def Onnx_NoneOp : Onnx_Op<"none", [Pure]> {
  let summary = "an optional input left empty";
  let description = [{
    ```mlir
    %none = onnx.none
    ```
  }];
  let results = (outs NoneType:$result);
  let assemblyFormat = "attr-dict";
}

def Onnx_IfOp : Onnx_Op<"if", [RecursiveMemoryEffects, NoRegionArguments]> {
  let summary = "an ONNX If node: one of two subgraphs, by a boolean";
  let description = [{
    The `then` and `else` regions are the node's subgraphs, imported with the checks of
    the importer; they read values of the enclosing graph directly and end in
    `onnx.yield` of the subgraph's outputs. The condition is a one-element boolean
    tensor. A constant condition is folded by `moe-normalize-onnx`; legalisation lowers
    the rest to `scf.if`.

    ```mlir
    %y = onnx.if %use_cache opset 16 name "optimum::if" : tensor<1xi1> -> tensor<?x?x128xf32>
    then {
      ...
      onnx.yield %with_past : tensor<?x?x128xf32>
    } else {
      ...
      onnx.yield %without_past : tensor<?x?x128xf32>
    }
    ```
  }];
  let arguments = (ins
    AnyType:$condition,
    ConfinedAttr<I64Attr, [IntPositive]>:$opset,
    OptionalAttr<StrAttr>:$name
  );
  let results = (outs Variadic<AnyType>:$outputs);
  let regions = (region SizedRegion<1>:$then_branch, SizedRegion<1>:$else_branch);
  let assemblyFormat = [{
    $condition `opset` $opset (`name` $name^)? attr-dict `:` type($condition)
    (`->` type($outputs)^)? `then` $then_branch `else` $else_branch
  }];
  let hasVerifier = 1;
}

def Onnx_LoopOp : Onnx_Op<"loop", [RecursiveMemoryEffects]> {
  let summary = "an ONNX Loop node: its body run while a count and a condition allow";
  let description = [{
    Operands are the trip count `M` and the condition (each an `onnx.none` when the
    model leaves it out) and the initial loop-carried values. The body region is the
    node's body graph: its block arguments are the iteration number (`tensor<i64>`), the
    condition and the carried values; it reads values of the enclosing graph directly
    and ends in `onnx.yield` of the next condition, the carried values and the scan
    outputs. Results are the final carried values, then each scan output stacked over
    the iterations. Legalisation lowers it to `scf.while`.
  }];
  let arguments = (ins
    AnyType:$max_trip_count,
    AnyType:$condition,
    Variadic<AnyType>:$initial,
    ConfinedAttr<I64Attr, [IntPositive]>:$opset,
    OptionalAttr<StrAttr>:$name
  );
  let results = (outs Variadic<AnyType>:$outputs);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    `(` $max_trip_count `,` $condition (`,` $initial^)? `)` `opset` $opset (`name` $name^)?
    attr-dict `:` functional-type(operands, results) $body
  }];
  let hasVerifier = 1;
}

def Onnx_ScanOp : Onnx_Op<"scan", [RecursiveMemoryEffects]> {
  let summary = "an ONNX Scan node: its body run once per row of its scan inputs";
  let description = [{
    Operands are the initial states, then the `num_scan_inputs` scan inputs, scanned
    along `scan_input_axes` (non-negative; the first dimension when absent), from the
    end where `scan_input_directions` holds 1. The body region's block arguments are
    the states and one row of each scan input (that axis dropped); it ends in
    `onnx.yield` of the next states and one row of each scan output. Results are the
    final states, then each scan output stacked over the rows along
    `scan_output_axes`, last row first where `scan_output_directions` holds 1.
    Legalisation lowers it to `scf.for`.
  }];
  let arguments = (ins
    Variadic<AnyType>:$inputs,
    I64Attr:$num_scan_inputs,
    OptionalAttr<DenseI64ArrayAttr>:$scan_input_axes,
    OptionalAttr<DenseI64ArrayAttr>:$scan_input_directions,
    OptionalAttr<DenseI64ArrayAttr>:$scan_output_axes,
    OptionalAttr<DenseI64ArrayAttr>:$scan_output_directions,
    ConfinedAttr<I64Attr, [IntPositive]>:$opset,
    OptionalAttr<StrAttr>:$name
  );
  let results = (outs Variadic<AnyType>:$outputs);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    `(` $inputs `)` `scan_inputs` $num_scan_inputs `opset` $opset (`name` $name^)?
    attr-dict `:` functional-type(operands, results) $body
  }];
}

def Onnx_YieldOp : Onnx_Op<"yield", [Pure, Terminator, ReturnLike,
                                     ParentOneOf<["IfOp", "LoopOp", "ScanOp"]>]> {
  let summary = "the outputs of an onnx.if, onnx.loop or onnx.scan subgraph";
  let arguments = (ins Variadic<AnyType>:$values);
  let assemblyFormat = "($values^ `:` type($values))? attr-dict";
}

#endif // ONNX_OPS_TD
