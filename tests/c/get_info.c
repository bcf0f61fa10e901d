// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * A C client of /dev/lightos, built with gcc against include/uapi/lightos.h only: calls GET_INFO,
 * prints the reply, checks rejections and reads a rejection's reason back, and round-trips data
 * through a mapped buffer object.
 * Ends with "c_client: N passed, N failed".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lightos.h"

static int passed, failed;

static void check(int ok, const char *what)
{
	printf("c_client: %s ... %s\n", what, ok ? "ok" : "FAILED");
	if (ok)
		passed++;
	else
		failed++;
}

int main(void)
{
	struct lightos_info info;
	int fd = open("/dev/lightos", O_RDWR | O_CLOEXEC);

	check(fd >= 0, "open /dev/lightos");
	if (fd < 0) {
		perror("open /dev/lightos");
		printf("c_client: %d passed, %d failed\n", passed, failed);
		return 1;
	}

	memset(&info, 0, sizeof(info));
	check(ioctl(fd, LIGHTOS_IOC_GET_INFO, &info) == 0, "LIGHTOS_IOC_GET_INFO");
	printf("c_client: module %s, ABI %u.%u, capabilities %#llx, context %llu, %u/%u contexts open\n",
	       info.module_version, info.abi_major, info.abi_minor, (unsigned long long)info.capabilities,
	       (unsigned long long)info.context_id, info.open_contexts, info.max_contexts);
	check(info.abi_major == LIGHTOS_ABI_MAJOR, "ABI major matches the header");
	check((info.capabilities & ~LIGHTOS_CAP_ALL) == 0, "no capability bits unknown to the header");
	check(info.max_contexts == LIGHTOS_MAX_CONTEXTS, "max_contexts matches the header");

	memset(&info, 0, sizeof(info));
	info.reserved[3] = 1;
	check(ioctl(fd, LIGHTOS_IOC_GET_INFO, &info) == -1 && errno == EINVAL, "reserved field set -> EINVAL");

	struct lightos_query_last_error last;
	struct lightos_query query;
	memset(&last, 0, sizeof(last));
	memset(&query, 0, sizeof(query));
	query.query_type = LIGHTOS_QUERY_LAST_ERROR;
	query.size = sizeof(last);
	query.ptr = (__u64)(unsigned long)&last;
	check(ioctl(fd, LIGHTOS_IOC_QUERY, &query) == 0, "LIGHTOS_QUERY_LAST_ERROR");
	printf("c_client: last rejection: ioctl %u, errno %u, reason \"%s\"\n", last.ioctl_nr, last.error,
	       last.reason);
	check(last.rejections == 1 && last.error == EINVAL && last.ioctl_nr == 0, "it is GET_INFO's EINVAL");
	check(strcmp(last.reason, "reserved[3]: not zero") == 0, "its reason names the reserved word");
	check(ioctl(fd, _IO(LIGHTOS_IOC_MAGIC, 0x7f)) == -1 && errno == ENOTTY, "unknown ioctl -> ENOTTY");

	struct lightos_buffer_create create;
	memset(&create, 0, sizeof(create));
	create.size = 8192;
	check(ioctl(fd, LIGHTOS_IOC_BUFFER_CREATE, &create) == 0 && create.handle != 0, "LIGHTOS_IOC_BUFFER_CREATE");
	check(create.mmap_offset == (__u64)create.handle << LIGHTOS_MMAP_HANDLE_SHIFT, "mmap offset is the handle cookie");
	unsigned char *a = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)create.mmap_offset);
	unsigned char *b = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, (off_t)create.mmap_offset);
	check(a != MAP_FAILED && b != MAP_FAILED, "mmap the buffer twice");
	if (a != MAP_FAILED && b != MAP_FAILED) {
		check(a[0] == 0 && a[8191] == 0, "a new buffer is zeroed");
		memcpy(a + 100, "photon", 7);
		check(strcmp((char *)b + 100, "photon") == 0, "both mappings share the pages");
		munmap(a, 8192);
		munmap(b, 8192);
	}
	struct lightos_buffer_destroy destroy;
	memset(&destroy, 0, sizeof(destroy));
	destroy.handle = create.handle;
	check(ioctl(fd, LIGHTOS_IOC_BUFFER_DESTROY, &destroy) == 0, "LIGHTOS_IOC_BUFFER_DESTROY");
	check(ioctl(fd, LIGHTOS_IOC_BUFFER_DESTROY, &destroy) == -1 && errno == ENOENT, "destroying twice -> ENOENT");

	close(fd);
	printf("c_client: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
