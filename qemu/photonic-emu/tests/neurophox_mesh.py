"""Our Clements mesh against neurophox's numpy rectangular mesh (issue 18): same phases, same unitary.

    cargo run --release -p photonic-emu --example dump_mesh -- N SEED | python neurophox_mesh.py [FILE|-]

reads the JSON of `dump_mesh` (our decomposition of a random unitary: every element's mode, column and
heater phases, the output phase column, and `Mesh::matrix()`), programs neurophox's rectangular mesh
(`neurophox.numpy.RMNumpy`, neurophox 0.1.0a4 from PyPI) with the same phases through the change of
variables below, and compares neurophox's unitary with ours entry by entry. Exit 0 when
max |U_ours - U_neurophox| < 1e-10, 1 otherwise.

What neurophox computes: the 2x2 matrix of every MZI (`neurophox.components.MZI`), their placement in
the rectangle (`RectangularMeshModel`: the roll-by-one permutations between layers, the mask of unused
slots), the phase arrangement (`MeshPhases`, `MeshParam`), the layer matrices and their product with
the gamma column (`MeshNumpy.mesh_layers`, `MeshNumpyLayer.transform`). What this script adds: the
change of variables, and one constant it cannot otherwise express (step 3). None of our block or
product formulas is re-typed here.

Change of variables, step by step
---------------------------------
1. Our element (qemu/photonic-emu/src/mzi.rs). With R(t) = [[cos t, -sin t], [sin t, cos t]], a 50:50
   coupler R(pi/4) and the port phases diag(-i, 1) after, diag(1, i) before, an element with internal
   heater phase a (upper arm) and external heater phase phi (upper input) is

       E(a, phi) = core(a) . diag(e^{i phi}, 1),
       core(a)   = diag(-i, 1) . R(pi/4) . diag(e^{i a}, 1) . R(pi/4) . diag(1, i) = e^{i a/2} R(pi/2 - a/2),

   i.e. E(a, phi) = e^{i a/2} T(pi/2 - a/2, phi) with Clements' T(theta, phi) =
   [[e^{i phi} cos theta, -sin theta], [e^{i phi} sin theta, cos theta]]. The mesh is
   U = diag(e^{i p}) . E_last ... E_1 (column vectors, y = U x), every element Forward, p the output
   phase column.

2. neurophox's element (neurophox/components/mzi.py, get_mzi_transfer_matrix, hadamard=False):

       MZI(iu, il, eu, el) = B . diag(e^{i iu}, e^{i il}) . B . diag(e^{i eu}, e^{i el}),
       B = [[1, i], [i, 1]] / sqrt 2,

   internal phases iu/il on the upper/lower arm, external eu/el on the upper/lower port on the right
   of the product. In its single-mode basis (basis="sm") a mesh slot gets iu = theta, il = 0,
   eu = phi, el = 0: one heater per arm pair, as on our chip. (The "bloch" basis sets iu = -il =
   theta/2, which has no common phase e^{i theta/2}; ours has one, so "sm" is the matching basis. The
   Hadamard convention, H = [[1, 1], [1, -1]] / sqrt 2, would need a phase on a lower port, which
   neither mesh has: hadamard=False.)

3. The two couplers are the same up to port phases: R(pi/4) = diag(1, -i) . B . diag(1, i). Putting
   that into core(a) and collecting the diagonals,

       core(a) = diag(-i, -i) . B . diag(e^{i a}, 1) . B . diag(1, -1)
               = B . diag(e^{i (a + pi/2)}, e^{i pi/2}) . B . diag(e^{i pi}, 1),

   so  E(a, phi) = MZI(iu = a + pi/2, il = pi/2, eu = phi + pi, el = 0)  exactly. That is neurophox's
   single-mode MZI with theta_nx = a and phi_nx = phi + pi, plus a constant quarter wave (pi/2) on
   both internal arms: a choice of reference planes (our couplers carry their port phases inside
   the element). The quarter wave cannot be dropped: it is a factor i on two modes per element, and
   paths through the rectangle cross different numbers of elements, so it does not factor out of
   the mesh. neurophox's MeshPhases has no handle for a common-mode internal phase (its MZI has:
   internal_lower), so `QuarterWavePhases` below adds pi/2 to both arms of each of our slots with
   neurophox's own `MeshParam.common_mode_arrangement`; that is the only thing overridden.

4. Placement and direction. neurophox multiplies row vectors, v_out = v_in . M, with
   M = diag(e^{i gamma}) . L_0 . L_1 ... L_{L-1} (layer l's MZI blocks as above, permuted by
   grid_permutation: layer l couples modes (2k + l%2, 2k + 1 + l%2), slot k). Read as a
   column-vector transfer, M has the gamma column at the output and layer L-1 at the input, so

       M = U   with   gamma = p,   our column c  ->  layer l = L - 1 - c,   mode m -> slot k = m // 2.

   (Physically: neurophox's circuit, traversed in its own direction, is ours traversed from the
   outputs back to the inputs; by reciprocity that has transfer U^T, whose row-vector matrix is U.)
   Our column c couples modes of parity c % 2, layer l those of parity l % 2, so L - 1 - c and c
   must have the same parity: L = N for odd N, N + 1 for even N, where neurophox's first layer
   (l = 0) holds none of ours and is set to its bar state (theta_nx = phi_nx = pi, the identity, as
   neurophox does for the slots its mask turns off).

Summary (a, phi: our heater phases; theta_C, phi_C: Clements; theta_nx, phi_nx, gamma: neurophox):

    internal   a              theta_C = pi/2 - a/2    theta_nx = a   (+ pi/2 on both arms)
    external   phi            phi_C   = phi           phi_nx   = phi + pi
    output     p_m            (the D of eq. 5)        gamma_m  = p_m
    place      column c, m                            layer N-1-c (odd N) / N-c (even N), slot m//2
    bar        a = pi         theta_C = 0             theta_nx = pi
    cross      a = 0          theta_C = pi/2          theta_nx = 0

neurophox 0.1.0a4 imports tensorflow at import time (neurophox.config: tf.complex64/tf.float32;
neurophox.initializers: tf.Variable annotations) although its numpy meshes never call it; this script
puts a stub module in its place that provides those three names and raises on anything else.
"""

