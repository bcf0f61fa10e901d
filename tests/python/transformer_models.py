"""Transformer blocks built with onnx.helper, for the graph engine's tests and benchmarks.

    transformer_models.py build OUT_DIR SEED [BATCH]
        Writes OUT_DIR/NAME.onnx for each of
          encoder_layer  a BERT-style post-norm encoder layer: x[B,64,256] -> [B,64,256]; 4 heads,
                         MatMul + Add projections, Reshape/Transpose into heads, scaled scores
                         (Div), Softmax, LayerNormalization, a 1024-wide GELU written with Erf;
          gpt2_block     a GPT-2-style pre-norm decoder block: token ids (int64) [B,32] -> [B,32,256];
                         token and position embeddings (Gather), a causal mask added to the scores,
                         the tanh GELU (Pow, Tanh), and its second norm written out as older
                         exporters do (ReduceMean, Sub, Pow, Sqrt, Div);
          ops            every other op of ABI 1.13 once: Exp, Sigmoid, Reciprocal, Neg, Max, Min,
                         ReduceSum (axes as an input), ReduceMax, Softmax over a middle axis,
                         Gather along axis 1;
        with seeded random weights, plus OUT_DIR/NAME.input.npy (a seeded input) and
        OUT_DIR/NAME.expected.npy (ONNX Runtime's CPU execution provider on it). Prints one line
        per model: NAME INPUT_NAME. BATCH (default 1) is the leading dimension of every input.
"""
import sys

import numpy as np

OPSET = 17
D, HEADS, FF = 256, 4, 1024
DH = D // HEADS


class Builder:
    """Nodes and initializers of one graph, named in order."""

    def __init__(self, rng):
        self.rng = rng
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, hint):
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, value, hint="c"):
        from onnx import numpy_helper
        n = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(value), n))
        return n

    def weight(self, shape, hint="w"):
        fan_in = shape[0]
        return self.const(self.rng.normal(0, 1 / np.sqrt(fan_in), shape).astype(np.float32), hint)

    def bias(self, n, hint="b"):
        return self.const(self.rng.normal(0, 0.02, [n]).astype(np.float32), hint)

    def op(self, op_type, inputs, **attrs):
        from onnx import helper
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def linear(self, x, n_in, n_out):
        return self.op("Add", [self.op("MatMul", [x, self.weight([n_in, n_out])]), self.bias(n_out)])

    def layernorm(self, x):
        gamma = self.const((1 + self.rng.normal(0, 0.1, [D])).astype(np.float32), "gamma")
        return self.op("LayerNormalization", [x, gamma, self.bias(D, "beta")], axis=-1, epsilon=1e-5)

    def heads(self, x, batch, seq, perm):
        shape = self.const(np.array([batch, seq, HEADS, DH], dtype=np.int64), "shape")
        return self.op("Transpose", [self.op("Reshape", [x, shape])], perm=perm)

    def attention(self, x, batch, seq, mask=None):
        q = self.heads(self.linear(x, D, D), batch, seq, [0, 2, 1, 3])
        k = self.heads(self.linear(x, D, D), batch, seq, [0, 2, 3, 1])
        v = self.heads(self.linear(x, D, D), batch, seq, [0, 2, 1, 3])
        scores = self.op("Div", [self.op("MatMul", [q, k]), self.const(np.float32(np.sqrt(DH)))])
        if mask is not None:
            scores = self.op("Add", [scores, mask])
        ctx = self.op("MatMul", [self.op("Softmax", [scores], axis=-1), v])
        ctx = self.op("Transpose", [ctx], perm=[0, 2, 1, 3])
        ctx = self.op("Reshape", [ctx, self.const(np.array([batch, seq, D], dtype=np.int64))])
        return self.linear(ctx, D, D)

    def model(self, inputs, output, out_shape):
        import onnx
        from onnx import helper
        outputs = [helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, out_shape)]
        graph = helper.make_graph(self.nodes, "g", inputs, outputs, self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m


def encoder_layer(rng, batch):
    import onnx
    from onnx import helper
    seq = 64
    b = Builder(rng)
    h = b.layernorm(b.op("Add", ["x", b.attention("x", batch, seq)]))
    f = b.linear(h, D, FF)
    # GELU, exactly: 0.5 · f · (1 + erf(f / √2)).
    erf = b.op("Erf", [b.op("Div", [f, b.const(np.float32(np.sqrt(2)))])])
    gelu = b.op("Mul", [b.op("Mul", [f, b.const(np.float32(0.5))]), b.op("Add", [erf, b.const(np.float32(1))])])
    y = b.layernorm(b.op("Add", [h, b.linear(gelu, FF, D)]))
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [batch, seq, D])
    m = b.model([x], y, [batch, seq, D])
    return m, "x", rng.normal(0, 1, [batch, seq, D]).astype(np.float32)


