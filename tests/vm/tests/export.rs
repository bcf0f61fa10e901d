//! Sharing buffers between contexts and processes: BUFFER_EXPORT to a dma-buf fd, BUFFER_IMPORT.

use lightos_runtime::{pagemap, BufferFlags, Context, Placement};
use lightos_uapi as uapi;

use std::os::fd::{AsFd, AsRawFd};

fn dev() -> Context {
    Context::open().expect("open /dev/lightos")
}

use lightos_vm_tests::dev_ioctl as raw;

#[test]
fn an_imported_buffer_is_the_same_pages_in_another_context() {
    let a = dev();
    let b = dev();
    let buf = a
        .create_buffer(3 * 4096, BufferFlags::empty(), Placement::Any)
        .unwrap();
    let mut ma = buf.map().unwrap();
    ma[5000] = 0x5a;
    let fd = buf.export(false).unwrap();
    let imported = b.import_buffer(fd.as_fd()).unwrap();
    assert_eq!(imported.size(), 3 * 4096);
    let mut mb = imported.map().unwrap();
    assert_eq!(mb[5000], 0x5a);
    mb[7] = 0x77;
    assert_eq!(ma[7], 0x77);
    assert!(
        pagemap::same_frames(&ma, &mb).unwrap(),
        "the import must share frames, not copy"
    );
}

#[test]
fn another_process_imports_the_fd_and_writes_into_the_buffer() {
    let d = dev();
    let buf = d
        .create_buffer(4096, BufferFlags::empty(), Placement::Any)
        .unwrap();
    let m = buf.map().unwrap();
    let fd = buf.export(true).unwrap();
    // SAFETY: the child only opens the device, imports, maps, writes and exits; the test harness runs
    // tests on one thread, and the child never returns into it.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let code = (|| -> Option<()> {
            let child = Context::open().ok()?;
            let imported = child.import_buffer(fd.as_fd()).ok()?;
            let mut cm = imported.map().ok()?;
            cm[100] = 0xc3;
            Some(())
        })()
        .map_or(1, |_| 0);
        // SAFETY: ends the child without running the parent's destructors or test harness.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed: {status}"
    );
    assert_eq!(m[100], 0xc3);
}

#[test]
fn the_fd_keeps_the_buffer_alive_and_its_close_frees_it() {
    let before = dev().stats().unwrap();
    let fd = {
        let d = dev();
        let buf = d
            .create_buffer(8192, BufferFlags::empty(), Placement::Any)
            .unwrap();
        buf.map().unwrap()[1] = 9;
        buf.export(false).unwrap()
        // the handle, the mapping and the exporter's context all go here
    };
    assert_eq!(
        dev().stats().unwrap().buffers,
        before.buffers + 1,
        "the fd holds it"
    );
    {
        let other = dev();
        let imported = other.import_buffer(fd.as_fd()).unwrap();
        assert_eq!(imported.map().unwrap()[1], 9);
    }
    drop(fd);
    let after = dev().stats().unwrap();
    assert_eq!(after.buffers, before.buffers);
    assert_eq!(after.buffer_bytes, before.buffer_bytes);
}

#[test]
fn an_imported_buffer_can_be_submitted_by_the_importer() {
    let _exec = lightos_vm_tests::ExecutorThread::cpu("t-import");
    let a = dev();
    let buf = a
        .create_buffer(4096, BufferFlags::empty(), Placement::Any)
        .unwrap();
    let mut m = buf.map().unwrap();
    lightos_vm_tests::put_f32(&mut m[..], &[1.0, 2.0, 3.0, 4.0, 1.0, 1.0, 1.0, 1.0]);
    let b = dev();
    let imported = b.import_buffer(buf.export(false).unwrap().as_fd()).unwrap();
    let q = b.create_queue(0, std::time::Duration::ZERO).unwrap();
    let add = lightos_runtime::PrimitiveBuilder::new(
        lightos_runtime::Op::Add,
        lightos_runtime::DType::F32,
    )
    .input(&imported, 0, &[4])
    .input(&imported, 16, &[4])
    .output(&imported, 32, &[4]);
    let s = q.submit(&[add]).unwrap();
    q.wait(s.last_seq, Some(std::time::Duration::from_secs(20)))
        .unwrap();
    assert_eq!(
        lightos_vm_tests::get_f32(&m[32..], 4),
        vec![2.0, 3.0, 4.0, 5.0]
    );
}

#[test]
fn export_and_import_reject_bad_arguments() {
    let d = dev();
    let buf = d
        .create_buffer(4096, BufferFlags::empty(), Placement::Any)
        .unwrap();
    let export = |f: &dyn Fn(&mut uapi::BufferExport)| {
        let mut r = uapi::BufferExport {
            handle: buf.handle(),
            ..Default::default()
        };
        f(&mut r);
        raw(&d, uapi::IOC_NR_BUFFER_EXPORT, &mut r)
    };
    assert_eq!(export(&|r| r.handle = 4242), Err(libc::ENOENT));
    assert_eq!(export(&|r| r.flags = 1 << 4), Err(libc::EINVAL));
    assert_eq!(export(&|r| r.fd = 3), Err(libc::EINVAL));
    assert_eq!(export(&|r| r.pad = 1), Err(libc::EINVAL));
    assert_eq!(export(&|r| r.reserved[0] = 1), Err(libc::EINVAL));
    let import = |fd: i32, f: &dyn Fn(&mut uapi::BufferImport)| {
        let mut r = uapi::BufferImport {
            fd,
            ..Default::default()
        };
        f(&mut r);
        raw(&d, uapi::IOC_NR_BUFFER_IMPORT, &mut r)
    };
    assert_eq!(import(-1, &|_| {}), Err(libc::EBADF));
    assert_eq!(import(9999, &|_| {}), Err(libc::EBADF));
    let null = std::fs::File::open("/dev/null").unwrap();
    assert_eq!(
        import(null.as_raw_fd(), &|_| {}),
        Err(libc::EINVAL),
        "not a dma-buf"
    );
    let good = buf.export(false).unwrap();
    let fd = good.as_raw_fd();
    assert_eq!(import(fd, &|r| r.flags = 1), Err(libc::EINVAL));
    assert_eq!(import(fd, &|r| r.handle = 1), Err(libc::EINVAL));
    assert_eq!(import(fd, &|r| r.reserved[1] = 1), Err(libc::EINVAL));
    assert_eq!(import(fd, &|_| {}), Ok(0));
    // CLOEXEC is what `export(false)` asked for.
    // SAFETY: F_GETFD on a descriptor we own.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
}
