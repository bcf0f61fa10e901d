//! Proves that `include/uapi/lightos.h` and the Rust ABI agree: compiles a C program whose static
//! assertions state every Rust size, field offset, constant and ioctl number, then runs it.

use lightos_uapi as uapi;
use std::{
    fmt::Write as _,
    mem::offset_of,
    path::PathBuf,
    process::{Command, Output},
};

/// Appends static assertions that `struct $c` has the size and field offsets of Rust `$rust`.
macro_rules! check_struct {
    ($out:expr, $rust:ty, $c:literal, [$($field:ident),* $(,)?]) => {{
        let size = std::mem::size_of::<$rust>();
        writeln!($out, "_Static_assert(sizeof(struct {}) == {size}, \"size of struct {}\");", $c, $c).unwrap();
        $(
            let off = offset_of!($rust, $field);
            writeln!($out, "_Static_assert(offsetof(struct {}, {}) == {off}, \"offset of {}.{}\");",
                     $c, stringify!($field), $c, stringify!($field)).unwrap();
        )*
    }};
}

/// Appends a static assertion that C constant `$c` equals Rust value `$v`.
macro_rules! check_const {
    ($out:expr, $c:literal, $v:expr) => {{
        writeln!(
            $out,
            "_Static_assert((unsigned long long)({}) == {}ULL, \"{}\");",
            $c, $v as u64, $c
        )
        .unwrap();
    }};
}