def gpt2_block(rng, batch):
    import onnx
    from onnx import helper
    seq, vocab, positions = 32, 1000, 64
    b = Builder(rng)
    wte = b.const(rng.normal(0, 0.5, [vocab, D]).astype(np.float32), "wte")
    wpe = b.const(rng.normal(0, 0.1, [positions, D]).astype(np.float32), "wpe")
    pos = b.op("Gather", [wpe, b.const(np.arange(seq, dtype=np.int64), "positions")], axis=0)
    h = b.op("Add", [b.op("Gather", [wte, "ids"], axis=0), pos])
    causal = np.triu(np.full([seq, seq], -1e4, dtype=np.float32), 1)
    h = b.op("Add", [h, b.attention(b.layernorm(h), batch, seq, mask=b.const(causal, "mask"))])
    # The second norm as older exporters wrote it.
    mean = b.op("ReduceMean", [h], axes=[-1])
    d = b.op("Sub", [h, mean])
    var = b.op("ReduceMean", [b.op("Pow", [d, b.const(np.float32(2))])], axes=[-1])
    std = b.op("Sqrt", [b.op("Add", [var, b.const(np.float32(1e-5))])])
    gamma = b.const((1 + rng.normal(0, 0.1, [D])).astype(np.float32), "gamma")
    m = b.op("Add", [b.op("Mul", [b.op("Div", [d, std]), gamma]), b.bias(D)])
    # GPT-2's tanh GELU: 0.5 · f · (1 + tanh(√(2/π) · (f + 0.044715 · f³))).
    f = b.linear(m, D, FF)
    cube = b.op("Mul", [b.op("Pow", [f, b.const(np.float32(3))]), b.const(np.float32(0.044715))])
    inner = b.op("Mul", [b.op("Add", [f, cube]), b.const(np.float32(np.sqrt(2 / np.pi)))])
    t = b.op("Add", [b.op("Tanh", [inner]), b.const(np.float32(1))])
    gelu = b.op("Mul", [b.op("Mul", [f, b.const(np.float32(0.5))]), t])
    y = b.op("Add", [h, b.linear(gelu, FF, D)])
    ids = helper.make_tensor_value_info("ids", onnx.TensorProto.INT64, [batch, seq])
    model = b.model([ids], y, [batch, seq, D])
    return model, "ids", rng.integers(0, vocab, [batch, seq], dtype=np.int64)


def ops(rng, batch):
    import onnx
    from onnx import helper
    b = Builder(rng)
    shape = [batch, 3, 4, 5]
    e = b.op("Exp", [b.op("Neg", ["x"])])
    s = b.op("Sigmoid", ["x"])
    r = b.op("Reciprocal", [b.op("Add", [s, b.const(np.float32(0.5))])])
    mx = b.op("Max", [e, r, b.const(np.float32(1.2))])
    mn = b.op("Min", [mx, b.op("Mul", [b.op("Softmax", ["x"], axis=1), b.const(np.float32(4))])])
    # ReduceSum takes its axes as an input since opset 13; ReduceMax as an attribute until 18.
    rs = b.op("ReduceSum", [mn, b.const(np.array([1, 3], dtype=np.int64))], keepdims=1)
    rm = b.op("ReduceMax", [mx], axes=[1, 2], keepdims=1)
    g = b.op("Gather", [b.op("Add", [mn, rs]), b.const(np.array([[2, 0], [-1, 1]], dtype=np.int64))], axis=1)
    y = b.op("Add", [g, b.op("Unsqueeze", [rm, b.const(np.array([1], dtype=np.int64))])])
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, shape)
    model = b.model([x], y, [batch, 2, 2, 4, 5])
    return model, "x", rng.normal(0, 1.5, shape).astype(np.float32)


def build(out_dir, seed, batch=1):
    import onnx
    import onnxruntime as ort
    for name, make in [("encoder_layer", encoder_layer), ("gpt2_block", gpt2_block), ("ops", ops)]:
        rng = np.random.default_rng(int(seed))
        model, input_name, x = make(rng, int(batch))
        path = f"{out_dir}/{name}.onnx"
        onnx.save(model, path)
        np.save(f"{out_dir}/{name}.input.npy", x)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 2
        opts.log_severity_level = 3
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        (y,) = sess.run(None, {input_name: x})
        np.save(f"{out_dir}/{name}.expected.npy", y.astype(np.float32))
        print(name, input_name)


if __name__ == "__main__":
    if sys.argv[1:2] == ["build"] and len(sys.argv) in (4, 5):
        build(*sys.argv[2:])
    else:
        sys.exit(__doc__)
