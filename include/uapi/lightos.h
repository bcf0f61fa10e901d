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

#define LIGHTOS_ABI_MAJOR 1
#define LIGHTOS_ABI_MINOR 1

#define LIGHTOS_IOC_MAGIC 'L'

/* Capability bits of struct lightos_info.capabilities. */
#define LIGHTOS_CAP_FDINFO  (1ULL << 0) /* per-context state in /proc/<pid>/fdinfo/<fd> */
#define LIGHTOS_CAP_BUFFERS (1ULL << 1) /* buffer objects and mmap (1.1) */
#define LIGHTOS_CAP_DEBUGFS (1ULL << 2) /* counters in /sys/kernel/debug/lightos/stats (1.1) */
#define LIGHTOS_CAP_QUERY   (1ULL << 3) /* LIGHTOS_IOC_QUERY (1.1) */
#define LIGHTOS_CAP_ALL     (LIGHTOS_CAP_FDINFO | LIGHTOS_CAP_BUFFERS | LIGHTOS_CAP_DEBUGFS | LIGHTOS_CAP_QUERY)

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
	__u64 reserved[3];
};

/** struct lightos_query_context - result of LIGHTOS_QUERY_CONTEXT: the calling context */
struct lightos_query_context {
	__u64 context_id;
	__u64 ioctls;
	__u32 buffers;
	__u32 pad;
	__u64 reserved[4];
};

#define LIGHTOS_IOC_GET_INFO       _IOWR(LIGHTOS_IOC_MAGIC, 0x00, struct lightos_info)
#define LIGHTOS_IOC_BUFFER_CREATE  _IOWR(LIGHTOS_IOC_MAGIC, 0x01, struct lightos_buffer_create)
#define LIGHTOS_IOC_BUFFER_INFO    _IOWR(LIGHTOS_IOC_MAGIC, 0x02, struct lightos_buffer_info)
#define LIGHTOS_IOC_BUFFER_DESTROY _IOWR(LIGHTOS_IOC_MAGIC, 0x03, struct lightos_buffer_destroy)
#define LIGHTOS_IOC_QUERY          _IOWR(LIGHTOS_IOC_MAGIC, 0x04, struct lightos_query)

#endif /* _UAPI_LIGHTOS_H */