import json
import sys
import types

import numpy as np

TOLERANCE = 1e-10


def _stub_tensorflow():
    """The names neurophox's modules read from tensorflow at import time, and nothing else."""
    if "tensorflow" in sys.modules:
        return
    tf = types.ModuleType("tensorflow")
    tf.__doc__ = "stub: neurophox's numpy meshes do not use tensorflow"
    tf.complex64, tf.float32 = "tf.complex64 (stub)", "tf.float32 (stub)"

    class Variable:  # only used in annotations
        def __init__(self, *args, **kwargs):
            raise RuntimeError("neurophox_mesh.py: tensorflow is a stub here")

    tf.Variable = Variable

    def missing(name):
        raise AttributeError(f"tensorflow.{name}: neurophox tried to use tensorflow, which is a stub here")

    tf.__getattr__ = missing
    sys.modules["tensorflow"] = tf


_stub_tensorflow()
from neurophox.config import SINGLEMODE  # noqa: E402
from neurophox.numpy import RMNumpy  # noqa: E402
from neurophox.numpy.generic import MeshParam, MeshPhases  # noqa: E402


class QuarterWavePhases(MeshPhases):
    """neurophox's MeshPhases with a quarter wave added to both internal arms of the slots in
    `quarter_wave` (layers x units//2, 1 where one of our elements sits): step 3."""

    def __init__(self, quarter_wave, **kwargs):
        self.quarter_wave = quarter_wave
        super().__init__(**kwargs)

    @property
    def internal_phase_shifts(self):
        extra = MeshParam(self.quarter_wave * (np.pi / 2), self.gamma.size).common_mode_arrangement
        return super().internal_phase_shifts + extra


class QuarterWaveRM(RMNumpy):
    """neurophox's numpy rectangular mesh whose phases are QuarterWavePhases."""

    def __init__(self, units, num_layers, quarter_wave, phases):
        self.quarter_wave = quarter_wave
        super().__init__(units=units, num_layers=num_layers, hadamard=False, basis=SINGLEMODE, phases=phases)

    @property
    def phases(self):
        return QuarterWavePhases(
            self.quarter_wave,
            theta=self.theta,
            phi=self.phi,
            gamma=self.gamma,
            mask=self.mesh.model.mask,
            basis=self.mesh.model.basis,
            hadamard=self.mesh.model.hadamard,
        )


class Mismatch(Exception):
    pass


def neurophox_unitary(mesh):
    """neurophox's unitary for our mesh (the JSON of dump_mesh), through steps 1-4."""
    n = mesh["n"]
    layers = n if n % 2 else n + 1
    # Bar state (identity) wherever none of ours sits.
    theta = np.full((layers, n // 2), np.pi)
    phi = np.full((layers, n // 2), np.pi)
    ours = np.zeros((layers, n // 2))
    for e in mesh["elements"]:
        if e.get("orientation", "forward") != "forward":
            raise Mismatch(f"element {e}: only Forward elements are mapped")
        m, c = e["mode"], e["column"]
        layer, slot = layers - 1 - c, m // 2
        if not (0 <= layer < layers and 0 <= m < n - 1) or (m - layer) % 2:
            raise Mismatch(f"element {e}: column {c} / mode {m} is not a slot of the rectangle")
        if ours[layer, slot]:
            raise Mismatch(f"element {e}: two elements in layer {layer}, slot {slot}")
        ours[layer, slot] = 1
        theta[layer, slot] = e["theta"]
        phi[layer, slot] = e["phi"] + np.pi
    gamma = np.asarray(mesh["phases"], dtype=float)
    if gamma.shape != (n,):
        raise Mismatch(f"{gamma.size} output phases for N = {n}")
    phases = MeshPhases(theta=theta, phi=phi, gamma=gamma, basis=SINGLEMODE, hadamard=False)
    layer = QuarterWaveRM(n, layers, ours, phases)
    if np.any(ours * (1 - layer.mesh.model.mask)):
        raise Mismatch("one of our elements falls in a slot neurophox's rectangle masks off")
    return layer.matrix


def main(argv):
    src = argv[1] if len(argv) > 1 else "-"
    try:
        text = sys.stdin.read() if src == "-" else open(src).read()
        mesh = json.loads(text)
        n, seed = int(mesh["n"]), mesh.get("seed", "?")
        ours = np.array([[complex(re, im) for re, im in row] for row in mesh["matrix"]])
        if ours.shape != (n, n):
            raise Mismatch(f"matrix is {ours.shape}, N = {n}")
        if len(mesh["elements"]) != n * (n - 1) // 2:
            raise Mismatch(f"{len(mesh['elements'])} elements, a Clements mesh of N = {n} has {n * (n - 1) // 2}")
        theirs = neurophox_unitary(mesh)
    except (OSError, ValueError, KeyError, TypeError, Mismatch) as err:
        print(f"neurophox: cannot compare ({type(err).__name__}: {err})")
        return 1
    diff = float(np.max(np.abs(ours - theirs)))
    ok = diff < TOLERANCE
    verdict = "ok" if ok else f"FAILED (tolerance {TOLERANCE:g}): the meshes disagree"
    print(f"neurophox: N={n} seed={seed} max|U_ours − U_neurophox| = {diff:.1e} {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
