"""Fault injection into an emulated photonic NPU from inside the guest: qemu/run wires NPU i's
emulator control socket to the guest's /dev/ttyS<i+1> ('help' lists the commands)."""
import os
import termios
import tty


def inject(npu, command):
    """Sends `command` to NPU `npu`'s emulator; returns its reply line ("ok …" or "error: …")."""
    fd = os.open(f"/dev/ttyS{npu + 1}", os.O_RDWR | os.O_NOCTTY)
    try:
        tty.setraw(fd)
        attrs = termios.tcgetattr(fd)
        attrs[3] &= ~termios.ECHO
        attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 0, 100
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        os.write(fd, (command + "\n").encode())
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = os.read(fd, 256)
            if not chunk:
                break
            reply += chunk
        return reply.decode().strip()
    finally:
        os.close(fd)


if __name__ == "__main__":
    # python3 npu_faults.py NPU COMMAND...: sends each command, prints each reply.
    import sys
    for command in sys.argv[2:]:
        print(f"[npu {sys.argv[1]}] {command}: {inject(int(sys.argv[1]), command)}", flush=True)
