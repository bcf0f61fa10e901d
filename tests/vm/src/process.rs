//! Other processes in a test: forking a child that runs a closure, and passing a descriptor to a
//! process that did not inherit it (`SCM_RIGHTS` over a socket pair).

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use std::{
    io::{IoSlice, IoSliceMut},
    os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
};

/// Forks a child that runs `f` and exits 0 if it returned `true`, 1 otherwise; returns its pid.
/// Call it from a test binary run with one test thread (the suite does).
pub fn fork_child(f: impl FnOnce() -> bool) -> libc::pid_t {
    // SAFETY: the tests run on one thread; the child only runs `f` and exits without returning
    // into the harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = i32::from(!f());
        // SAFETY: ends the child without running the parent's destructors or test harness.
        unsafe { libc::_exit(code) };
    }
    pid
}

/// Waits for child `pid`; returns its raw wait status.
pub fn wait_child(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    // SAFETY: waits for a child of this process; `status` is writable.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    status
}

/// Whether a wait status says the child exited with code 0.
pub fn exited_ok(status: i32) -> bool {
    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

/// A connected pair of Unix stream sockets (close-on-exec).
pub fn socket_pair() -> (OwnedFd, OwnedFd) {
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .expect("socketpair")
}

/// Sends descriptor `fd` (with one byte of data) over `sock`.
pub fn send_fd(sock: &OwnedFd, fd: BorrowedFd<'_>) {
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(b"f")],
        &cmsg,
        MsgFlags::empty(),
        None,
    )
    .expect("sendmsg");
}

/// Receives a descriptor [`send_fd`] sent over `sock`.
pub fn recv_fd(sock: &OwnedFd) -> OwnedFd {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .expect("recvmsg");
    for c in msg.cmsgs().expect("control messages") {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel installed this descriptor for us with the message.
                return unsafe { OwnedFd::from_raw_fd(fd) };
            }
        }
    }
    panic!("no descriptor in the message");
}
