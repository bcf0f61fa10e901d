//! LIGHTOS_IOC_QUERY: size probing, module stats, the caller's context, and every rejection.

use lightos_runtime::{BufferFlags, Context, Placement};
use lightos_uapi as uapi;
use lightos_vm_tests::*;
use std::mem::size_of;

fn query_raw(
    f: &std::fs::File,
    query_type: u32,
    size: u64,
    ptr: u64,
) -> (Result<i32, i32>, uapi::Query) {
    let mut q = uapi::Query {
        query_type,
        size,
        ptr,
        ..Default::default()
    };
    (ioctl_struct(f, uapi::IOC_NR_QUERY, &mut q), q)
}

/// `QUERY` of `query_type` on `dev`'s context, into the ABI's result struct `T` as the kernel
/// wrote it (pad and reserved fields included, which the runtime's typed results leave out).
fn abi_result<T: Default>(dev: &Context, query_type: u32) -> T {
    let mut out = T::default();
    let mut q = uapi::Query {
        query_type,
        size: size_of::<T>() as u64,
        ptr: &mut out as *mut T as u64,
        ..Default::default()
    };
    assert_eq!(dev_ioctl(dev, uapi::IOC_NR_QUERY, &mut q), Ok(0));
    out
}

#[test]
fn a_null_pointer_asks_for_the_size() {
    let f = open_dev();
    let (r, q) = query_raw(&f, uapi::QUERY_STATS, 0, 0);
    assert_eq!((r, q.size), (Ok(0), size_of::<uapi::QueryStats>() as u64));
    let (r, q) = query_raw(&f, uapi::QUERY_CONTEXT, 0, 0);
    assert_eq!((r, q.size), (Ok(0), size_of::<uapi::QueryContext>() as u64));
}

#[test]
fn stats_follow_buffers_and_contexts() {
    let dev = Context::open().unwrap();
    let before = dev.stats().unwrap();
    assert!(before.contexts >= 1);
    let buf = dev
        .create_buffer(8192, BufferFlags::empty(), Placement::Any)
        .unwrap();
    let during = dev.stats().unwrap();
    assert_eq!(during.buffers, before.buffers + 1);
    assert_eq!(during.buffer_bytes, before.buffer_bytes + 8192);
    assert_eq!(during.buffers_created, before.buffers_created + 1);
    assert_eq!(during.buffers, stat("buffers"), "QUERY and debugfs agree");
    drop(buf);
    assert_eq!(dev.stats().unwrap().buffers, before.buffers);
    let raw: uapi::QueryStats = abi_result(&dev, uapi::QUERY_STATS);
    assert_eq!(raw.reserved, [0; 2]);
}

#[test]
fn context_query_describes_the_caller() {
    let dev = Context::open().unwrap();
    let info = dev.info().unwrap();
    let _a = dev
        .create_buffer(1, BufferFlags::empty(), Placement::Any)
        .unwrap();
    let _b = dev
        .create_buffer(1, BufferFlags::empty(), Placement::Any)
        .unwrap();
    let ctx = dev.context_stats().unwrap();
    assert_eq!(ctx.context_id, info.context_id);
    assert_eq!(ctx.buffers, 2);
    assert!(
        ctx.ioctls >= 6,
        "open's GET_INFO, info, 2 creates + 2 infos, this query: {}",
        ctx.ioctls
    );
    let raw: uapi::QueryContext = abi_result(&dev, uapi::QUERY_CONTEXT);
    assert_eq!((raw.pad, raw.reserved), (0, [0; 4]));
}

#[test]
fn a_larger_result_buffer_is_fine_and_size_says_what_was_written() {
    let f = open_dev();
    let mut room = [0xffu8; 256];
    let (r, q) = query_raw(
        &f,
        uapi::QUERY_CONTEXT,
        room.len() as u64,
        room.as_mut_ptr() as u64,
    );
    assert_eq!(r, Ok(0));
    assert_eq!(q.size, size_of::<uapi::QueryContext>() as u64);
    assert!(
        room[q.size as usize..].iter().all(|&b| b == 0xff),
        "wrote past the result"
    );
}

#[test]
fn query_rejections() {
    let f = open_dev();
    let mut out = uapi::QueryStats::default();
    let ptr = &mut out as *mut uapi::QueryStats as u64;
    let size = size_of::<uapi::QueryStats>() as u64;
    for t in [0, uapi::QUERY_MAX + 1, u32::MAX] {
        assert_eq!(query_raw(&f, t, size, ptr).0, Err(libc::EINVAL), "type {t}");
    }
    assert_eq!(
        query_raw(&f, uapi::QUERY_STATS, size - 8, ptr).0,
        Err(libc::EINVAL),
        "short size"
    );
    assert_eq!(
        query_raw(&f, uapi::QUERY_STATS, 1, ptr).0,
        Err(libc::EINVAL),
        "tiny size"
    );
    assert_eq!(
        out,
        uapi::QueryStats::default(),
        "a rejected query wrote its result"
    );
    let mut q = uapi::Query {
        query_type: uapi::QUERY_STATS,
        flags: 1,
        size,
        ptr,
        ..Default::default()
    };
    assert_eq!(
        ioctl_struct(&f, uapi::IOC_NR_QUERY, &mut q),
        Err(libc::EINVAL),
        "flags"
    );
    let mut q = uapi::Query {
        query_type: uapi::QUERY_STATS,
        size,
        ptr,
        reserved: [0, 1],
        ..Default::default()
    };
    assert_eq!(
        ioctl_struct(&f, uapi::IOC_NR_QUERY, &mut q),
        Err(libc::EINVAL),
        "reserved"
    );
    assert_eq!(
        query_raw(&f, uapi::QUERY_STATS, size, 0xffff_8000_0000_0000).0,
        Err(libc::EFAULT),
        "kernel ptr"
    );
    assert_eq!(
        query_raw(&f, uapi::QUERY_STATS, size, 8).0,
        Err(libc::EFAULT),
        "unmapped ptr"
    );
    let cmd = uapi::iowr(uapi::IOC_NR_QUERY, size_of::<uapi::Query>());
    assert_eq!(
        raw_ioctl(std::os::fd::AsRawFd::as_raw_fd(&f), cmd, 0),
        Err(libc::EFAULT),
        "null argument"
    );
}
