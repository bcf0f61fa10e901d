//! Buffer objects: create/info/destroy, zeroed pages, zero-copy mmap, lifetime, limits, isolation.

use lightos_runtime::{BufferFlags, Context, Placement};
use lightos_uapi as uapi;
use lightos_vm_tests::*;
use std::os::fd::AsRawFd;

const PAGE: usize = 4096;
const RW: i32 = libc::PROT_READ | libc::PROT_WRITE;

#[test]
fn create_rounds_up_to_pages_and_info_describes_it() {
    let f = open_dev();
    let c = create_buffer(&f, 5000, uapi::BUFFER_DEVICE_READ_ONLY).unwrap();
    assert_ne!(c.handle, 0);
    assert_eq!(
        c.mmap_offset,
        u64::from(c.handle) << uapi::MMAP_HANDLE_SHIFT
    );
    let i = buffer_info(&f, c.handle).unwrap();
    assert_eq!(i.size, 2 * PAGE as u64);
    assert_eq!(i.flags, uapi::BUFFER_DEVICE_READ_ONLY);
    assert_eq!(i.mmap_offset, c.mmap_offset);
    assert_eq!(i.bus_addr, 0, "no device has mapped it");
    assert_eq!(i.placement, uapi::PLACEMENT_HOST);
    assert_eq!(destroy_buffer(&f, c.handle), Ok(0));
    assert_eq!(buffer_info(&f, c.handle), Err(libc::ENOENT));
    assert_eq!(
        destroy_buffer(&f, c.handle),
        Err(libc::ENOENT),
        "a handle dies once"
    );
}

#[test]
fn handles_are_not_reused_within_a_context() {
    let f = open_dev();
    let a = create_buffer(&f, 1, 0).unwrap().handle;
    destroy_buffer(&f, a).unwrap();
    let b = create_buffer(&f, 1, 0).unwrap().handle;
    assert!(b > a);
}

#[test]
fn pages_are_zeroed_even_after_reuse() {
    let f = open_dev();
    let len = 64 * PAGE;
    let a = create_buffer(&f, len as u64, 0).unwrap();
    let p = map(&f, len, RW, libc::MAP_SHARED, a.mmap_offset).unwrap();
    // SAFETY: `p` maps `len` writable bytes.
    unsafe { std::ptr::write_bytes(p, 0xa5, len) };
    unmap(p, len);
    destroy_buffer(&f, a.handle).unwrap();
    for _ in 0..4 {
        let b = create_buffer(&f, len as u64, 0).unwrap();
        let p = map(&f, len, libc::PROT_READ, libc::MAP_SHARED, b.mmap_offset).unwrap();
        // SAFETY: `p` maps `len` readable bytes.
        let bytes = unsafe { std::slice::from_raw_parts(p, len) };
        assert!(bytes.iter().all(|&x| x == 0), "a new buffer held old data");
        unmap(p, len);
        destroy_buffer(&f, b.handle).unwrap();
    }
}

#[test]
fn two_mappings_share_the_same_pages() {
    let f = open_dev();
    let len = 4 * PAGE;
    let c = create_buffer(&f, len as u64, 0).unwrap();
    let a = map(&f, len, RW, libc::MAP_SHARED, c.mmap_offset).unwrap();
    let b = map(&f, len, libc::PROT_READ, libc::MAP_SHARED, c.mmap_offset).unwrap();
    assert_ne!(a, b);
    for i in 0..len {
        // SAFETY: both map `len` bytes of the same buffer.
        unsafe { a.add(i).write((i % 251) as u8) };
    }
    for i in 0..len {
        // SAFETY: as above.
        assert_eq!(unsafe { b.add(i).read() }, (i % 251) as u8);
    }
    unmap(a, len);
    unmap(b, len);
}

#[test]
fn a_mapping_outlives_destroy_and_close() {
    let before = stat("buffers");
    let f = open_dev();
    let c = create_buffer(&f, PAGE as u64, 0).unwrap();
    let p = map(&f, PAGE, RW, libc::MAP_SHARED, c.mmap_offset).unwrap();
    destroy_buffer(&f, c.handle).unwrap();
    drop(f);
    // SAFETY: the mapping pins its pages; it is still valid memory.
    unsafe {
        p.write(42);
        assert_eq!(p.read(), 42);
    }
    unmap(p, PAGE);
    assert_eq!(stat("buffers"), before);
}