fn generated_checks() -> String {
    let mut c = String::from("#include <stddef.h>\n#include \"lightos.h\"\n");
    check_struct!(
        c,
        uapi::Info,
        "lightos_info",
        [
            flags,
            abi_major,
            abi_minor,
            max_contexts,
            capabilities,
            context_id,
            open_contexts,
            pad,
            module_version,
            reserved,
        ]
    );
    check_const!(c, "LIGHTOS_ABI_MAJOR", uapi::ABI_MAJOR);
    check_const!(c, "LIGHTOS_ABI_MINOR", uapi::ABI_MINOR);
    check_const!(c, "LIGHTOS_IOC_MAGIC", uapi::IOC_MAGIC);
    check_const!(c, "LIGHTOS_IOC_GET_INFO", uapi::IOC_GET_INFO);
    check_const!(c, "LIGHTOS_IOC_BUFFER_CREATE", uapi::IOC_BUFFER_CREATE);
    check_const!(c, "LIGHTOS_IOC_BUFFER_INFO", uapi::IOC_BUFFER_INFO);
    check_const!(c, "LIGHTOS_IOC_BUFFER_DESTROY", uapi::IOC_BUFFER_DESTROY);
    check_const!(c, "LIGHTOS_IOC_QUERY", uapi::IOC_QUERY);
    check_const!(c, "LIGHTOS_QUERY_STATS", uapi::QUERY_STATS);
    check_const!(c, "LIGHTOS_QUERY_CONTEXT", uapi::QUERY_CONTEXT);
    check_const!(c, "LIGHTOS_CAP_QUERY", uapi::CAP_QUERY);
    check_const!(c, "LIGHTOS_CAP_FDINFO", uapi::CAP_FDINFO);
    check_const!(c, "LIGHTOS_CAP_BUFFERS", uapi::CAP_BUFFERS);
    check_const!(c, "LIGHTOS_CAP_DEBUGFS", uapi::CAP_DEBUGFS);
    check_const!(c, "LIGHTOS_MAX_BUFFER_SIZE", uapi::MAX_BUFFER_SIZE);
    check_const!(
        c,
        "LIGHTOS_MAX_BUFFERS_PER_CONTEXT",
        uapi::MAX_BUFFERS_PER_CONTEXT
    );
    check_const!(c, "LIGHTOS_MAX_BUFFER_BYTES", uapi::MAX_BUFFER_BYTES);
    check_const!(
        c,
        "LIGHTOS_BUFFER_DEVICE_READ_ONLY",
        uapi::BUFFER_DEVICE_READ_ONLY
    );
    check_const!(
        c,
        "LIGHTOS_BUFFER_HOST_READ_ONLY",
        uapi::BUFFER_HOST_READ_ONLY
    );
    check_const!(c, "LIGHTOS_BUFFER_FLAGS_ALL", uapi::BUFFER_FLAGS_ALL);
    check_const!(c, "LIGHTOS_PLACEMENT_ANY", uapi::PLACEMENT_ANY);
    check_const!(c, "LIGHTOS_PLACEMENT_HOST", uapi::PLACEMENT_HOST);
    check_const!(c, "LIGHTOS_PLACEMENT_DEVICE", uapi::PLACEMENT_DEVICE);
    check_const!(c, "LIGHTOS_MMAP_HANDLE_SHIFT", uapi::MMAP_HANDLE_SHIFT);
    check_const!(c, "LIGHTOS_CAP_ALL", uapi::CAP_ALL);
    check_const!(c, "LIGHTOS_MAX_CONTEXTS", uapi::MAX_CONTEXTS);
    check_const!(c, "LIGHTOS_MODULE_VERSION_LEN", uapi::MODULE_VERSION_LEN);
    check_const!(c, "LIGHTOS_MAX_IOCTL_SIZE", uapi::MAX_IOCTL_SIZE);
    check_struct!(
        c,
        uapi::QueueCreate,
        "lightos_queue_create",
        [
            flags,
            priority,
            timeout_ms,
            queue_id,
            completion_offset,
            reserved
        ]
    );
    check_struct!(
        c,
        uapi::QueueDestroy,
        "lightos_queue_destroy",
        [queue_id, flags, reserved]
    );
    check_struct!(
        c,
        uapi::Tensor,
        "lightos_tensor",
        [buffer, ndim, offset, shape, strides]
    );
    check_struct!(
        c,
        uapi::Primitive,
        "lightos_primitive",
        [
            op, dtype, out_dtype, n_inputs, rounding, pad, flags, pad2, user_data, seed, params,
            operands, deps, n_deps, pad3
        ]
    );
    check_struct!(
        c,
        uapi::Submit,
        "lightos_submit",
        [
            queue_id,
            count,
            flags,
            error_index,
            prims,
            first_seq,
            last_seq,
            reserved
        ]
    );
    check_struct!(
        c,
        uapi::Wait,
        "lightos_wait",
        [
            queue_id,
            flags,
            seq,
            timeout_ns,
            status,
            pad,
            completed_seq,
            reserved
        ]
    );
    check_struct!(
        c,
        uapi::CompletionEntry,
        "lightos_completion_entry",
        [seq, status, pad]
    );
    check_struct!(
        c,
        uapi::CompletionPage,
        "lightos_completion_page",
        [
            completed_seq,
            submitted_seq,
            errors,
            ring_entries,
            pad,
            reserved,
            ring
        ]
    );
    check_struct!(
        c,
        uapi::ExecutorRegister,
        "lightos_executor_register",
        [
            name,
            ops,
            deterministic_ops,
            dtypes,
            flags,
            backend_id,
            pad,
            reserved
        ]
    );
    check_struct!(
        c,
        uapi::JobFetch,
        "lightos_job_fetch",
        [flags, pad, timeout_ns, job_id, prim, reserved]
    );
    check_struct!(
        c,
        uapi::JobComplete,
        "lightos_job_complete",
        [job_id, status, flags, produced, pad, reserved]
    );
    check_struct!(
        c,
        uapi::RouteSet,
        "lightos_route_set",
        [
            flags,
            backend_id,
            op,
            dtype,
            deterministic,
            pad,
            min_bytes,
            max_bytes,
            rules,
            pad2,
            reserved
        ]
    );
    check_struct!(
        c,
        uapi::OpStats,
        "lightos_op_stats",
        [count, flops, bytes, errors, latency_us_log2]
    );
    check_struct!(
        c,
        uapi::BackendInfo,
        "lightos_backend_info",
        [
            name,
            backend_id,
            kind,
            ops,
            deterministic_ops,
            dtypes,
            queued,
            running,
            pad,
            stats
        ]
    );
    check_struct!(
        c,
        uapi::QueryBackends,
        "lightos_query_backends",
        [count, pad, backends]
    );
    check_struct!(
        c,
        uapi::ThermalInfo,
        "lightos_thermal_info",
        [
            name,
            backend_id,
            state,
            temp_mc,
            max_temp_mc,
            laser_limit_mw,
            tec_permille,
            throttle_mc,
            shutdown_mc,
            restart_mc,
            pad,
            period_ns,
            ticks,
            missed,
            worst_late_ns,
            lateness_hist,
            throttles,
            shutdowns,
            restarts,
            time_in_state_ms,
            last_trip_to_off_ns,
            worst_trip_to_off_ns,
            laser_cap_mw,
            tec_floor_permille,
            laser_mw,
            power_mw,
            reserved
        ]
    );
    check_struct!(
        c,
        uapi::QueryThermal,
        "lightos_query_thermal",
        [count, pad, last_event_seq, devices]
    );
    check_struct!(
        c,
        uapi::Event,
        "lightos_event",
        [seq, time_ns, backend_id, kind, temp_mc, laser_limit_mw]
    );
    check_struct!(
        c,
        uapi::EventWait,
        "lightos_event_wait",
        [after_seq, timeout_ns, events, capacity, flags, count, pad, last_seq, lost, reserved]
    );
    check_const!(c, "LIGHTOS_IOC_EVENT_WAIT", uapi::IOC_EVENT_WAIT);
    check_struct!(
        c,
        uapi::SpikeRingHeader,
        "lightos_spike_ring",
        [
            head,
            tail,
            mask,
            entries,
            overflow,
            flags,
            events_offset,
            pad,
            reserved
        ]
    );
    check_struct!(
        c,
        uapi::SpikeEvent,
        "lightos_spike_event",
        [timestamp_ns, neuron, value, channel]
    );
    check_struct!(
        c,
        uapi::SpikeQueueCreate,
        "lightos_spike_queue_create",
        [
            entries,
            flags,
            queue_id,
            pad,
            mmap_offset,
            mmap_size,
            reserved
        ]
    );
    check_struct!(
        c,
        uapi::SpikeQueueId,
        "lightos_spike_queue_id",
        [queue_id, flags, reserved]
    );
    check_struct!(
        c,
        uapi::SpikeWait,
        "lightos_spike_wait",
        [queue_id, min_events, timeout_ns, available, flags, reserved]
    );
    check_const!(
        c,
        "LIGHTOS_IOC_SPIKE_QUEUE_CREATE",
        uapi::IOC_SPIKE_QUEUE_CREATE
    );
    check_const!(
        c,
        "LIGHTOS_IOC_SPIKE_QUEUE_DESTROY",
        uapi::IOC_SPIKE_QUEUE_DESTROY
    );
    check_const!(c, "LIGHTOS_IOC_SPIKE_WAIT", uapi::IOC_SPIKE_WAIT);
    check_const!(c, "LIGHTOS_IOC_SPIKE_NOTIFY", uapi::IOC_SPIKE_NOTIFY);
    check_const!(c, "LIGHTOS_CAP_SPIKES", uapi::CAP_SPIKES);
    check_const!(c, "LIGHTOS_CAP_SPIKE_SHARING", uapi::CAP_SPIKE_SHARING);
    check_const!(c, "LIGHTOS_CAP_SPIKE_ENCODE", uapi::CAP_SPIKE_ENCODE);
    check_const!(c, "LIGHTOS_CAP_POWER", uapi::CAP_POWER);
    check_struct!(
        c,
        uapi::PowerSet,
        "lightos_power_set",
        [
            backend_id,
            flags,
            laser_cap_mw,
            tec_floor_permille,
            reserved
        ]
    );
    check_const!(c, "LIGHTOS_IOC_POWER_SET", uapi::IOC_POWER_SET);
    check_const!(c, "LIGHTOS_LASER_MAX_MW", uapi::LASER_MAX_MW);
    check_const!(c, "LIGHTOS_LASER_CAP_MIN_MW", uapi::LASER_CAP_MIN_MW);
    check_const!(c, "LIGHTOS_POWER_SET_LASER_CAP", uapi::POWER_SET_LASER_CAP);
    check_const!(c, "LIGHTOS_POWER_SET_TEC_FLOOR", uapi::POWER_SET_TEC_FLOOR);
    check_struct!(
        c,
        uapi::SpikeQueueExport,
        "lightos_spike_queue_export",
        [queue_id, flags, fd, pad, reserved]
    );
    check_struct!(
        c,
        uapi::SpikeQueueImport,
        "lightos_spike_queue_import",
        [
            fd,
            flags,
            queue_id,
            entries,
            mmap_offset,
            mmap_size,
            reserved
        ]
    );
    check_const!(
        c,
        "LIGHTOS_IOC_SPIKE_QUEUE_EXPORT",
        uapi::IOC_SPIKE_QUEUE_EXPORT
    );
    check_const!(
        c,
        "LIGHTOS_IOC_SPIKE_QUEUE_IMPORT",
        uapi::IOC_SPIKE_QUEUE_IMPORT
    );
    check_const!(
        c,
        "LIGHTOS_SPIKE_QUEUE_KERNEL_PRODUCER",
        uapi::SPIKE_QUEUE_KERNEL_PRODUCER
    );
    check_const!(
        c,
        "LIGHTOS_SPIKE_RING_KERNEL_PRODUCER",
        uapi::SPIKE_RING_KERNEL_PRODUCER
    );
    check_const!(
        c,
        "LIGHTOS_SPIKE_EXPORT_CLOEXEC",
        uapi::SPIKE_EXPORT_CLOEXEC
    );
    check_const!(c, "LIGHTOS_OP_SPIKE_ENCODE", uapi::OP_SPIKE_ENCODE);
    check_const!(c, "LIGHTOS_OP_POOL2D", uapi::OP_POOL2D);
    check_const!(c, "LIGHTOS_OP_LRN", uapi::OP_LRN);
    check_const!(c, "LIGHTOS_LRN_MAX_SIZE", uapi::LRN_MAX_SIZE);
    check_const!(c, "LIGHTOS_OP_UNARY", uapi::OP_UNARY);
    check_const!(c, "LIGHTOS_OP_BINARY", uapi::OP_BINARY);
    check_const!(c, "LIGHTOS_OP_REDUCE", uapi::OP_REDUCE);
    check_const!(c, "LIGHTOS_OP_GATHER", uapi::OP_GATHER);
    check_const!(c, "LIGHTOS_UNARY_EXP", uapi::UNARY_EXP);
    check_const!(c, "LIGHTOS_UNARY_TANH", uapi::UNARY_TANH);
    check_const!(c, "LIGHTOS_UNARY_SIGMOID", uapi::UNARY_SIGMOID);
    check_const!(c, "LIGHTOS_UNARY_SQRT", uapi::UNARY_SQRT);
    check_const!(c, "LIGHTOS_UNARY_ERF", uapi::UNARY_ERF);
    check_const!(c, "LIGHTOS_UNARY_RECIPROCAL", uapi::UNARY_RECIPROCAL);
    check_const!(c, "LIGHTOS_UNARY_NEG", uapi::UNARY_NEG);
    check_const!(c, "LIGHTOS_UNARY_MAX", uapi::UNARY_MAX);
    check_const!(c, "LIGHTOS_BINARY_SUB", uapi::BINARY_SUB);
    check_const!(c, "LIGHTOS_BINARY_DIV", uapi::BINARY_DIV);
    check_const!(c, "LIGHTOS_BINARY_MAX", uapi::BINARY_MAX);
    check_const!(c, "LIGHTOS_BINARY_MIN", uapi::BINARY_MIN);
    check_const!(c, "LIGHTOS_BINARY_POW", uapi::BINARY_POW);
    check_const!(c, "LIGHTOS_BINARY_MAX_FN", uapi::BINARY_MAX_FN);
    check_const!(c, "LIGHTOS_REDUCE_SUM", uapi::REDUCE_SUM);
    check_const!(c, "LIGHTOS_REDUCE_MEAN", uapi::REDUCE_MEAN);
    check_const!(c, "LIGHTOS_REDUCE_MAX", uapi::REDUCE_MAX);
    check_const!(c, "LIGHTOS_REDUCE_MAX_KIND", uapi::REDUCE_MAX_KIND);
    check_const!(
        c,
        "LIGHTOS_MATMUL_EPILOGUE_RELU",
        uapi::MATMUL_EPILOGUE_RELU
    );
    check_const!(c, "LIGHTOS_CONV2D_EXTENDED", uapi::CONV2D_EXTENDED);
    check_const!(
        c,
        "LIGHTOS_CONV2D_EPILOGUE_RELU",
        uapi::CONV2D_EPILOGUE_RELU
    );
    check_const!(c, "LIGHTOS_CONV2D_MAX_PARAM", uapi::CONV2D_MAX_PARAM);
    check_const!(c, "LIGHTOS_POOL_MAX", uapi::POOL_MAX);
    check_const!(c, "LIGHTOS_POOL_AVG", uapi::POOL_AVG);
    check_const!(
        c,
        "LIGHTOS_POOL_AVG_INCLUDE_PAD",
        uapi::POOL_AVG_INCLUDE_PAD
    );
    check_const!(c, "LIGHTOS_POOL_CEIL", uapi::POOL_CEIL);
    check_const!(c, "LIGHTOS_POOL_MAX_PARAM", uapi::POOL_MAX_PARAM);
    check_const!(c, "LIGHTOS_OP_COUNT_1_2", uapi::OP_COUNT_1_2);
    check_const!(c, "LIGHTOS_DTYPE_SPIKE_EVENT", uapi::DTYPE_SPIKE_EVENT);
    check_const!(c, "LIGHTOS_SPIKE_ENCODE_RATE", uapi::SPIKE_ENCODE_RATE);
    check_const!(
        c,
        "LIGHTOS_SPIKE_ENCODE_LATENCY",
        uapi::SPIKE_ENCODE_LATENCY
    );
    check_const!(c, "LIGHTOS_SPIKE_ENCODE_DELTA", uapi::SPIKE_ENCODE_DELTA);
    check_const!(
        c,
        "LIGHTOS_SPIKE_ENCODE_F_LINEAR",
        uapi::SPIKE_ENCODE_F_LINEAR
    );
    check_const!(
        c,
        "LIGHTOS_SPIKE_ENCODE_F_NORMALIZE",
        uapi::SPIKE_ENCODE_F_NORMALIZE
    );
    check_const!(c, "LIGHTOS_SPIKE_ENCODE_F_CLIP", uapi::SPIKE_ENCODE_F_CLIP);
    check_const!(
        c,
        "LIGHTOS_SPIKE_ENCODE_F_OFF_SPIKE",
        uapi::SPIKE_ENCODE_F_OFF_SPIKE
    );
    check_const!(
        c,
        "LIGHTOS_SPIKE_ENCODE_F_PADDING",
        uapi::SPIKE_ENCODE_F_PADDING
    );
    check_const!(
        c,
        "LIGHTOS_SPIKE_ENCODE_MAX_STEPS",
        uapi::SPIKE_ENCODE_MAX_STEPS
    );
    check_const!(c, "LIGHTOS_QUERY_SPIKE_QUEUES", uapi::QUERY_SPIKE_QUEUES);
    check_const!(c, "LIGHTOS_QUERY_LAST_ERROR", uapi::QUERY_LAST_ERROR);
    check_const!(c, "LIGHTOS_CAP_REASONS", uapi::CAP_REASONS);
    check_const!(c, "LIGHTOS_REASON_LEN", uapi::REASON_LEN);
    check_const!(c, "LIGHTOS_QUERY_QUOTA", uapi::QUERY_QUOTA);
    check_const!(c, "LIGHTOS_CAP_QUOTAS", uapi::CAP_QUOTAS);
    check_const!(c, "LIGHTOS_CAP_RINGS", uapi::CAP_RINGS);
    check_const!(c, "LIGHTOS_CAP_DEPENDENCIES", uapi::CAP_DEPENDENCIES);
    check_const!(
        c,
        "LIGHTOS_STATUS_DEPENDENCY_FAILED",
        uapi::STATUS_DEPENDENCY_FAILED
    );
    check_const!(c, "LIGHTOS_BACKEND_KIND_NULL", uapi::BACKEND_KIND_NULL);
    check_const!(c, "LIGHTOS_MAX_DEPS", uapi::MAX_DEPS);
    check_const!(c, "LIGHTOS_DEP_RELATIVE", uapi::DEP_RELATIVE);
    check_const!(c, "LIGHTOS_DEP_FLAGS_ALL", uapi::DEP_FLAGS_ALL);
    check_const!(c, "LIGHTOS_RING_MAX_SQ_ENTRIES", uapi::RING_MAX_SQ_ENTRIES);
    check_const!(c, "LIGHTOS_RING_MAX_CQ_ENTRIES", uapi::RING_MAX_CQ_ENTRIES);
    check_const!(c, "LIGHTOS_MMAP_RINGS", uapi::MMAP_RINGS);
    check_const!(c, "LIGHTOS_RING_SQES_OFFSET", uapi::RING_SQES_OFFSET);
    check_const!(c, "LIGHTOS_ENTER_GETEVENTS", uapi::ENTER_GETEVENTS);
    check_const!(c, "LIGHTOS_ENTER_FLAGS_ALL", uapi::ENTER_FLAGS_ALL);
    check_const!(c, "LIGHTOS_IOC_RING_SETUP", uapi::IOC_RING_SETUP);
    check_const!(c, "LIGHTOS_IOC_ENTER", uapi::IOC_ENTER);
    check_struct!(
        c,
        uapi::Dependency,
        "lightos_dependency",
        [queue_id, flags, seq]
    );
    check_struct!(
        c,
        uapi::RingSetup,
        "lightos_ring_setup",
        [
            queue_id,
            flags,
            sq_entries,
            cq_entries,
            mmap_offset,
            mmap_size,
            sqes_offset,
            cqes_offset,
            reserved
        ]
    );
    check_struct!(
        c,
        uapi::RingHeader,
        "lightos_ring_header",
        [
            sq_head,
            sq_tail,
            sq_mask,
            sq_entries,
            cq_head,
            cq_tail,
            cq_mask,
            cq_entries,
            cq_overflow,
            sq_rejected,
            reserved
        ]
    );
    check_struct!(
        c,
        uapi::Cqe,
        "lightos_cqe",
        [user_data, seq, status, flags, device_ns]
    );
    check_struct!(
        c,
        uapi::Enter,
        "lightos_enter",
        [
            queue_id,
            flags,
            to_submit,
            min_complete,
            timeout_ns,
            submitted,
            error_index,
            first_seq,
            completions,
            pad,
            reserved
        ]
    );
    check_struct!(
        c,
        uapi::QueryQuota,
        "lightos_query_quota",
        [
            uid,
            exempt,
            buffer_bytes_quota,
            buffer_bytes,
            buffers_quota,
            buffers,
            queues_quota,
            queues,
            jobs_quota,
            jobs,
            spike_queues_quota,
            spike_queues,
            reserved
        ]
    );
    check_struct!(
        c,
        uapi::QueryLastError,
        "lightos_query_last_error",
        [rejections, error, ioctl_nr, reason, reserved]
    );
    check_struct!(
        c,
        uapi::SpikeQueueInfo,
        "lightos_spike_queue_info",
        [queue_id, entries, available, overflow, tail, head, waits, wakeups, notifies]
    );
    check_struct!(
        c,
        uapi::QuerySpikeQueues,
        "lightos_query_spike_queues",
        [count, pad, queues]
    );
    check_const!(
        c,
        "LIGHTOS_SPIKE_RING_MIN_ENTRIES",
        uapi::SPIKE_RING_MIN_ENTRIES
    );
    check_const!(
        c,
        "LIGHTOS_SPIKE_RING_MAX_ENTRIES",
        uapi::SPIKE_RING_MAX_ENTRIES
    );
    check_const!(
        c,
        "LIGHTOS_MAX_SPIKE_QUEUES_PER_CONTEXT",
        uapi::MAX_SPIKE_QUEUES_PER_CONTEXT
    );
    check_const!(c, "LIGHTOS_MMAP_SPIKE_RING", uapi::MMAP_SPIKE_RING);
    check_const!(
        c,
        "LIGHTOS_SPIKE_RING_EVENTS_OFFSET",
        uapi::SPIKE_RING_EVENTS_OFFSET
    );
    check_const!(
        c,
        "LIGHTOS_SPIKE_RING_NEED_WAKEUP",
        uapi::SPIKE_RING_NEED_WAKEUP
    );
    check_const!(c, "LIGHTOS_QUERY_THERMAL", uapi::QUERY_THERMAL);
    check_const!(c, "LIGHTOS_CAP_THERMAL", uapi::CAP_THERMAL);
    check_const!(c, "LIGHTOS_THERMAL_NORMAL", uapi::THERMAL_NORMAL);
    check_const!(c, "LIGHTOS_THERMAL_THROTTLE", uapi::THERMAL_THROTTLE);
    check_const!(c, "LIGHTOS_THERMAL_SHUTDOWN", uapi::THERMAL_SHUTDOWN);
    check_const!(c, "LIGHTOS_THERMAL_LOST", uapi::THERMAL_LOST);
    check_const!(c, "LIGHTOS_THERMAL_STATES", uapi::THERMAL_STATES);
    check_const!(c, "LIGHTOS_LATENESS_BUCKETS", uapi::LATENESS_BUCKETS);
    check_const!(c, "LIGHTOS_MAX_THERMAL_DEVICES", uapi::MAX_THERMAL_DEVICES);
    check_const!(c, "LIGHTOS_EVENT_THROTTLE", uapi::EVENT_THROTTLE);
    check_const!(c, "LIGHTOS_EVENT_THROTTLE_END", uapi::EVENT_THROTTLE_END);
    check_const!(c, "LIGHTOS_EVENT_SHUTDOWN", uapi::EVENT_SHUTDOWN);
    check_const!(c, "LIGHTOS_EVENT_RESTART", uapi::EVENT_RESTART);
    check_const!(c, "LIGHTOS_EVENT_DEVICE_LOST", uapi::EVENT_DEVICE_LOST);
    check_const!(c, "LIGHTOS_EVENT_FAULT_LATCHED", uapi::EVENT_FAULT_LATCHED);
    check_const!(c, "LIGHTOS_EVENT_LOG_ENTRIES", uapi::EVENT_LOG_ENTRIES);
    check_const!(c, "LIGHTOS_IOC_QUEUE_CREATE", uapi::IOC_QUEUE_CREATE);
    check_const!(c, "LIGHTOS_IOC_QUEUE_DESTROY", uapi::IOC_QUEUE_DESTROY);
    check_const!(c, "LIGHTOS_IOC_SUBMIT", uapi::IOC_SUBMIT);
    check_const!(c, "LIGHTOS_IOC_WAIT", uapi::IOC_WAIT);
    check_const!(
        c,
        "LIGHTOS_IOC_EXECUTOR_REGISTER",
        uapi::IOC_EXECUTOR_REGISTER
    );
    check_const!(c, "LIGHTOS_IOC_JOB_FETCH", uapi::IOC_JOB_FETCH);
    check_const!(c, "LIGHTOS_IOC_JOB_COMPLETE", uapi::IOC_JOB_COMPLETE);
    check_const!(c, "LIGHTOS_IOC_ROUTE_SET", uapi::IOC_ROUTE_SET);
    check_const!(c, "LIGHTOS_QUERY_OPS", uapi::QUERY_OPS);
    check_const!(c, "LIGHTOS_QUERY_BACKENDS", uapi::QUERY_BACKENDS);
    check_const!(c, "LIGHTOS_CAP_SUBMIT", uapi::CAP_SUBMIT);
    check_const!(c, "LIGHTOS_CAP_EXECUTORS", uapi::CAP_EXECUTORS);
    check_const!(c, "LIGHTOS_CAP_ROUTING", uapi::CAP_ROUTING);
    check_const!(c, "LIGHTOS_OP_MATMUL", uapi::OP_MATMUL);
    check_const!(c, "LIGHTOS_OP_CONV2D", uapi::OP_CONV2D);
    check_const!(c, "LIGHTOS_OP_SOFTMAX", uapi::OP_SOFTMAX);
    check_const!(c, "LIGHTOS_OP_LAYERNORM", uapi::OP_LAYERNORM);
    check_const!(c, "LIGHTOS_OP_ATTENTION", uapi::OP_ATTENTION);
    check_const!(c, "LIGHTOS_OP_GELU", uapi::OP_GELU);
    check_const!(c, "LIGHTOS_OP_RELU", uapi::OP_RELU);
    check_const!(c, "LIGHTOS_OP_ADD", uapi::OP_ADD);
    check_const!(c, "LIGHTOS_OP_MUL", uapi::OP_MUL);
    check_const!(c, "LIGHTOS_OP_QUANTIZE", uapi::OP_QUANTIZE);
    check_const!(c, "LIGHTOS_OP_DEQUANTIZE", uapi::OP_DEQUANTIZE);
    check_const!(c, "LIGHTOS_OP_COPY", uapi::OP_COPY);
    check_const!(c, "LIGHTOS_OP_COUNT", uapi::OP_COUNT);
    check_const!(c, "LIGHTOS_DTYPE_F32", uapi::DTYPE_F32);
    check_const!(c, "LIGHTOS_DTYPE_F16", uapi::DTYPE_F16);
    check_const!(c, "LIGHTOS_DTYPE_BF16", uapi::DTYPE_BF16);
    check_const!(c, "LIGHTOS_DTYPE_I8", uapi::DTYPE_I8);
    check_const!(c, "LIGHTOS_DTYPE_FP8_E4M3", uapi::DTYPE_FP8_E4M3);
    check_const!(c, "LIGHTOS_DTYPE_MAX", uapi::DTYPE_MAX);
    check_const!(c, "LIGHTOS_ROUND_NEAREST_EVEN", uapi::ROUND_NEAREST_EVEN);
    check_const!(c, "LIGHTOS_ROUND_TOWARD_ZERO", uapi::ROUND_TOWARD_ZERO);
    check_const!(c, "LIGHTOS_ROUND_STOCHASTIC", uapi::ROUND_STOCHASTIC);
    check_const!(c, "LIGHTOS_ROUND_MAX", uapi::ROUND_MAX);
    check_const!(c, "LIGHTOS_PRIM_DETERMINISTIC", uapi::PRIM_DETERMINISTIC);
    check_const!(c, "LIGHTOS_PRIM_CAUSAL", uapi::PRIM_CAUSAL);
    check_const!(c, "LIGHTOS_PRIM_FLAGS_ALL", uapi::PRIM_FLAGS_ALL);
    check_const!(c, "LIGHTOS_MAX_DIMS", uapi::MAX_DIMS);
    check_const!(c, "LIGHTOS_MAX_OPERANDS", uapi::MAX_OPERANDS);
    check_const!(c, "LIGHTOS_MAX_SUBMIT", uapi::MAX_SUBMIT);
    check_const!(c, "LIGHTOS_MAX_QUEUE_INFLIGHT", uapi::MAX_QUEUE_INFLIGHT);
    check_const!(
        c,
        "LIGHTOS_MAX_QUEUES_PER_CONTEXT",
        uapi::MAX_QUEUES_PER_CONTEXT
    );
    check_const!(c, "LIGHTOS_MAX_DIM_SIZE", uapi::MAX_DIM_SIZE);
    check_const!(c, "LIGHTOS_MAX_ROUTES", uapi::MAX_ROUTES);
    check_const!(c, "LIGHTOS_MAX_EXECUTORS", uapi::MAX_EXECUTORS);
    check_const!(c, "LIGHTOS_BACKEND_NAME_LEN", uapi::BACKEND_NAME_LEN);
    check_const!(c, "LIGHTOS_QUEUE_PRIORITY_MAX", uapi::QUEUE_PRIORITY_MAX);
    check_const!(
        c,
        "LIGHTOS_DEFAULT_JOB_TIMEOUT_MS",
        uapi::DEFAULT_JOB_TIMEOUT_MS
    );
    check_const!(c, "LIGHTOS_MAX_JOB_TIMEOUT_MS", uapi::MAX_JOB_TIMEOUT_MS);
    check_const!(
        c,
        "LIGHTOS_COMPLETION_RING_ENTRIES",
        uapi::COMPLETION_RING_ENTRIES
    );
    check_const!(
        c,
        "LIGHTOS_MMAP_COMPLETION_PAGE",
        uapi::MMAP_COMPLETION_PAGE
    );
    check_const!(c, "LIGHTOS_STATUS_OK", uapi::STATUS_OK);
    check_const!(c, "LIGHTOS_STATUS_INVALID", uapi::STATUS_INVALID);
    check_const!(c, "LIGHTOS_STATUS_TIMEOUT", uapi::STATUS_TIMEOUT);
    check_const!(c, "LIGHTOS_STATUS_ABORTED", uapi::STATUS_ABORTED);
    check_const!(
        c,
        "LIGHTOS_STATUS_THERMAL_ABORT",
        uapi::STATUS_THERMAL_ABORT
    );
    check_const!(c, "LIGHTOS_STATUS_DEVICE_LOST", uapi::STATUS_DEVICE_LOST);
    check_const!(c, "LIGHTOS_STATUS_DEVICE_ERROR", uapi::STATUS_DEVICE_ERROR);
    check_const!(c, "LIGHTOS_STATUS_MAX", uapi::STATUS_MAX);
    check_const!(c, "LIGHTOS_STATUS_PENDING", uapi::STATUS_PENDING);
    check_const!(c, "LIGHTOS_STATUS_UNKNOWN", uapi::STATUS_UNKNOWN);
    check_const!(c, "LIGHTOS_TIMEOUT_INFINITE", uapi::TIMEOUT_INFINITE);
    check_const!(c, "LIGHTOS_BACKEND_ANY", uapi::BACKEND_ANY);
    check_const!(c, "LIGHTOS_FETCH_NONBLOCK", uapi::FETCH_NONBLOCK);
    check_const!(c, "LIGHTOS_ROUTE_CLEAR", uapi::ROUTE_CLEAR);
    check_const!(c, "LIGHTOS_ROUTE_SET_MODE", uapi::ROUTE_SET_MODE);
    check_const!(c, "LIGHTOS_ROUTE_FLAGS_ALL", uapi::ROUTE_FLAGS_ALL);
    check_const!(c, "LIGHTOS_LATENCY_BUCKETS", uapi::LATENCY_BUCKETS);
    check_const!(
        c,
        "LIGHTOS_BACKEND_KIND_EXECUTOR",
        uapi::BACKEND_KIND_EXECUTOR
    );
    check_const!(c, "LIGHTOS_BACKEND_KIND_DEVICE", uapi::BACKEND_KIND_DEVICE);
    check_struct!(
        c,
        uapi::BufferExport,
        "lightos_buffer_export",
        [handle, flags, fd, pad, reserved]
    );
    check_struct!(
        c,
        uapi::BufferImport,
        "lightos_buffer_import",
        [fd, flags, handle, pad, size, mmap_offset, reserved]
    );
    check_const!(c, "LIGHTOS_IOC_BUFFER_EXPORT", uapi::IOC_BUFFER_EXPORT);
    check_const!(c, "LIGHTOS_IOC_BUFFER_IMPORT", uapi::IOC_BUFFER_IMPORT);
    check_const!(c, "LIGHTOS_CAP_EXPORT", uapi::CAP_EXPORT);
    check_const!(c, "LIGHTOS_EXPORT_CLOEXEC", uapi::EXPORT_CLOEXEC);
    c.push_str("int main(void) { return 0; }\n");
    c
}

