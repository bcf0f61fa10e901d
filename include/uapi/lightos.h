/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note OR MIT */
/*
 * LightOS: the userspace ABI of /dev/lightos.
 *
 * The single source of truth is userspace/lightos-uapi/src/abi.rs; this header is its C twin, and a
 * host test (userspace/lightos-uapi/tests/c_header.rs) proves sizes, offsets and ioctl numbers equal.
 * Rules: fixed-size types, natural alignment, explicit padding, sizes a multiple of 8, reserved fields
 * and unknown flags must be zero (else -EINVAL), ioctl numbers are append-only. See docs/ABI.md.
 */
#ifndef _UAPI_LIGHTOS_H
#define _UAPI_LIGHTOS_H

#include <linux/types.h>
#include <linux/ioctl.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LIGHTOS_ABI_MAJOR 1
#define LIGHTOS_ABI_MINOR 13

#define LIGHTOS_IOC_MAGIC 'L'

/* Capability bits of struct lightos_info.capabilities. */
#define LIGHTOS_CAP_FDINFO  (1ULL << 0) /* per-context state in /proc/<pid>/fdinfo/<fd> */
#define LIGHTOS_CAP_BUFFERS (1ULL << 1) /* buffer objects and mmap (1.1) */
#define LIGHTOS_CAP_DEBUGFS (1ULL << 2) /* counters in /sys/kernel/debug/lightos/stats (1.1) */
#define LIGHTOS_CAP_QUERY   (1ULL << 3) /* LIGHTOS_IOC_QUERY (1.1) */
#define LIGHTOS_CAP_SUBMIT    (1ULL << 4) /* queues, SUBMIT, WAIT, completion pages (1.2) */
#define LIGHTOS_CAP_EXECUTORS (1ULL << 5) /* userspace executors (1.2) */
#define LIGHTOS_CAP_ROUTING   (1ULL << 6) /* ROUTE_SET, deterministic mode (1.2) */
#define LIGHTOS_CAP_EXPORT    (1ULL << 7) /* BUFFER_EXPORT/IMPORT as dma-buf fds (1.2) */
#define LIGHTOS_CAP_THERMAL   (1ULL << 8) /* QUERY_THERMAL, EVENT_WAIT (1.4) */
#define LIGHTOS_CAP_SPIKES    (1ULL << 9) /* spike-event queues (1.5) */
#define LIGHTOS_CAP_SPIKE_SHARING (1ULL << 10) /* SPIKE_QUEUE_EXPORT/IMPORT (1.6) */
#define LIGHTOS_CAP_SPIKE_ENCODE  (1ULL << 11) /* kernel-produced queues, OP_SPIKE_ENCODE (1.6) */
#define LIGHTOS_CAP_POWER         (1ULL << 12) /* POWER_SET, power fields of thermal info (1.7) */
#define LIGHTOS_CAP_REASONS       (1ULL << 13) /* QUERY_LAST_ERROR: why the last ioctl was rejected (1.8) */
#define LIGHTOS_CAP_QUOTAS        (1ULL << 14) /* per-uid quotas (EDQUOT), QUERY_QUOTA (1.9) */
#define LIGHTOS_CAP_RINGS         (1ULL << 15) /* submission/completion rings, RING_SETUP, ENTER (1.10) */
#define LIGHTOS_CAP_DEPENDENCIES  (1ULL << 16) /* dependencies between jobs (1.10) */
#define LIGHTOS_CAP_ALL (LIGHTOS_CAP_FDINFO | LIGHTOS_CAP_BUFFERS | LIGHTOS_CAP_DEBUGFS | LIGHTOS_CAP_QUERY | \
			 LIGHTOS_CAP_SUBMIT | LIGHTOS_CAP_EXECUTORS | LIGHTOS_CAP_ROUTING | LIGHTOS_CAP_EXPORT | \
			 LIGHTOS_CAP_THERMAL | LIGHTOS_CAP_SPIKES | LIGHTOS_CAP_SPIKE_SHARING | \
			 LIGHTOS_CAP_SPIKE_ENCODE | LIGHTOS_CAP_POWER | LIGHTOS_CAP_REASONS | \
			 LIGHTOS_CAP_QUOTAS | LIGHTOS_CAP_RINGS | LIGHTOS_CAP_DEPENDENCIES)

/* Limits. */
#define LIGHTOS_MAX_CONTEXTS       4096 /* open file descriptions of /dev/lightos at once */
#define LIGHTOS_MODULE_VERSION_LEN 32
#define LIGHTOS_MAX_IOCTL_SIZE     4096 /* largest _IOC_SIZE any ioctl accepts */
#define LIGHTOS_MAX_BUFFER_SIZE    (256ULL << 20) /* bytes in one buffer object */
#define LIGHTOS_MAX_BUFFERS_PER_CONTEXT 4096
#define LIGHTOS_MAX_BUFFER_BYTES   (1ULL << 30) /* bytes in all buffer objects, module-wide */

/* Buffer flags. */
#define LIGHTOS_BUFFER_DEVICE_READ_ONLY (1U << 0) /* devices only read it */
#define LIGHTOS_BUFFER_HOST_READ_ONLY   (1U << 1) /* mmap with PROT_WRITE is refused */
#define LIGHTOS_BUFFER_FLAGS_ALL (LIGHTOS_BUFFER_DEVICE_READ_ONLY | LIGHTOS_BUFFER_HOST_READ_ONLY)

/* Buffer placement hints. */
#define LIGHTOS_PLACEMENT_ANY    0
#define LIGHTOS_PLACEMENT_HOST   1
#define LIGHTOS_PLACEMENT_DEVICE 2 /* falls back to host memory when no device can reach it */

/* A buffer's mmap offset is its handle shifted left by this many bits. */
#define LIGHTOS_MMAP_HANDLE_SHIFT 32

/**
 * struct lightos_info - argument of LIGHTOS_IOC_GET_INFO
 * @flags:          in: must be 0
 * @abi_major:      out: LIGHTOS_ABI_MAJOR
 * @abi_minor:      out: LIGHTOS_ABI_MINOR
 * @max_contexts:   out: LIGHTOS_MAX_CONTEXTS
 * @capabilities:   out: LIGHTOS_CAP_* bits
 * @context_id:     out: identifier of this file descriptor's context, never reused while loaded
 * @open_contexts:  out: contexts open module-wide, this one included
 * @pad:            in: must be 0
 * @module_version: out: NUL-terminated module version
 * @max_buffer_size: out (1.1): LIGHTOS_MAX_BUFFER_SIZE
 * @max_buffer_bytes: out (1.1): LIGHTOS_MAX_BUFFER_BYTES
 * @max_buffers_per_context: out (1.1): LIGHTOS_MAX_BUFFERS_PER_CONTEXT
 * @pad2:           in: must be 0
 * @reserved:       in: must be 0
 */