#[test]
fn closing_the_file_frees_its_buffers() {
    let (buffers, bytes) = (stat("buffers"), stat("buffer_bytes"));
    let f = open_dev();
    for _ in 0..10 {
        create_buffer(&f, 3 * PAGE as u64, 0).unwrap();
    }
    assert_eq!(stat("buffers"), buffers + 10);
    assert_eq!(stat("buffer_bytes"), bytes + 30 * PAGE as u64);
    let fdinfo = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", f.as_raw_fd())).unwrap();
    assert!(fdinfo.contains("lightos-buffers:\t10\n"), "{fdinfo}");
    drop(f);
    assert_eq!((stat("buffers"), stat("buffer_bytes")), (buffers, bytes));
}

#[test]
fn create_rejects_bad_requests_with_einval() {
    let f = open_dev();
    let base = uapi::BufferCreate {
        size: PAGE as u64,
        ..Default::default()
    };
    let cases: Vec<(&str, uapi::BufferCreate)> = vec![
        ("size 0", uapi::BufferCreate { size: 0, ..base }),
        (
            "size above the limit",
            uapi::BufferCreate {
                size: uapi::MAX_BUFFER_SIZE + 1,
                ..base
            },
        ),
        (
            "size u64::MAX",
            uapi::BufferCreate {
                size: u64::MAX,
                ..base
            },
        ),
        (
            "unknown flag",
            uapi::BufferCreate {
                flags: 1 << 7,
                ..base
            },
        ),
        (
            "unknown placement",
            uapi::BufferCreate {
                placement: uapi::PLACEMENT_MAX + 1,
                ..base
            },
        ),
        ("pad", uapi::BufferCreate { pad: 1, ..base }),
        (
            "handle set on input",
            uapi::BufferCreate { handle: 1, ..base },
        ),
        (
            "mmap_offset set on input",
            uapi::BufferCreate {
                mmap_offset: 1,
                ..base
            },
        ),
        (
            "reserved[0]",
            uapi::BufferCreate {
                reserved: [1, 0, 0, 0],
                ..base
            },
        ),
        (
            "reserved[3]",
            uapi::BufferCreate {
                reserved: [0, 0, 0, 1],
                ..base
            },
        ),
    ];
    let before = stat("buffers");
    for (what, mut req) in cases {
        assert_eq!(
            ioctl_struct(&f, uapi::IOC_NR_BUFFER_CREATE, &mut req),
            Err(libc::EINVAL),
            "{what}"
        );
        assert_eq!(
            req.handle,
            if what == "handle set on input" { 1 } else { 0 },
            "{what}: nothing written"
        );
    }
    assert_eq!(stat("buffers"), before, "a rejected create allocated");
}

#[test]
fn buffer_ioctls_with_bad_pointers_are_efault() {
    let f = open_dev();
    for (nr, size) in [
        (
            uapi::IOC_NR_BUFFER_CREATE,
            std::mem::size_of::<uapi::BufferCreate>(),
        ),
        (
            uapi::IOC_NR_BUFFER_INFO,
            std::mem::size_of::<uapi::BufferInfo>(),
        ),
        (
            uapi::IOC_NR_BUFFER_DESTROY,
            std::mem::size_of::<uapi::BufferDestroy>(),
        ),
    ] {
        assert_eq!(
            raw_ioctl(f.as_raw_fd(), uapi::iowr(nr, size), 0),
            Err(libc::EFAULT),
            "nr {nr}"
        );
    }
}

#[test]
fn buffer_ioctls_with_short_sizes_are_einval() {
    let f = open_dev();
    let mut buf = [0u64; 16];
    for nr in [
        uapi::IOC_NR_BUFFER_CREATE,
        uapi::IOC_NR_BUFFER_INFO,
        uapi::IOC_NR_BUFFER_DESTROY,
    ] {
        let cmd = uapi::iowr(nr, 16);
        assert_eq!(
            raw_ioctl(f.as_raw_fd(), cmd, buf.as_mut_ptr() as usize),
            Err(libc::EINVAL),
            "nr {nr}"
        );
    }
}

