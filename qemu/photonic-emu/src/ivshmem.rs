//! The ivshmem-doorbell server protocol (QEMU's docs/specs/ivshmem-spec.rst), from the device
//! model's side.
//!
//! The model listens on a Unix socket and QEMU (`-device ivshmem-doorbell,chardev=…`) connects as
//! a client. The model owns the shared memory (BAR2) and is itself a virtual peer (id
//! [`MODEL_PEER_ID`]) whose eventfds the guest rings through the doorbell register; it also creates
//! the guest's eventfds, which it writes to raise the guest's MSI-X vectors. Messages are one
//! little-endian i64 each, some with one file descriptor: protocol version (0), the client's id,
//! `-1` with the shared-memory fd, then `(peer id, eventfd)` per vector for every other peer (here:
//! the model), then `(own id, eventfd)` per vector.

use nix::sys::{
    eventfd::{EfdFlags, EventFd},
    memfd::{memfd_create, MemFdCreateFlag},
    socket::{sendmsg, ControlMessage, MsgFlags},
};
use std::{
    io::{self, IoSlice},
    os::{
        fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd},
        unix::net::{UnixListener, UnixStream},
    },
    path::Path,
};

/// The protocol version this server speaks.
pub const PROTOCOL_VERSION: i64 = 0;
/// The device model's own peer id.
pub const MODEL_PEER_ID: i64 = 0;
/// The id given to the (single) guest.
pub const GUEST_PEER_ID: i64 = 1;

/// The connected guest: its socket and the eventfds that raise its vectors.
struct Guest {
    sock: UnixStream,
    vectors: Vec<EventFd>,
}

/// The server side of one device: shared memory, the model's doorbell eventfds, the guest.
pub struct IvshmemServer {
    listener: UnixListener,
    shm: OwnedFd,
    shm_size: usize,
    doorbells: Vec<EventFd>,
    guest: Option<Guest>,
}

fn errno(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Sends one protocol message: `value` and, optionally, a descriptor.
fn send(sock: &UnixStream, value: i64, fd: Option<&dyn AsRawFd>) -> io::Result<()> {
    let bytes = value.to_le_bytes();
    let iov = [IoSlice::new(&bytes)];
    let fds = fd.map(|f| [f.as_raw_fd()]);
    let cmsgs: Vec<ControlMessage<'_>> = fds
        .as_ref()
        .map(|f| ControlMessage::ScmRights(f))
        .into_iter()
        .collect();
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsgs, MsgFlags::empty(), None).map_err(errno)?;
    Ok(())
}

