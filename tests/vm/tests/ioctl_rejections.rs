//! Every rejection path of the ioctls in ABI v1, each with its errno and no side effect.

use lightos_uapi as uapi;
use lightos_vm_tests::*;
use std::{mem::size_of, os::fd::AsRawFd};

const INFO_SIZE: usize = size_of::<uapi::Info>();

fn zeroed_buf(len: usize) -> Vec<u64> {
    vec![0u64; len.div_ceil(8)]
}

#[test]
fn unknown_ioctl_number_is_enotty() {
    let f = open_dev();
    let mut info = uapi::Info::zeroed();
    let cmd = uapi::iowr(0x7f, INFO_SIZE);
    assert_eq!(
        raw_ioctl(f.as_raw_fd(), cmd, &mut info as *mut uapi::Info as usize),
        Err(libc::ENOTTY)
    );
}

#[test]
fn foreign_ioctl_type_is_enotty() {
    let f = open_dev();
    let mut info = uapi::Info::zeroed();
    let cmd = uapi::ioc(
        uapi::IOC_READ | uapi::IOC_WRITE,
        b'T' as u32,
        uapi::IOC_NR_GET_INFO,
        INFO_SIZE,
    );
    assert_eq!(
        raw_ioctl(f.as_raw_fd(), cmd, &mut info as *mut uapi::Info as usize),
        Err(libc::ENOTTY)
    );
}

#[test]
fn get_info_with_the_wrong_direction_is_enotty() {
    let f = open_dev();
    let mut info = uapi::Info::zeroed();
    for dir in [0, uapi::IOC_READ, uapi::IOC_WRITE] {
        let cmd = uapi::ioc(dir, uapi::IOC_MAGIC, uapi::IOC_NR_GET_INFO, INFO_SIZE);
        assert_eq!(
            raw_ioctl(f.as_raw_fd(), cmd, &mut info as *mut uapi::Info as usize),
            Err(libc::ENOTTY),
            "dir {dir}"
        );
    }
}

#[test]
fn get_info_smaller_than_v1_is_einval() {
    let f = open_dev();
    let mut buf = zeroed_buf(INFO_SIZE);
    for size in [0, 8, INFO_SIZE - 8] {
        assert_eq!(
            get_info_sized(&f, buf.as_mut_ptr() as usize, size),
            Err(libc::EINVAL),
            "size {size}"
        );
    }
    assert!(
        buf.iter().all(|&w| w == 0),
        "a rejected call wrote to user memory"
    );
}

#[test]
fn get_info_size_not_a_multiple_of_8_is_einval() {
    let f = open_dev();
    let mut buf = zeroed_buf(INFO_SIZE + 8);
    for size in [INFO_SIZE + 1, INFO_SIZE + 4, INFO_SIZE + 7] {
        assert_eq!(
            get_info_sized(&f, buf.as_mut_ptr() as usize, size),
            Err(libc::EINVAL),
            "size {size}"
        );
    }
}

#[test]
fn get_info_larger_than_the_ioctl_limit_is_e2big() {
    let f = open_dev();
    let size = uapi::MAX_IOCTL_SIZE + 8;
    let mut buf = zeroed_buf(size);
    assert_eq!(
        get_info_sized(&f, buf.as_mut_ptr() as usize, size),
        Err(libc::E2BIG)
    );
}

#[test]
fn get_info_larger_with_a_zero_tail_is_accepted() {
    let f = open_dev();
    let size = INFO_SIZE + 64;
    let mut buf = zeroed_buf(size);
    assert_eq!(get_info_sized(&f, buf.as_mut_ptr() as usize, size), Ok(0));
    // SAFETY: buf holds at least INFO_SIZE bytes, and Info is plain integers.
    let info = unsafe { &*(buf.as_ptr().cast::<uapi::Info>()) };
    assert_eq!(info.abi_major, uapi::ABI_MAJOR);
    assert!(
        buf[INFO_SIZE / 8..].iter().all(|&w| w == 0),
        "the tail beyond v1 must be left alone"
    );
}

#[test]
fn get_info_larger_with_a_non_zero_tail_is_e2big() {
    let f = open_dev();
    let size = INFO_SIZE + 64;
    let mut buf = zeroed_buf(size);
    *buf.last_mut().unwrap() = 1;
    assert_eq!(
        get_info_sized(&f, buf.as_mut_ptr() as usize, size),
        Err(libc::E2BIG)
    );
    assert_eq!(buf[0], 0, "a rejected call wrote to user memory");
}

#[test]
fn get_info_with_flags_is_einval() {
    let f = open_dev();
    for bit in [0, 1, 31] {
        let mut info = uapi::Info::zeroed();
        info.flags = 1 << bit;
        assert_eq!(get_info(&f, &mut info), Err(libc::EINVAL), "flag bit {bit}");
        assert_eq!(info.abi_major, 0, "a rejected call wrote to user memory");
    }
}

#[test]
fn get_info_with_non_zero_pad_is_einval() {
    let f = open_dev();
    let mut info = uapi::Info::zeroed();
    info.pad = 1;
    assert_eq!(get_info(&f, &mut info), Err(libc::EINVAL));
}

#[test]
fn get_info_with_non_zero_pad2_is_einval() {
    let f = open_dev();
    let mut info = uapi::Info::zeroed();
    info.pad2 = 1;
    assert_eq!(get_info(&f, &mut info), Err(libc::EINVAL));
}

#[test]
fn get_info_with_any_reserved_word_set_is_einval() {
    let f = open_dev();
    for i in 0..5 {
        let mut info = uapi::Info::zeroed();
        info.reserved[i] = u64::MAX;
        assert_eq!(get_info(&f, &mut info), Err(libc::EINVAL), "reserved[{i}]");
    }
}

#[test]
fn get_info_with_a_null_pointer_is_efault() {
    let f = open_dev();
    assert_eq!(get_info_sized(&f, 0, INFO_SIZE), Err(libc::EFAULT));
}

#[test]
fn get_info_with_an_unmapped_pointer_is_efault() {
    let f = open_dev();
    // A kernel-half address is never a valid user pointer.
    let bad = 0xffff_8000_0000_0000usize;
    assert_eq!(get_info_sized(&f, bad, INFO_SIZE), Err(libc::EFAULT));
}

#[test]
fn get_info_into_read_only_memory_is_efault() {
    let f = open_dev();
    // SAFETY: a fresh anonymous read-only mapping, unmapped below.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(page, libc::MAP_FAILED);
    assert_eq!(
        get_info_sized(&f, page as usize, INFO_SIZE),
        Err(libc::EFAULT)
    );
    // SAFETY: `page` is the mapping made above.
    unsafe { libc::munmap(page, 4096) };
}

#[test]
fn rejected_calls_leave_the_context_usable() {
    let f = open_dev();
    let mut info = uapi::Info::zeroed();
    info.flags = 1;
    assert_eq!(get_info(&f, &mut info), Err(libc::EINVAL));
    let mut info = uapi::Info::zeroed();
    assert_eq!(get_info(&f, &mut info), Ok(0));
}
