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
#define LIGHTOS_ABI_MINOR 0

#define LIGHTOS_IOC_MAGIC 'L'

/* Capability bits of struct lightos_info.capabilities. */
#define LIGHTOS_CAP_FDINFO (1ULL << 0) /* per-context state in /proc/<pid>/fdinfo/<fd> */
#define LIGHTOS_CAP_ALL    (LIGHTOS_CAP_FDINFO)

/* Limits. */
#define LIGHTOS_MAX_CONTEXTS       4096 /* open file descriptions of /dev/lightos at once */
#define LIGHTOS_MODULE_VERSION_LEN 32
#define LIGHTOS_MAX_IOCTL_SIZE     4096 /* largest _IOC_SIZE any ioctl accepts */

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
	__u64 reserved[8];
};

#define LIGHTOS_IOC_GET_INFO _IOWR(LIGHTOS_IOC_MAGIC, 0x00, struct lightos_info)

#endif /* _UAPI_LIGHTOS_H */