impl IvshmemServer {
    /// Creates `shm_size` bytes of shared memory and listens on `path` (replacing a stale socket).
    pub fn bind(path: &Path, shm_size: usize, vectors: usize) -> io::Result<IvshmemServer> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        let shm =
            memfd_create(c"lightos-photonic-bar2", MemFdCreateFlag::MFD_CLOEXEC).map_err(errno)?;
        nix::unistd::ftruncate(&shm, shm_size as i64).map_err(errno)?;
        let doorbells = (0..vectors)
            .map(|_| {
                EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK).map_err(errno)
            })
            .collect::<io::Result<_>>()?;
        Ok(IvshmemServer {
            listener,
            shm,
            shm_size,
            doorbells,
            guest: None,
        })
    }

    /// The shared memory (BAR2) descriptor, for the model to map.
    pub fn shm(&self) -> &OwnedFd {
        &self.shm
    }

    /// Its size in bytes.
    pub fn shm_size(&self) -> usize {
        self.shm_size
    }

    /// Waits for QEMU to connect and performs the handshake. A guest already connected is replaced.
    pub fn accept_guest(&mut self) -> io::Result<()> {
        let (sock, _) = self.listener.accept()?;
        let vectors = (0..self.doorbells.len())
            .map(|_| EventFd::from_flags(EfdFlags::EFD_CLOEXEC).map_err(errno))
            .collect::<io::Result<Vec<_>>>()?;
        send(&sock, PROTOCOL_VERSION, None)?;
        send(&sock, GUEST_PEER_ID, None)?;
        send(&sock, -1, Some(&self.shm.as_fd()))?;
        for bell in &self.doorbells {
            send(&sock, MODEL_PEER_ID, Some(&bell.as_fd()))?;
        }
        for v in &vectors {
            send(&sock, GUEST_PEER_ID, Some(&v.as_fd()))?;
        }
        self.guest = Some(Guest { sock, vectors });
        Ok(())
    }

    /// Raises the guest's MSI-X `vector`. `NotConnected` without a guest, `InvalidInput` for an
    /// unknown vector.
    pub fn interrupt_guest(&self, vector: usize) -> io::Result<()> {
        let guest = self.guest.as_ref().ok_or(io::ErrorKind::NotConnected)?;
        let fd = guest
            .vectors
            .get(vector)
            .ok_or(io::ErrorKind::InvalidInput)?;
        fd.write(1).map_err(errno)?;
        Ok(())
    }

    /// The eventfd behind doorbell `vector`, to poll.
    pub fn doorbell_fd(&self, vector: usize) -> Option<BorrowedFd<'_>> {
        self.doorbells.get(vector).map(|e| e.as_fd())
    }

    /// The connection to QEMU (readable or hung up once QEMU goes away), to poll.
    pub fn guest_fd(&self) -> Option<BorrowedFd<'_>> {
        self.guest.as_ref().map(|g| g.sock.as_fd())
    }

    /// How many times the guest rang doorbell `vector` since the last call (0 when it did not:
    /// the doorbells never block).
    pub fn take_doorbell(&self, vector: usize) -> io::Result<u64> {
        let fd = self
            .doorbells
            .get(vector)
            .ok_or(io::ErrorKind::InvalidInput)?;
        match fd.read() {
            Ok(n) => Ok(n),
            Err(nix::Error::EAGAIN) => Ok(0),
            Err(e) => Err(errno(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{recvmsg, ControlMessageOwned};
    use std::{io::IoSliceMut, os::fd::FromRawFd};

    /// Receives one message as QEMU would: the value and an optional descriptor.
    fn recv(sock: &UnixStream) -> (i64, Option<OwnedFd>) {
        let mut buf = [0u8; 8];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .unwrap();
        let fd = msg.cmsgs().unwrap().find_map(|c| match c {
            // SAFETY: SCM_RIGHTS just gave this process the descriptor; nothing else owns it.
            ControlMessageOwned::ScmRights(fds) => {
                fds.first().map(|&fd| unsafe { OwnedFd::from_raw_fd(fd) })
            }
            _ => None,
        });
        assert_eq!(msg.bytes, 8);
        (i64::from_le_bytes(buf), fd)
    }

    #[test]
    fn the_handshake_follows_the_ivshmem_protocol_and_both_doorbell_directions_work() {
        let dir = std::env::temp_dir().join(format!("photonic-emu-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sock");
        let mut server = IvshmemServer::bind(&path, 1 << 20, 2).unwrap();
        let client = UnixStream::connect(&path).unwrap();
        server.accept_guest().unwrap();

        let (version, fd) = recv(&client);
        assert_eq!((version, fd.is_none()), (PROTOCOL_VERSION, true));
        let (id, fd) = recv(&client);
        assert_eq!((id, fd.is_none()), (GUEST_PEER_ID, true));
        let (minus_one, shm) = recv(&client);
        assert_eq!(minus_one, -1);
        let shm = shm.expect("the shared memory fd");
        assert_eq!(
            nix::sys::stat::fstat(shm.as_raw_fd()).unwrap().st_size,
            1 << 20
        );
        let model: Vec<OwnedFd> = (0..2)
            .map(|_| {
                let (id, fd) = recv(&client);
                assert_eq!(id, MODEL_PEER_ID);
                fd.expect("a doorbell eventfd")
            })
            .collect();
        let own: Vec<OwnedFd> = (0..2)
            .map(|_| {
                let (id, fd) = recv(&client);
                assert_eq!(id, GUEST_PEER_ID);
                fd.expect("a vector eventfd")
            })
            .collect();

        // The guest rings the model's doorbell 1 (QEMU writes the eventfd).
        nix::unistd::write(&model[1], &1u64.to_ne_bytes()).unwrap();
        assert_eq!(server.take_doorbell(1).unwrap(), 1);
        assert_eq!(
            server.take_doorbell(1).unwrap(),
            0,
            "drained, and it does not block"
        );
        // The model raises the guest's vector 0.
        server.interrupt_guest(0).unwrap();
        let mut v = [0u8; 8];
        nix::unistd::read(own[0].as_raw_fd(), &mut v).unwrap();
        assert_eq!(u64::from_ne_bytes(v), 1);
        assert!(server.interrupt_guest(5).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