#[test]
fn create_whose_reply_cannot_be_written_leaves_no_buffer() {
    let f = open_dev();
    let before = stat("buffers");
    // SAFETY: a fresh read-only anonymous page holding a valid request; unmapped below.
    let page = unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            PAGE,
            RW,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        p.cast::<uapi::BufferCreate>().write(uapi::BufferCreate {
            size: PAGE as u64,
            ..Default::default()
        });
        assert_eq!(libc::mprotect(p, PAGE, libc::PROT_READ), 0);
        p
    };
    let cmd = uapi::IOC_BUFFER_CREATE;
    assert_eq!(
        raw_ioctl(f.as_raw_fd(), cmd, page as usize),
        Err(libc::EFAULT)
    );
    assert_eq!(
        stat("buffers"),
        before,
        "the unreachable buffer was not cleaned up"
    );
    // SAFETY: the mapping made above.
    unsafe { libc::munmap(page, PAGE) };
}

#[test]
fn info_and_destroy_reject_bad_requests() {
    let f = open_dev();
    let h = create_buffer(&f, 1, 0).unwrap().handle;
    assert_eq!(buffer_info(&f, 0), Err(libc::ENOENT), "handle 0");
    assert_eq!(
        buffer_info(&f, h + 1000),
        Err(libc::ENOENT),
        "unknown handle"
    );
    let mut i = uapi::BufferInfo {
        handle: h,
        pad: 1,
        ..Default::default()
    };
    assert_eq!(
        ioctl_struct(&f, uapi::IOC_NR_BUFFER_INFO, &mut i),
        Err(libc::EINVAL),
        "info pad"
    );
    let mut i = uapi::BufferInfo {
        handle: h,
        reserved: [0, 1, 0, 0],
        ..Default::default()
    };
    assert_eq!(
        ioctl_struct(&f, uapi::IOC_NR_BUFFER_INFO, &mut i),
        Err(libc::EINVAL),
        "info reserved"
    );
    let mut d = uapi::BufferDestroy {
        handle: h,
        flags: 1,
        ..Default::default()
    };
    assert_eq!(
        ioctl_struct(&f, uapi::IOC_NR_BUFFER_DESTROY, &mut d),
        Err(libc::EINVAL),
        "destroy flags"
    );
    let mut d = uapi::BufferDestroy {
        handle: h,
        reserved: [0, 1],
        ..Default::default()
    };
    assert_eq!(
        ioctl_struct(&f, uapi::IOC_NR_BUFFER_DESTROY, &mut d),
        Err(libc::EINVAL),
        "destroy reserved"
    );
    assert_eq!(destroy_buffer(&f, 0), Err(libc::ENOENT), "destroy handle 0");
    assert!(
        buffer_info(&f, h).is_ok(),
        "the rejected destroys left the buffer alone"
    );
}

#[test]
fn mmap_rejects_anything_but_the_exact_buffer() {
    let f = open_dev();
    let len = 2 * PAGE;
    let c = create_buffer(&f, len as u64, 0).unwrap();
    let shared = libc::MAP_SHARED;
    assert_eq!(
        map(&f, PAGE, RW, shared, c.mmap_offset),
        Err(libc::EINVAL),
        "shorter"
    );
    assert_eq!(
        map(&f, 3 * PAGE, RW, shared, c.mmap_offset),
        Err(libc::EINVAL),
        "longer"
    );
    assert_eq!(
        map(&f, PAGE, RW, shared, c.mmap_offset + PAGE as u64),
        Err(libc::EINVAL),
        "inside offset"
    );
    assert_eq!(map(&f, len, RW, shared, 0), Err(libc::EINVAL), "offset 0");
    let unknown = u64::from(c.handle + 100) << uapi::MMAP_HANDLE_SHIFT;
    assert_eq!(
        map(&f, len, RW, shared, unknown),
        Err(libc::EINVAL),
        "unknown handle"
    );
    assert_eq!(
        map(&f, len, RW, libc::MAP_PRIVATE, c.mmap_offset),
        Err(libc::EINVAL),
        "private"
    );
    let rwx = RW | libc::PROT_EXEC;
    assert_eq!(
        map(&f, len, rwx, shared, c.mmap_offset),
        Err(libc::EACCES),
        "exec"
    );
    let p = map(&f, len, RW, shared, c.mmap_offset).unwrap();
    // SAFETY: `p` maps `len` bytes; mprotect only changes protections.
    assert_ne!(
        unsafe { libc::mprotect(p.cast(), len, rwx) },
        0,
        "mprotect added PROT_EXEC"
    );
    unmap(p, len);
}