struct lightos_info {
	__u32 flags;
	__u32 abi_major;
	__u32 abi_minor;
	__u32 max_contexts;
	__u64 capabilities;
	__u64 context_id;
	__u32 open_contexts;
	__u32 pad;
	char module_version[LIGHTOS_MODULE_VERSION_LEN];
	__u64 max_buffer_size;
	__u64 max_buffer_bytes;
	__u32 max_buffers_per_context;
	__u32 pad2;
	__u64 reserved[5];
};

/**
 * struct lightos_buffer_create - argument of LIGHTOS_IOC_BUFFER_CREATE
 * @size:        in: bytes, 1..LIGHTOS_MAX_BUFFER_SIZE, rounded up to whole pages
 * @flags:       in: LIGHTOS_BUFFER_* flags
 * @placement:   in: LIGHTOS_PLACEMENT_* hint
 * @handle:      out: the buffer's handle in this context (never 0)
 * @pad:         in: must be 0
 * @mmap_offset: out: the offset that maps exactly this buffer
 * @reserved:    in: must be 0
 */
struct lightos_buffer_create {
	__u64 size;
	__u32 flags;
	__u32 placement;
	__u32 handle;
	__u32 pad;
	__u64 mmap_offset;
	__u64 reserved[4];
};

/**
 * struct lightos_buffer_info - argument of LIGHTOS_IOC_BUFFER_INFO
 * @handle:      in: the buffer
 * @flags:       out: LIGHTOS_BUFFER_* flags
 * @size:        out: mapped size in bytes (whole pages)
 * @mmap_offset: out: the offset that maps exactly this buffer
 * @bus_addr:    out: the address a device uses for it, 0 when none has mapped it
 * @placement:   out: LIGHTOS_PLACEMENT_* it got
 * @pad:         in: must be 0
 * @reserved:    in: must be 0
 */
struct lightos_buffer_info {
	__u32 handle;
	__u32 flags;
	__u64 size;
	__u64 mmap_offset;
	__u64 bus_addr;
	__u32 placement;
	__u32 pad;
	__u64 reserved[4];
};

/**
 * struct lightos_buffer_destroy - argument of LIGHTOS_IOC_BUFFER_DESTROY
 * @handle:   in: the handle to drop (the memory lives on while mapped or used by a job)
 * @flags:    in: must be 0
 * @reserved: in: must be 0
 */
struct lightos_buffer_destroy {
	__u32 handle;
	__u32 flags;
	__u64 reserved[2];
};

/* Query types of struct lightos_query.query_type. */
#define LIGHTOS_QUERY_STATS   1 /* struct lightos_query_stats */
#define LIGHTOS_QUERY_CONTEXT 2 /* struct lightos_query_context */
#define LIGHTOS_QUERY_OPS      3 /* struct lightos_op_stats[LIGHTOS_OP_COUNT], index op - 1 (1.2) */
#define LIGHTOS_QUERY_BACKENDS 4 /* struct lightos_query_backends (1.2) */
#define LIGHTOS_QUERY_THERMAL  5 /* struct lightos_query_thermal (1.4) */
#define LIGHTOS_QUERY_SPIKE_QUEUES 6 /* struct lightos_query_spike_queues: this context's (1.5) */
#define LIGHTOS_QUERY_LAST_ERROR   7 /* struct lightos_query_last_error: this context's (1.8) */
#define LIGHTOS_QUERY_QUOTA        8 /* struct lightos_query_quota: the caller's uid (1.9) */

/**
 * struct lightos_query - argument of LIGHTOS_IOC_QUERY
 * @query_type: in: LIGHTOS_QUERY_*
 * @flags:      in: must be 0
 * @size:       in: bytes available at @ptr; out: bytes of the result
 * @ptr:        in: user address of the result, or 0 to ask for its size only
 * @reserved:   in: must be 0
 *
 * A @size smaller than the result is -EINVAL; a larger one is fine and is set to what was written.
 */
struct lightos_query {
	__u32 query_type;
	__u32 flags;
	__u64 size;
	__u64 ptr;
	__u64 reserved[2];
};

/** struct lightos_query_stats - result of LIGHTOS_QUERY_STATS: module-wide counters */
struct lightos_query_stats {
	__u64 contexts;
	__u64 buffers;
	__u64 buffer_bytes;
	__u64 buffers_created;
	__u64 buffer_limit_hits;
	__u64 jobs_in_flight; /* 1.2 */
	__u64 reserved[2];
};

/** struct lightos_query_context - result of LIGHTOS_QUERY_CONTEXT: the calling context */
struct lightos_query_context {
	__u64 context_id;
	__u64 ioctls;
	__u32 buffers;
	__u32 pad;
	__u64 reserved[4];
};

/* ---- ABI 1.2: queues, primitives, completion, executors, routing (docs/ABI.md) ---- */

