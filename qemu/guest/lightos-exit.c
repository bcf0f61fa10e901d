// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * lightos-exit STATUS: ends the QEMU guest with STATUS (0-127) through the isa-debug-exit device at
 * port 0xf4. QEMU then exits with (STATUS << 1) | 1, which qemu/run decodes back into STATUS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/io.h>

int main(int argc, char **argv)
{
	long status = argc > 1 ? strtol(argv[1], NULL, 10) : 0;

	if (status < 0 || status > 127)
		status = 127;
	if (ioperm(0xf4, 4, 1) != 0) {
		perror("lightos-exit: ioperm(0xf4)");
		return 1;
	}
	outl((unsigned int)status, 0xf4);
	perror("lightos-exit: the guest is still running (no isa-debug-exit device?)");
	return 1;
}
