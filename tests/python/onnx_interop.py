"""The graph engine against ONNX Runtime (an independent implementation from PyPI).

    onnx_interop.py prepare MODEL.onnx OUT_DIR SEED
        Writes OUT_DIR/model.onnx: MODEL with every float weight (initializers, and the constant fills
        the model zoo's light networks generate their weights with) replaced by seeded random values
        (He-scaled, batch-norm variances positive), OUT_DIR/input.npy (uniform [0, 1)) and
        OUT_DIR/expected.npy (ONNX Runtime's CPU execution provider on it). Prints the input's name.
    onnx_interop.py compare EXPECTED.npy GOT.npy LABEL TOLERANCE
        One line: the worst absolute error, the relative L2 error against TOLERANCE, and the
        output's spread (random weights make a network's outputs differ, so a wrong index shows).
        Exit status 1 when the relative error exceeds TOLERANCE or the shapes differ.
"""
import sys

import numpy as np


def prepare(model_path, out_dir, seed):
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    m = onnx.load(model_path)
    g = m.graph
    rng = np.random.default_rng(int(seed))
    inits = {i.name: i for i in g.initializer}
    variances = {n.input[4] for n in g.node if n.op_type == "BatchNormalization"}
    scales = {n.input[1] for n in g.node if n.op_type == "BatchNormalization"}

    def random(name, shape):
        shape = [int(d) for d in shape]
        if name in variances:
            return (1.0 + np.abs(rng.normal(0, 0.1, shape))).astype(np.float32)
        if name in scales:
            return (1.0 + rng.normal(0, 0.1, shape)).astype(np.float32)
        if len(shape) >= 3:
            fan_in = int(np.prod(shape[1:]))
        elif len(shape) == 2:
            fan_in = max(shape)
        else:
            return rng.normal(0, 0.1, shape).astype(np.float32)
        return rng.normal(0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)

    # Compare logits, not probabilities: a softmax ending the network is dropped (its producer
    # writes the graph's output), or deep networks with random weights saturate to one-hot.
    last = g.node[-1]
    if last.op_type == "Softmax" and last.output[0] == g.output[0].name:
        for n in g.node:
            n.output[:] = [g.output[0].name if o == last.input[0] else o for o in n.output]
        g.node.remove(last)
    nodes, fills = [], []
    for n in g.node:
        if n.op_type == "ConstantOfShape" and n.input[0] in inits:
            shape = numpy_helper.to_array(inits[n.input[0]])
            fills.append(numpy_helper.from_array(random(n.output[0], shape), n.output[0]))
        else:
            nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    # The fills' shape tensors are read by nothing now.
    read = {i for n in nodes for i in n.input}
    kept = [i for i in g.initializer if i.name in read] + fills
    del g.initializer[:]
    g.initializer.extend(kept)
    inputs = [i for i in g.input if i.name in read]
    del g.input[:]
    g.input.extend(inputs)
    for i, init in enumerate(list(g.initializer)):
        if init.data_type == onnx.TensorProto.FLOAT:
            arr = numpy_helper.to_array(init)
            g.initializer[i].CopyFrom(numpy_helper.from_array(random(init.name, arr.shape), init.name))
    onnx.save(m, f"{out_dir}/model.onnx")

    names = {i.name for i in g.initializer}
    inp = next(i for i in g.input if i.name not in names)
    shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    x = rng.random(shape, dtype=np.float32)
    np.save(f"{out_dir}/input.npy", x)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.log_severity_level = 3
    sess = ort.InferenceSession(f"{out_dir}/model.onnx", opts, providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {inp.name: x})[:1]
    np.save(f"{out_dir}/expected.npy", y.astype(np.float32))
    print(inp.name)


def compare(expected, got, label, tolerance):
    a = np.load(expected)
    b = np.load(got)
    if a.shape != b.shape:
        print(f"onnxruntime: {label}: shape {b.shape}, onnxruntime's {a.shape} ... FAILED")
        return 1
    rel = float(np.linalg.norm(b - a) / max(np.linalg.norm(a), 1e-30))
    worst = float(np.max(np.abs(b - a)))
    spread = float(a.max() - a.min())
    ok = rel <= float(tolerance) and np.isfinite(b).all()
    verdict = "ok" if ok else "FAILED"
    print(f"onnxruntime: {label}: worst |error| {worst:.2e}, relative L2 {rel:.2e} "
          f"(tolerance {float(tolerance):.0e}), output spread {spread:.3f} ... {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["prepare"] and len(sys.argv) == 5:
        prepare(*sys.argv[2:])
    elif sys.argv[1:2] == ["compare"] and len(sys.argv) == 6:
        sys.exit(compare(*sys.argv[2:]))
    else:
        sys.exit(__doc__)