#[test]
fn host_read_only_buffers_refuse_write_mappings() {
    let f = open_dev();
    let c = create_buffer(&f, PAGE as u64, uapi::BUFFER_HOST_READ_ONLY).unwrap();
    assert_eq!(
        map(&f, PAGE, RW, libc::MAP_SHARED, c.mmap_offset),
        Err(libc::EACCES)
    );
    let p = map(&f, PAGE, libc::PROT_READ, libc::MAP_SHARED, c.mmap_offset).unwrap();
    // SAFETY: `p` maps one page; mprotect only changes protections.
    assert_ne!(
        unsafe { libc::mprotect(p.cast(), PAGE, RW) },
        0,
        "mprotect made it writable"
    );
    unmap(p, PAGE);
}

#[test]
fn another_process_cannot_reach_this_contexts_buffers() {
    let f = open_dev();
    let c = create_buffer(&f, PAGE as u64, 0).unwrap();
    // SAFETY: the child only opens its own context, probes and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let mine = open_dev();
        let ok = buffer_info(&mine, c.handle) == Err(libc::ENOENT)
            && map(&mine, PAGE, RW, libc::MAP_SHARED, c.mmap_offset) == Err(libc::EINVAL)
            && destroy_buffer(&mine, c.handle) == Err(libc::ENOENT);
        // SAFETY: ends the child without running the parent's test harness.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child reached our buffer"
    );
    assert!(
        buffer_info(&f, c.handle).is_ok(),
        "the child destroyed our buffer"
    );
}

#[test]
fn per_context_buffer_limit_is_enospc() {
    let f = open_dev();
    let limit = uapi::MAX_BUFFERS_PER_CONTEXT as usize;
    let handles: Vec<u32> = (0..limit)
        .map(|i| {
            create_buffer(&f, 1, 0)
                .unwrap_or_else(|e| panic!("#{i}: {e}"))
                .handle
        })
        .collect();
    let hits = stat("buffer_limit_hits");
    assert_eq!(create_buffer(&f, 1, 0), Err(libc::ENOSPC));
    assert_eq!(stat("buffer_limit_hits"), hits + 1);
    destroy_buffer(&f, handles[0]).unwrap();
    assert!(
        create_buffer(&f, 1, 0).is_ok(),
        "a freed slot is usable again"
    );
}

#[test]
fn module_wide_byte_limit_is_enomem() {
    let f = open_dev();
    let base = stat("buffer_bytes");
    let mut made = Vec::new();
    let err = loop {
        match create_buffer(&f, uapi::MAX_BUFFER_SIZE, 0) {
            Ok(c) => made.push(c.handle),
            Err(e) => break e,
        }
        assert!(
            made.len() as u64 * uapi::MAX_BUFFER_SIZE <= uapi::MAX_BUFFER_BYTES,
            "limit not enforced"
        );
    };
    assert_eq!(err, libc::ENOMEM);
    assert!(base + (made.len() as u64 + 1) * uapi::MAX_BUFFER_SIZE > uapi::MAX_BUFFER_BYTES);
    drop(f);
    assert_eq!(stat("buffer_bytes"), base);
}

#[test]
fn runtime_buffers_map_zero_copy_and_clean_up() {
    let before = stat("buffers");
    let dev = Context::open().unwrap();
    let buf = dev
        .create_buffer(10_000, BufferFlags::empty(), Placement::Any)
        .unwrap();
    assert_eq!(buf.size(), 3 * PAGE);
    assert_eq!(buf.placement(), Placement::Host);
    assert_eq!(buf.bus_addr().unwrap(), None);
    let mut a = buf.map().unwrap();
    let b = buf.map().unwrap();
    a[..5].copy_from_slice(b"hello");
    assert_eq!(&b[..5], b"hello", "both views are the same kernel pages");
    let ro = dev
        .create_buffer(1, BufferFlags::HOST_READ_ONLY, Placement::Host)
        .unwrap();
    let err = ro.map().unwrap_err();
    assert_eq!(err.errno(), Some(nix::errno::Errno::EACCES), "{err}");
    drop((a, b, buf, ro));
    assert_eq!(stat("buffers"), before);
}