/* Ops (struct lightos_primitive.op). Operands 0..n_inputs-1 are inputs, operand n_inputs the output. */
#define LIGHTOS_OP_MATMUL     1  /* a[M,K] . b[K,N] -> [M,N], or batched [B,..]; i8/fp8 inputs (1.7):
				  * params[0] A, params[1] B = f32 scale bits | zero point << 32,
				  * optional 3rd input f32 scales[N] for B per column (B's scale 0) */
#define LIGHTOS_OP_CONV2D     2  /* x[N,C,H,W], w[O,C,KH,KW], (bias[O]); params[0] stride, [1] padding */
#define LIGHTOS_OP_SOFTMAX    3  /* over the last dimension; params[0] axis + 1 for another (1.13) */
#define LIGHTOS_OP_LAYERNORM  4  /* x[..,D], (gamma[D], beta[D]); params[0] eps as f32 bits */
#define LIGHTOS_OP_ATTENTION  5  /* q[B,S,D], k[B,T,D], v[B,T,E] -> [B,S,E]; params[0] scale f32 bits */
#define LIGHTOS_OP_GELU       6
#define LIGHTOS_OP_RELU       7
#define LIGHTOS_OP_ADD        8
#define LIGHTOS_OP_MUL        9
#define LIGHTOS_OP_QUANTIZE   10 /* params[0] scale f32 bits, params[1] zero point */
#define LIGHTOS_OP_DEQUANTIZE 11
#define LIGHTOS_OP_COPY       12
#define LIGHTOS_OP_SPIKE_ENCODE 13 /* x -> events staged in out[capacity] (dtype SPIKE_EVENT), then into a queue (1.6) */
#define LIGHTOS_OP_POOL2D      14 /* x[N,C,H,W] -> out[N,C,OH,OW], max or average (1.11); params below */
#define LIGHTOS_OP_LRN         15 /* x[N,C,...] -> out, ONNX LRN across channels (1.12); params below */
#define LIGHTOS_OP_UNARY       16 /* x -> out shaped as x, params[0] LIGHTOS_UNARY_* (1.13) */
#define LIGHTOS_OP_BINARY      17 /* a, b -> out, one shape, params[0] LIGHTOS_BINARY_* (1.13) */
#define LIGHTOS_OP_REDUCE      18 /* x -> out (reduced axes 1), params[0] LIGHTOS_REDUCE_*, [1] axes mask (1.13) */
#define LIGHTOS_OP_GATHER      19 /* data, i64 indices -> out along axis params[0] (1.13) */
#define LIGHTOS_OP_COUNT      19
#define LIGHTOS_UNARY_EXP        1ULL
#define LIGHTOS_UNARY_TANH       2ULL
#define LIGHTOS_UNARY_SIGMOID    3ULL
#define LIGHTOS_UNARY_SQRT       4ULL
#define LIGHTOS_UNARY_ERF        5ULL
#define LIGHTOS_UNARY_RECIPROCAL 6ULL
#define LIGHTOS_UNARY_NEG        7ULL
#define LIGHTOS_UNARY_MAX        LIGHTOS_UNARY_NEG
#define LIGHTOS_BINARY_SUB       1ULL
#define LIGHTOS_BINARY_DIV       2ULL
#define LIGHTOS_BINARY_MAX       3ULL
#define LIGHTOS_BINARY_MIN       4ULL
#define LIGHTOS_BINARY_POW       5ULL
#define LIGHTOS_BINARY_MAX_FN    LIGHTOS_BINARY_POW
#define LIGHTOS_REDUCE_SUM       1ULL
#define LIGHTOS_REDUCE_MEAN      2ULL
#define LIGHTOS_REDUCE_MAX       3ULL
#define LIGHTOS_REDUCE_MAX_KIND  LIGHTOS_REDUCE_MAX
/* LIGHTOS_OP_LRN params (1.12): params[0] = size (1..LIGHTOS_LRN_MAX_SIZE);
 * params[1] = alpha | beta << 32 (f32 bits); params[2] = bias (f32 bits). */
#define LIGHTOS_LRN_MAX_SIZE         4096ULL
/* LIGHTOS_OP_POOL2D params (1.11): params[0] = kh | kw << 16 | sh << 32 | sw << 48;
 * params[1] = pad top | left << 16 | bottom << 32 | right << 48;
 * params[2] = dilation h | dilation w << 16 | LIGHTOS_POOL_* << 32 | LIGHTOS_POOL_CEIL. */
/* LIGHTOS_OP_MATMUL epilogue (1.11): a float matmul's 3rd input is a bias[N] of its dtype, added to
 * every row; params[2] may hold LIGHTOS_MATMUL_EPILOGUE_RELU (ReLU after the bias). */
#define LIGHTOS_MATMUL_EPILOGUE_RELU 1ULL
/* LIGHTOS_OP_CONV2D extended form (1.11), with LIGHTOS_CONV2D_EXTENDED in params[2]:
 * params[0] = stride h | stride w << 16 | dilation h << 32 | dilation w << 48;
 * params[1] = pad top | left << 16 | bottom << 32 | right << 48;
 * params[2] = groups (low 16 bits) | LIGHTOS_CONV2D_EPILOGUE_RELU | LIGHTOS_CONV2D_EXTENDED;
 * weights [O, C/groups, KH, KW]. */
#define LIGHTOS_CONV2D_EXTENDED      (1ULL << 63)
#define LIGHTOS_CONV2D_EPILOGUE_RELU (1ULL << 16)
#define LIGHTOS_CONV2D_MAX_PARAM     4096ULL
#define LIGHTOS_POOL_MAX             0ULL
#define LIGHTOS_POOL_AVG             1ULL
#define LIGHTOS_POOL_AVG_INCLUDE_PAD 2ULL
#define LIGHTOS_POOL_CEIL            (1ULL << 40)
#define LIGHTOS_POOL_MAX_PARAM       4096ULL
#define LIGHTOS_OP_COUNT_1_2  12 /* ops before 1.6; QUERY_OPS accepts room for this many */

/* OP_SPIKE_ENCODE: params[1] = encoding | flags | steps << 32 (see docs/ABI.md). */
#define LIGHTOS_SPIKE_ENCODE_RATE        1ULL
#define LIGHTOS_SPIKE_ENCODE_LATENCY     2ULL
#define LIGHTOS_SPIKE_ENCODE_DELTA       3ULL
#define LIGHTOS_SPIKE_ENCODE_F_LINEAR    (1ULL << 8)
#define LIGHTOS_SPIKE_ENCODE_F_NORMALIZE (1ULL << 9)
#define LIGHTOS_SPIKE_ENCODE_F_CLIP      (1ULL << 10)
#define LIGHTOS_SPIKE_ENCODE_F_OFF_SPIKE (1ULL << 11)
#define LIGHTOS_SPIKE_ENCODE_F_PADDING   (1ULL << 12)
#define LIGHTOS_SPIKE_ENCODE_MAX_STEPS   65536ULL

/* Dtypes. */
#define LIGHTOS_DTYPE_F32      1
#define LIGHTOS_DTYPE_F16      2
#define LIGHTOS_DTYPE_BF16     3
#define LIGHTOS_DTYPE_I8       4
#define LIGHTOS_DTYPE_FP8_E4M3 5
#define LIGHTOS_DTYPE_SPIKE_EVENT 6 /* struct lightos_spike_event; only OP_SPIKE_ENCODE's output (1.6) */
#define LIGHTOS_DTYPE_MAX      6

/* Rounding modes. */
#define LIGHTOS_ROUND_NEAREST_EVEN 0
#define LIGHTOS_ROUND_TOWARD_ZERO  1
#define LIGHTOS_ROUND_STOCHASTIC   2
#define LIGHTOS_ROUND_MAX          2

/* Primitive flags. */
#define LIGHTOS_PRIM_DETERMINISTIC (1U << 0) /* only a backend declaring bit-reproducibility runs it */
#define LIGHTOS_PRIM_CAUSAL        (1U << 1) /* ATTENTION: causal mask */
#define LIGHTOS_PRIM_FLAGS_ALL     (LIGHTOS_PRIM_DETERMINISTIC | LIGHTOS_PRIM_CAUSAL)

/* Limits. */
#define LIGHTOS_MAX_DIMS               4
#define LIGHTOS_MAX_OPERANDS           4
#define LIGHTOS_MAX_SUBMIT             256
#define LIGHTOS_MAX_QUEUE_INFLIGHT     1024
#define LIGHTOS_MAX_QUEUES_PER_CONTEXT 64
#define LIGHTOS_MAX_DIM_SIZE           (1ULL << 32)
#define LIGHTOS_MAX_ROUTES             32
#define LIGHTOS_MAX_EXECUTORS          16
#define LIGHTOS_BACKEND_NAME_LEN       32
#define LIGHTOS_QUEUE_PRIORITY_MAX     3
#define LIGHTOS_DEFAULT_JOB_TIMEOUT_MS 10000
#define LIGHTOS_MAX_JOB_TIMEOUT_MS     600000
#define LIGHTOS_COMPLETION_RING_ENTRIES 128
#define LIGHTOS_MMAP_COMPLETION_PAGE   (1ULL << 31) /* | queue_id << LIGHTOS_MMAP_HANDLE_SHIFT */

/* Job status. */
#define LIGHTOS_STATUS_OK            0
#define LIGHTOS_STATUS_INVALID       1
#define LIGHTOS_STATUS_TIMEOUT       2
#define LIGHTOS_STATUS_ABORTED       3
#define LIGHTOS_STATUS_THERMAL_ABORT 4
#define LIGHTOS_STATUS_DEVICE_LOST   5
#define LIGHTOS_STATUS_DEVICE_ERROR  6
#define LIGHTOS_STATUS_DEPENDENCY_FAILED 7 /* a job it depended on failed; it did not run (1.10) */
#define LIGHTOS_STATUS_MAX           7
#define LIGHTOS_STATUS_PENDING       0xfffffffeU
#define LIGHTOS_STATUS_UNKNOWN       0xffffffffU

#define LIGHTOS_TIMEOUT_INFINITE (~0ULL)
#define LIGHTOS_BACKEND_ANY      0
#define LIGHTOS_FETCH_NONBLOCK   (1U << 0)
#define LIGHTOS_ROUTE_CLEAR      (1U << 0)
#define LIGHTOS_ROUTE_SET_MODE   (1U << 1)
#define LIGHTOS_ROUTE_FLAGS_ALL  (LIGHTOS_ROUTE_CLEAR | LIGHTOS_ROUTE_SET_MODE)
#define LIGHTOS_LATENCY_BUCKETS  16
#define LIGHTOS_BACKEND_KIND_EXECUTOR 1
#define LIGHTOS_BACKEND_KIND_DEVICE   2
#define LIGHTOS_BACKEND_KIND_NULL     3 /* null0 (module parameter null_backend), 1.10 */

#define LIGHTOS_EXPORT_CLOEXEC (1U << 0)

/** struct lightos_buffer_export - argument of LIGHTOS_IOC_BUFFER_EXPORT */
struct lightos_buffer_export {
	__u32 handle;
	__u32 flags; /* LIGHTOS_EXPORT_* */
	__s32 fd;    /* out: dma-buf fd */
	__u32 pad;
	__u64 reserved[2];
};

/** struct lightos_buffer_import - argument of LIGHTOS_IOC_BUFFER_IMPORT */
struct lightos_buffer_import {
	__s32 fd;
	__u32 flags;
	__u32 handle;      /* out */
	__u32 pad;
	__u64 size;        /* out */
	__u64 mmap_offset; /* out */
	__u64 reserved[2];
};

/** struct lightos_queue_create - argument of LIGHTOS_IOC_QUEUE_CREATE */
struct lightos_queue_create {
	__u32 flags;             /* in: 0 */
	__u32 priority;          /* in: 0..LIGHTOS_QUEUE_PRIORITY_MAX */
	__u32 timeout_ms;        /* in: job timeout, 0 = default */
	__u32 queue_id;          /* out */
	__u64 completion_offset; /* out: mmap offset of the read-only completion page */
	__u64 reserved[3];
};

/** struct lightos_queue_destroy - argument of LIGHTOS_IOC_QUEUE_DESTROY */
struct lightos_queue_destroy {
	__u32 queue_id;
	__u32 flags;
	__u64 reserved[2];
};

/** struct lightos_tensor - a strided view of a buffer (strides in elements; all 0 = contiguous) */
struct lightos_tensor {
	__u32 buffer;
	__u32 ndim;
	__u64 offset;
	__u64 shape[LIGHTOS_MAX_DIMS];
	__u64 strides[LIGHTOS_MAX_DIMS];
};

/** struct lightos_primitive - one compute primitive */
struct lightos_primitive {
	__u16 op;
	__u8 dtype;
	__u8 out_dtype; /* 0 = same as dtype */
	__u8 n_inputs;
	__u8 rounding;
	__u16 pad;
	__u32 flags;
	__u32 pad2;
	__u64 user_data;
	__u64 seed;
	__u64 params[4];
	struct lightos_tensor operands[LIGHTOS_MAX_OPERANDS];
	__u64 deps;   /* user address of n_deps struct lightos_dependency (1.10), 0 with none */
	__u32 n_deps; /* 0..LIGHTOS_MAX_DEPS (1.10) */
	__u32 pad3;
};

/** struct lightos_submit - argument of LIGHTOS_IOC_SUBMIT (all or nothing) */
struct lightos_submit {
	__u32 queue_id;
	__u32 count;       /* 1..LIGHTOS_MAX_SUBMIT */
	__u32 flags;
	__u32 error_index; /* out: first rejected primitive, or count */
	__u64 prims;       /* user address of count struct lightos_primitive */
	__u64 first_seq;   /* out */
	__u64 last_seq;    /* out */
	__u64 reserved[2];
};

/** struct lightos_wait - argument of LIGHTOS_IOC_WAIT */
struct lightos_wait {
	__u32 queue_id;
	__u32 flags;
	__u64 seq;
	__u64 timeout_ns;    /* absolute CLOCK_MONOTONIC, or LIGHTOS_TIMEOUT_INFINITE */
	__u32 status;        /* out: LIGHTOS_STATUS_* */
	__u32 pad;
	__u64 completed_seq; /* out */
	__u64 reserved[2];
};

/** struct lightos_completion_entry - one status in a completion page */
struct lightos_completion_entry {
	__u64 seq;
	__u32 status;
	__u32 pad;
};

/** struct lightos_completion_page - a queue's read-only completion page */
struct lightos_completion_page {
	__u64 completed_seq; /* read with acquire ordering */
	__u64 submitted_seq;
	__u64 errors;
	__u32 ring_entries;
	__u32 pad;
	__u64 reserved[4];
	struct lightos_completion_entry ring[LIGHTOS_COMPLETION_RING_ENTRIES];
};

/** struct lightos_executor_register - argument of LIGHTOS_IOC_EXECUTOR_REGISTER */
struct lightos_executor_register {
	char name[LIGHTOS_BACKEND_NAME_LEN];
	__u64 ops;               /* bit op per supported op */
	__u64 deterministic_ops; /* subset of ops */
	__u32 dtypes;            /* bit dtype per supported dtype */
	__u32 flags;
	__u32 backend_id;        /* out */
	__u32 pad;
	__u64 reserved[2];
};

/** struct lightos_job_fetch - argument of LIGHTOS_IOC_JOB_FETCH */
struct lightos_job_fetch {
	__u32 flags; /* LIGHTOS_FETCH_* */
	__u32 pad;
	__u64 timeout_ns;
	__u64 job_id;                  /* out */
	struct lightos_primitive prim; /* out: buffers are handles in the executor's context */
	__u64 reserved[2];
};

/** struct lightos_job_complete - argument of LIGHTOS_IOC_JOB_COMPLETE */
struct lightos_job_complete {
	__u64 job_id;
	__u32 status;
	__u32 flags;
	__u32 produced; /* in (1.6): events written to an OP_SPIKE_ENCODE job's output, else 0 */
	__u32 pad;
	__u64 reserved[1];
};

/** struct lightos_route_set - argument of LIGHTOS_IOC_ROUTE_SET */
struct lightos_route_set {
	__u32 flags;      /* LIGHTOS_ROUTE_* */
	__u32 backend_id; /* or LIGHTOS_BACKEND_ANY */
	__u16 op;         /* 0 = any */
	__u8 dtype;       /* 0 = any */
	__u8 deterministic;
	__u32 pad;
	__u64 min_bytes;
	__u64 max_bytes;  /* 0 = no limit */
	__u32 rules;      /* out */
	__u32 pad2;
	__u64 reserved[2];
};

/** struct lightos_op_stats - counters of one op or backend */
struct lightos_op_stats {
	__u64 count;
	__u64 flops;
	__u64 bytes;
	__u64 errors;
	__u64 latency_us_log2[LIGHTOS_LATENCY_BUCKETS];
};

/** struct lightos_backend_info - one backend */
struct lightos_backend_info {
	char name[LIGHTOS_BACKEND_NAME_LEN];
	__u32 backend_id;
	__u32 kind;
	__u64 ops;
	__u64 deterministic_ops;
	__u32 dtypes;
	__u32 queued;
	__u32 running;
	__u32 pad;
	struct lightos_op_stats stats;
};

/** struct lightos_query_backends - result of LIGHTOS_QUERY_BACKENDS */
struct lightos_query_backends {
	__u32 count;
	__u32 pad;
	struct lightos_backend_info backends[LIGHTOS_MAX_EXECUTORS];
};

/* Thermal guard states (struct lightos_thermal_info.state), 1.4. */
#define LIGHTOS_THERMAL_NORMAL   0 /* laser unrestricted */
#define LIGHTOS_THERMAL_THROTTLE 1 /* laser power throttled */
#define LIGHTOS_THERMAL_SHUTDOWN 2 /* emergency shutdown: laser off, jobs THERMAL_ABORT */
#define LIGHTOS_THERMAL_LOST     3 /* the device stopped answering */
#define LIGHTOS_THERMAL_STATES   4
/* Tick lateness buckets; bucket i < 15 counts lateness below 5, 10, 20, 50, 100, 150, 200, 300,
 * 400, 500, 750, 1000, 2000, 5000, 10000 us respectively; bucket 15 the rest. */
#define LIGHTOS_LATENESS_BUCKETS 16
#define LIGHTOS_MAX_THERMAL_DEVICES 8

/** struct lightos_thermal_info - one device's thermal guard (temperatures in m°C) */
struct lightos_thermal_info {
	char name[LIGHTOS_BACKEND_NAME_LEN];
	__u32 backend_id;
	__u32 state;          /* LIGHTOS_THERMAL_* */
	__s32 temp_mc;        /* at the last guard tick */
	__s32 max_temp_mc;    /* since the driver bound */
	__u32 laser_limit_mw; /* imposed by the guard now */
	__u32 tec_permille;   /* TEC drive commanded now */
	__s32 throttle_mc;
	__s32 shutdown_mc;
	__s32 restart_mc;
	__u32 pad;
	__u64 period_ns;
	__u64 ticks;
	__u64 missed;         /* ticks skipped: the timer ran a period or more late */
	__u64 worst_late_ns;
	__u64 lateness_hist[LIGHTOS_LATENESS_BUCKETS];
	__u64 throttles;
	__u64 shutdowns;
	__u64 restarts;
	__u64 time_in_state_ms[LIGHTOS_THERMAL_STATES];
	__u64 last_trip_to_off_ns;  /* shutdown trip to laser reported off; 0: none yet */
	__u64 worst_trip_to_off_ns;
	__u32 laser_cap_mw;         /* 1.7: cap set by POWER_SET (LIGHTOS_LASER_MAX_MW: none) */
	__u32 tec_floor_permille;   /* 1.7: least TEC drive set by POWER_SET */
	__u32 laser_mw;             /* 1.7: laser power the device reports now */
	__u32 power_mw;             /* 1.7: laser + heater + compute power the device reports now */
	__u64 reserved[2];
};

/** struct lightos_query_thermal - result of LIGHTOS_QUERY_THERMAL */
struct lightos_query_thermal {
	__u32 count;
	__u32 pad;
	__u64 last_event_seq; /* newest event (0: none): EVENT_WAIT after it for new ones */
	struct lightos_thermal_info devices[LIGHTOS_MAX_THERMAL_DEVICES];
};

/* Power controls (1.7). */
#define LIGHTOS_LASER_MAX_MW        5000 /* the laser's full power: no cap */
#define LIGHTOS_LASER_CAP_MIN_MW     100 /* lowest cap (a cap never turns the laser off) */
#define LIGHTOS_POWER_SET_LASER_CAP (1U << 0) /* apply laser_cap_mw */
#define LIGHTOS_POWER_SET_TEC_FLOOR (1U << 1) /* apply tec_floor_permille */

/**
 * struct lightos_power_set - argument of LIGHTOS_IOC_POWER_SET (1.7): a device's power controls,
 * in force until changed or the driver unbinds. The thermal guard still has the last word: the laser
 * runs at min(cap, guard limit), the TEC at max(floor, guard drive). Needs CAP_SYS_ADMIN (EPERM).
 * @backend_id:         in: a device with a thermal guard (ENODEV: none; EOPNOTSUPP: no controls)
 * @flags:              in: LIGHTOS_POWER_SET_*, at least one (EINVAL otherwise)
 * @laser_cap_mw:       in: LIGHTOS_LASER_CAP_MIN_MW..LIGHTOS_LASER_MAX_MW (EINVAL otherwise)
 * @tec_floor_permille: in: 0..1000 (EINVAL otherwise)
 * @reserved:           in: must be 0
 */
struct lightos_power_set {
	__u32 backend_id;
	__u32 flags;
	__u32 laser_cap_mw;
	__u32 tec_floor_permille;
	__u64 reserved[2];
};

/* Event kinds (struct lightos_event.kind), 1.4. */
#define LIGHTOS_EVENT_THROTTLE      1 /* laser throttling started */
#define LIGHTOS_EVENT_THROTTLE_END  2 /* laser limit back to its maximum */
#define LIGHTOS_EVENT_SHUTDOWN      3 /* emergency shutdown */
#define LIGHTOS_EVENT_RESTART       4 /* cooled after a shutdown; jobs run again */
#define LIGHTOS_EVENT_DEVICE_LOST   5 /* the device stopped answering */
#define LIGHTOS_EVENT_FAULT_LATCHED 6 /* the device latched its own over-temperature fault */
#define LIGHTOS_EVENT_LOG_ENTRIES 256

/** struct lightos_event - one device event */
struct lightos_event {
	__u64 seq;       /* module-wide, from 1, consecutive */
	__u64 time_ns;   /* CLOCK_MONOTONIC */
	__u32 backend_id;
	__u32 kind;      /* LIGHTOS_EVENT_* */
	__s32 temp_mc;
	__u32 laser_limit_mw;
};

/**
 * struct lightos_event_wait - argument of LIGHTOS_IOC_EVENT_WAIT: the events after @after_seq, at
 * once, or after sleeping until one happens (ETIMEDOUT at the deadline, EINTR on a signal)
 * @after_seq:  in: at most the newest sequence number (EINVAL beyond); 0: from the oldest kept
 * @timeout_ns: in: absolute CLOCK_MONOTONIC deadline, or LIGHTOS_TIMEOUT_INFINITE; past: poll
 * @events:     in: user address of @capacity struct lightos_event
 * @capacity:   in: 1 to LIGHTOS_EVENT_LOG_ENTRIES
 * @flags:      in: must be 0
 * @count:      out: events written
 * @last_seq:   out: sequence number of the last event written (the next @after_seq)
 * @lost:       out: events after @after_seq that had left the log before this call
 * @reserved:   in: must be 0
 */
struct lightos_event_wait {
	__u64 after_seq;
	__u64 timeout_ns;
	__u64 events;
	__u32 capacity;
	__u32 flags;
	__u32 count;
	__u32 pad;
	__u64 last_seq;
	__u64 lost;
	__u64 reserved[2];
};

/* Spike-event queues, 1.5: a ring shared by mmap, io_uring CQ style. */
#define LIGHTOS_SPIKE_RING_MIN_ENTRIES 2
#define LIGHTOS_SPIKE_RING_MAX_ENTRIES 65536
#define LIGHTOS_MAX_SPIKE_QUEUES_PER_CONTEXT 16
#define LIGHTOS_MMAP_SPIKE_RING (1ULL << 30) /* mmap cookie: queue_id << 32 | this */
#define LIGHTOS_SPIKE_RING_EVENTS_OFFSET 64
#define LIGHTOS_SPIKE_RING_NEED_WAKEUP (1U << 0) /* a consumer sleeps: call SPIKE_NOTIFY after publishing */

/**
 * struct lightos_spike_ring - header at offset 0 of a mapped spike ring; entry i of the events
 * (struct lightos_spike_event) is at LIGHTOS_SPIKE_RING_EVENTS_OFFSET + (i & mask) * 16.
 * @head: next entry the consumer reads (free-running; store-release after reading)
 * @tail: next entry the producer writes (free-running; store-release after writing)
 */
struct lightos_spike_ring {
	__u32 head;
	__u32 tail;
	__u32 mask;     /* entries - 1 */
	__u32 entries;
	__u32 overflow; /* events producers dropped on a full ring */
	__u32 flags;    /* LIGHTOS_SPIKE_RING_* */
	__u32 events_offset;
	__u32 pad;
	__u64 reserved[4];
};

/** struct lightos_spike_event - one address event */
struct lightos_spike_event {
	__u64 timestamp_ns;
	__u32 neuron;
	__s16 value;   /* polarity or graded */
	__u16 channel;
};

/** struct lightos_spike_queue_info - one spike queue in struct lightos_query_spike_queues */
struct lightos_spike_queue_info {
	__u32 queue_id;
	__u32 entries;
	__u32 available; /* tail - head, clamped to entries */
	__u32 overflow;
	__u32 tail;      /* free-running */
	__u32 head;
	__u64 waits;     /* SPIKE_WAIT calls */
	__u64 wakeups;   /* sleeps ended by SPIKE_NOTIFY */
	__u64 notifies;  /* SPIKE_NOTIFY calls */
};

/** struct lightos_query_spike_queues - result of LIGHTOS_QUERY_SPIKE_QUEUES */
struct lightos_query_spike_queues {
	__u32 count;
	__u32 pad;
	struct lightos_spike_queue_info queues[LIGHTOS_MAX_SPIKE_QUEUES_PER_CONTEXT];
};

#define LIGHTOS_REASON_LEN 128

/**
 * struct lightos_query_last_error - result of LIGHTOS_QUERY_LAST_ERROR (1.8): the last ioctl this
 * context rejected and why. Replaced by every failed ioctl of type 'L' except EAGAIN, ETIMEDOUT and
 * EINTR; successful ioctls (this query too) leave it alone. All zero before the first rejection.
 * @rejections: rejections recorded so far (0: none)
 * @error:      the errno returned (positive; not named errno, which <errno.h> defines as a macro)
 * @ioctl_nr:   _IOC_NR of the rejected ioctl
 * @reason:     NUL-terminated ASCII, truncated to fit; empty when no reason was given
 * @reserved:   zero
 */
struct lightos_query_last_error {
	__u64 rejections;
	__u32 error;
	__u32 ioctl_nr;
	char reason[LIGHTOS_REASON_LEN];
	__u64 reserved[2];
};

/**
 * struct lightos_query_quota - result of LIGHTOS_QUERY_QUOTA (1.9): the per-uid quotas (module
 * parameters quota_*) and the usage of the uid that opened the context, module-wide. Objects stay
 * charged to the uid that created them until they die. Over a quota: EDQUOT.
 * @uid:      effective uid that opened the context (initial user namespace)
 * @exempt:   1 when opened with CAP_SYS_ADMIN: counted, not limited
 * @reserved: zero
 */
struct lightos_query_quota {
	__u32 uid;
	__u32 exempt;
	__u64 buffer_bytes_quota;
	__u64 buffer_bytes;
	__u64 buffers_quota;
	__u64 buffers;
	__u64 queues_quota;
	__u64 queues;
	__u64 jobs_quota;
	__u64 jobs;
	__u64 spike_queues_quota;
	__u64 spike_queues;
	__u64 reserved[4];
};

/** struct lightos_spike_queue_create - argument of LIGHTOS_IOC_SPIKE_QUEUE_CREATE */
struct lightos_spike_queue_create {
	__u32 entries;     /* in: power of two, 2..65536 */
	__u32 flags;       /* in: LIGHTOS_SPIKE_QUEUE_* */
	__u32 queue_id;    /* out */
	__u32 pad;
	__u64 mmap_offset; /* out */
	__u64 mmap_size;   /* out: header and events, whole pages */
	__u64 reserved[2];
};

#define LIGHTOS_SPIKE_QUEUE_KERNEL_PRODUCER (1U << 0) /* only OP_SPIKE_ENCODE jobs produce into it (1.6) */
#define LIGHTOS_SPIKE_RING_KERNEL_PRODUCER  (1U << 1) /* header flag of such a ring (1.6) */
#define LIGHTOS_SPIKE_EXPORT_CLOEXEC        (1U << 0)

/** struct lightos_spike_queue_export - argument of LIGHTOS_IOC_SPIKE_QUEUE_EXPORT (1.6) */
struct lightos_spike_queue_export {
	__u32 queue_id;
	__u32 flags;       /* in: LIGHTOS_SPIKE_EXPORT_* */
	__s32 fd;          /* out: names the queue; pass it to another process (SCM_RIGHTS, fork) */
	__u32 pad;
	__u64 reserved[2];
};

/** struct lightos_spike_queue_import - argument of LIGHTOS_IOC_SPIKE_QUEUE_IMPORT (1.6) */
struct lightos_spike_queue_import {
	__s32 fd;          /* in: from SPIKE_QUEUE_EXPORT */
	__u32 flags;       /* in: 0 */
	__u32 queue_id;    /* out: in this context */
	__u32 entries;     /* out */
	__u64 mmap_offset; /* out */
	__u64 mmap_size;   /* out */
	__u64 reserved[2];
};

/** struct lightos_spike_queue_id - argument of LIGHTOS_IOC_SPIKE_QUEUE_DESTROY and _NOTIFY */
struct lightos_spike_queue_id {
	__u32 queue_id;
	__u32 flags;       /* in: 0 */
	__u64 reserved[2];
};

/** struct lightos_spike_wait - argument of LIGHTOS_IOC_SPIKE_WAIT */
struct lightos_spike_wait {
	__u32 queue_id;
	__u32 min_events;  /* in: 1..entries */
	__u64 timeout_ns;  /* in: absolute CLOCK_MONOTONIC, LIGHTOS_TIMEOUT_INFINITE, or past to poll */
	__u32 available;   /* out: tail - head, at most entries */
	__u32 flags;       /* in: 0 */
	__u64 reserved[2];
};

/* ABI 1.10: the fast path. Dependencies between jobs; submission and completion rings per queue. */
#define LIGHTOS_MAX_DEPS          16
#define LIGHTOS_DEP_RELATIVE      (1U << 0) /* seq counts back within the same call, same queue */
#define LIGHTOS_DEP_FLAGS_ALL     LIGHTOS_DEP_RELATIVE
#define LIGHTOS_RING_MAX_SQ_ENTRIES 1024
#define LIGHTOS_RING_MAX_CQ_ENTRIES 4096
#define LIGHTOS_MMAP_RINGS        (1ULL << 29) /* | queue_id << LIGHTOS_MMAP_HANDLE_SHIFT */
#define LIGHTOS_RING_SQES_OFFSET  128
#define LIGHTOS_ENTER_GETEVENTS   (1U << 0)
#define LIGHTOS_ENTER_FLAGS_ALL   LIGHTOS_ENTER_GETEVENTS

/**
 * struct lightos_dependency - a job a primitive waits for (1.10). It starts only when every job it
 * depends on ended OK, else it ends LIGHTOS_STATUS_DEPENDENCY_FAILED without running.
 * @queue_id: a queue of the same context (0 with LIGHTOS_DEP_RELATIVE)
 * @flags:    LIGHTOS_DEP_*
 * @seq:      a sequence number already handed out, or with LIGHTOS_DEP_RELATIVE how many
 *            primitives back in the same SUBMIT/ENTER call (1 = the one just before)
 */
struct lightos_dependency {
	__u32 queue_id;
	__u32 flags;
	__u64 seq;
};

/**
 * struct lightos_ring_setup - argument of LIGHTOS_IOC_RING_SETUP (1.10): one mapping holds the
 * header, sq_entries struct lightos_primitive at sqes_offset, cq_entries struct lightos_cqe at
 * cqes_offset. Entries: powers of two, 1 <= sq_entries <= cq_entries.
 */
struct lightos_ring_setup {
	__u32 queue_id;
	__u32 flags;
	__u32 sq_entries;
	__u32 cq_entries;
	__u64 mmap_offset; /* out */
	__u64 mmap_size;   /* out */
	__u32 sqes_offset; /* out */
	__u32 cqes_offset; /* out */
	__u64 reserved[2];
};

/**
 * struct lightos_ring_header - the start of a queue's mapped rings (1.10). Free-running indices
 * masked by entries - 1. The client owns sq_tail and cq_head, the kernel the rest; store your
 * index with release ordering after the entries, load the other side's with acquire ordering.
 */
struct lightos_ring_header {
	__u32 sq_head;
	__u32 sq_tail;
	__u32 sq_mask;
	__u32 sq_entries;
	__u32 cq_head;
	__u32 cq_tail;
	__u32 cq_mask;
	__u32 cq_entries;
	__u64 cq_overflow; /* completions that found the ring full (still in the timeline) */
	__u64 sq_rejected; /* entries ENTER rejected */
	__u64 reserved[10];
};

/** struct lightos_cqe - one completion entry (1.10) */
struct lightos_cqe {
	__u64 user_data;
	__u64 seq;
	__u32 status;
	__u32 flags;
	__u64 device_ns; /* time on its backend, start to end */
};

/**
 * struct lightos_enter - argument of LIGHTOS_IOC_ENTER (1.10): take to_submit entries from the
 * submission ring (all or none, through the same chain as SUBMIT), then with
 * LIGHTOS_ENTER_GETEVENTS wait until min_complete completion entries are in the ring.
 */
struct lightos_enter {
	__u32 queue_id;
	__u32 flags;
	__u32 to_submit;
	__u32 min_complete;
	__u64 timeout_ns;  /* absolute CLOCK_MONOTONIC deadline */
	__u32 submitted;   /* out */
	__u32 error_index; /* out */
	__u64 first_seq;   /* out */
	__u32 completions; /* out */
	__u32 pad;
	__u64 reserved[2];
};


#define LIGHTOS_MAX_JOB_BATCH     64

/** struct lightos_job_done - one completion in struct lightos_job_batch (1.10) */
struct lightos_job_done {
	__u64 job_id;
	__u32 status;   /* OK, INVALID or THERMAL_ABORT */
	__u32 produced; /* events staged by an OP_SPIKE_ENCODE */
};

/** struct lightos_batch_job - one job fetched by LIGHTOS_IOC_JOB_BATCH (1.10) */
struct lightos_batch_job {
	__u64 job_id;
	struct lightos_primitive prim; /* operands: the executor's cached handles */
};

/**
 * struct lightos_job_batch - argument of LIGHTOS_IOC_JOB_BATCH (1.10): apply n_complete
 * completions (on an error, completions 0..error_index were applied and a refused one is
 * error_index; already-ended jobs are skipped), report at most max_revoked cached handles dropped (unmap them), then wait for one job
 * until timeout_ns (not with LIGHTOS_FETCH_NONBLOCK) and take up to max_fetch ready ones. An
 * expired wait fetches 0 and succeeds; a signal ends it with EINTR (not restarted). A buffer keeps
 * one handle in the executor's context while a client holds it; handles are never reused.
 */
struct lightos_job_batch {
	__u32 flags;
	__u32 n_complete;
	__u64 completions; /* user address of n_complete struct lightos_job_done */
	__u32 max_fetch;
	__u32 n_fetched;   /* out */
	__u64 jobs;        /* user address of max_fetch struct lightos_batch_job (written) */
	__u64 timeout_ns;
	__u64 revoked;     /* user address of max_revoked __u32 handles (written) */
	__u32 max_revoked;
	__u32 n_revoked;   /* out */
	__u32 error_index; /* out */
	__u32 pad;
	__u64 reserved[2];
};


#define LIGHTOS_IOC_GET_INFO       _IOWR(LIGHTOS_IOC_MAGIC, 0x00, struct lightos_info)
#define LIGHTOS_IOC_BUFFER_CREATE  _IOWR(LIGHTOS_IOC_MAGIC, 0x01, struct lightos_buffer_create)
#define LIGHTOS_IOC_BUFFER_INFO    _IOWR(LIGHTOS_IOC_MAGIC, 0x02, struct lightos_buffer_info)
#define LIGHTOS_IOC_BUFFER_DESTROY _IOWR(LIGHTOS_IOC_MAGIC, 0x03, struct lightos_buffer_destroy)
#define LIGHTOS_IOC_QUERY          _IOWR(LIGHTOS_IOC_MAGIC, 0x04, struct lightos_query)
#define LIGHTOS_IOC_QUEUE_CREATE   _IOWR(LIGHTOS_IOC_MAGIC, 0x05, struct lightos_queue_create)
#define LIGHTOS_IOC_QUEUE_DESTROY  _IOWR(LIGHTOS_IOC_MAGIC, 0x06, struct lightos_queue_destroy)
#define LIGHTOS_IOC_SUBMIT         _IOWR(LIGHTOS_IOC_MAGIC, 0x07, struct lightos_submit)
#define LIGHTOS_IOC_WAIT           _IOWR(LIGHTOS_IOC_MAGIC, 0x08, struct lightos_wait)
#define LIGHTOS_IOC_EXECUTOR_REGISTER _IOWR(LIGHTOS_IOC_MAGIC, 0x09, struct lightos_executor_register)
#define LIGHTOS_IOC_JOB_FETCH      _IOWR(LIGHTOS_IOC_MAGIC, 0x0a, struct lightos_job_fetch)
#define LIGHTOS_IOC_JOB_COMPLETE   _IOWR(LIGHTOS_IOC_MAGIC, 0x0b, struct lightos_job_complete)
#define LIGHTOS_IOC_ROUTE_SET      _IOWR(LIGHTOS_IOC_MAGIC, 0x0c, struct lightos_route_set)
#define LIGHTOS_IOC_BUFFER_EXPORT  _IOWR(LIGHTOS_IOC_MAGIC, 0x0d, struct lightos_buffer_export)
#define LIGHTOS_IOC_BUFFER_IMPORT  _IOWR(LIGHTOS_IOC_MAGIC, 0x0e, struct lightos_buffer_import)
#define LIGHTOS_IOC_EVENT_WAIT     _IOWR(LIGHTOS_IOC_MAGIC, 0x0f, struct lightos_event_wait)
#define LIGHTOS_IOC_SPIKE_QUEUE_CREATE  _IOWR(LIGHTOS_IOC_MAGIC, 0x10, struct lightos_spike_queue_create)
#define LIGHTOS_IOC_SPIKE_QUEUE_DESTROY _IOWR(LIGHTOS_IOC_MAGIC, 0x11, struct lightos_spike_queue_id)
#define LIGHTOS_IOC_SPIKE_WAIT          _IOWR(LIGHTOS_IOC_MAGIC, 0x12, struct lightos_spike_wait)
#define LIGHTOS_IOC_SPIKE_NOTIFY        _IOWR(LIGHTOS_IOC_MAGIC, 0x13, struct lightos_spike_queue_id)
#define LIGHTOS_IOC_SPIKE_QUEUE_EXPORT  _IOWR(LIGHTOS_IOC_MAGIC, 0x14, struct lightos_spike_queue_export)
#define LIGHTOS_IOC_SPIKE_QUEUE_IMPORT  _IOWR(LIGHTOS_IOC_MAGIC, 0x15, struct lightos_spike_queue_import)
#define LIGHTOS_IOC_POWER_SET           _IOWR(LIGHTOS_IOC_MAGIC, 0x16, struct lightos_power_set)
#define LIGHTOS_IOC_RING_SETUP          _IOWR(LIGHTOS_IOC_MAGIC, 0x17, struct lightos_ring_setup)
#define LIGHTOS_IOC_ENTER               _IOWR(LIGHTOS_IOC_MAGIC, 0x18, struct lightos_enter)
#define LIGHTOS_IOC_JOB_BATCH           _IOWR(LIGHTOS_IOC_MAGIC, 0x19, struct lightos_job_batch)

#ifdef __cplusplus
}
#endif

#endif /* _UAPI_LIGHTOS_H */
