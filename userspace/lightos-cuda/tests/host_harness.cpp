// Runs the CUDA backend's kernels (kernels.rs's SOURCE, included after this prelude) on the host,
// each CUDA thread an OS thread and __syncthreads a barrier, one block at a time. It checks the
// kernels' logic (indexing, grid striding, the shared-memory reductions, masked rows) without a
// GPU; it says nothing about the GPU's arithmetic or timing.
//
// Usage: harness KERNEL GRID [ARGS...] < f32 input > f32 output (little-endian, raw).
#include <barrier>
#include <math.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

struct Dim { unsigned x, y, z; };
static thread_local Dim threadIdx;
static Dim blockIdx, blockDim, gridDim;
static std::barrier<>* block_barrier;
#define __global__
#define __device__
#define __shared__ static
static void __syncthreads() { block_barrier->arrive_and_wait(); }
static float __int_as_float(unsigned v) { float f; std::memcpy(&f, &v, 4); return f; }

#include "kernels.cu"

template <class F> static void launch(unsigned grid, unsigned block, F body) {
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
    for (unsigned b = 0; b < grid; b++) {
        blockIdx = {b, 0, 0};
        std::barrier<> bar(block);
        block_barrier = &bar;
        std::vector<std::thread> threads;
        for (unsigned t = 0; t < block; t++)
            threads.emplace_back([&, t] { threadIdx = {t, 0, 0}; body(); });
        for (auto& th : threads) th.join();
    }
}

int main(int argc, char** argv) {
    if (argc < 3) return 2;
    std::string k = argv[1];
    unsigned grid = std::strtoul(argv[2], nullptr, 10);
    std::vector<float> in;
    float v;
    while (std::fread(&v, 4, 1, stdin) == 1) in.push_back(v);
    auto arg = [&](int i) { return std::string(argv[3 + i]); };
    std::vector<float> out;
    if (k == "binary") {  // ARGS: n op; input a then b
        unsigned long long n = std::stoull(arg(0));
        int op = std::stoi(arg(1));
        out.assign(n, 0.0f);
        launch(grid, 256, [&] { lightos_binary(out.data(), in.data(), in.data() + n, n, op); });
    } else if (k == "unary") {  // ARGS: op p q
        out = in;
        int op = std::stoi(arg(0));
        float p = std::stof(arg(1)), q = std::stof(arg(2));
        launch(grid, 256, [&] { lightos_unary(out.data(), out.size(), op, p, q); });
    } else if (k == "scale_mask") {  // ARGS: s t scale causal
        out = in;
        unsigned sq = std::stoul(arg(0)), t = std::stoul(arg(1));
        float scale = std::stof(arg(2));
        int causal = std::stoi(arg(3));
        launch(grid, 256, [&] { lightos_scale_mask(out.data(), out.size(), t, sq, scale, causal); });
    } else if (k == "softmax") {  // ARGS: d
        out = in;
        unsigned d = std::stoul(arg(0));
        launch(grid, 256, [&] { lightos_softmax_rows(out.data(), out.size() / d, d); });
    } else if (k == "layernorm") {  // ARGS: d eps affine; input x, then gamma and beta if affine
        unsigned d = std::stoul(arg(0));
        float eps = std::stof(arg(1));
        int affine = std::stoi(arg(2));
        size_t len = in.size() - (affine ? 2 * d : 0);
        out.assign(in.begin(), in.begin() + len);
        const float* g = in.data() + len;
        launch(grid, 256, [&] {
            lightos_layernorm_rows(out.data(), len / d, d, eps, g, g + d, affine);
        });
    } else {
        return 2;
    }
    std::fwrite(out.data(), 4, out.size(), stdout);
    return 0;
}