/// Where `lightos.h` lives.
fn include_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../include/uapi")
}

/// Writes `source` to `file` in the test's scratch directory and runs `compiler` with `args`, the
/// header's include path, and that file (then any `after` arguments).
fn compile(
    compiler: &str,
    args: &[&str],
    file: &str,
    source: &str,
    after: &[&std::ffi::OsStr],
) -> Output {
    let src = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(file);
    std::fs::write(&src, source).unwrap();
    Command::new(compiler)
        .args(args)
        .arg("-I")
        .arg(include_dir())
        .arg(&src)
        .args(after)
        .output()
        .unwrap_or_else(|e| panic!("a compiler ({compiler}) is needed for this test: {e}"))
}

#[test]
fn c_header_matches_rust_abi() {
    let exe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("abi_check");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = compile(
        &cc,
        &["-std=c11", "-Wall", "-Werror"],
        "abi_check.c",
        &generated_checks(),
        &["-o".as_ref(), exe.as_os_str()],
    );
    assert!(
        out.status.success(),
        "lightos.h disagrees with the Rust ABI:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(Command::new(&exe).status().unwrap().success());
}

#[test]
fn a_wrong_value_is_caught() {
    // The check itself must be able to fail: a deliberately wrong assertion does not compile.
    let out = compile(
        "cc",
        &["-std=c11", "-fsyntax-only"],
        "abi_check_wrong.c",
        &format!(
            "#include \"lightos.h\"\n_Static_assert(sizeof(struct lightos_info) == {}, \"x\");\n",
            std::mem::size_of::<uapi::Info>() + 8
        ),
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("static assertion failed"));
}

#[test]
fn c_header_compiles_as_cpp_with_c_linkage() {
    // C++ clients include the header too: it must compile as C++ (inside its `extern "C"` guard),
    // and give the same struct sizes as the Rust ABI there.
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    let out = compile(
        &cxx,
        &["-std=c++17", "-Wall", "-Werror", "-fsyntax-only"],
        "abi_check.cpp",
        &format!(
            "#include \"lightos.h\"\n\
             static_assert(sizeof(struct lightos_info) == {}, \"lightos_info\");\n\
             static_assert(sizeof(struct lightos_power_set) == {}, \"lightos_power_set\");\n\
             extern \"C\" int lightos_cpp_probe(void);\n",
            std::mem::size_of::<uapi::Info>(),
            std::mem::size_of::<uapi::PowerSet>()
        ),
        &[],
    );
    assert!(
        out.status.success(),
        "lightos.h does not compile as C++:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let header = std::fs::read_to_string(include_dir().join("lightos.h")).unwrap();
    assert!(
        header.contains("#ifdef __cplusplus\nextern \"C\" {"),
        "no extern \"C\" guard"
    );
}
