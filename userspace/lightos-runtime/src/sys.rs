//! The raw ioctl calls, generated from the ABI in `lightos-uapi`, and the reason of a rejected one.
//! Private: callers use [`crate::Context`].

use crate::Error;
use lightos_uapi as uapi;
use nix::errno::Errno;
use std::os::fd::RawFd;

nix::ioctl_readwrite!(get_info, uapi::IOC_MAGIC, uapi::IOC_NR_GET_INFO, uapi::Info);
nix::ioctl_readwrite!(query, uapi::IOC_MAGIC, uapi::IOC_NR_QUERY, uapi::Query);
nix::ioctl_readwrite!(
    buffer_create,
    uapi::IOC_MAGIC,
    uapi::IOC_NR_BUFFER_CREATE,
    uapi::BufferCreate
);
nix::ioctl_readwrite!(
    buffer_info,
    uapi::IOC_MAGIC,
    uapi::IOC_NR_BUFFER_INFO,
    uapi::BufferInfo
);
nix::ioctl_readwrite!(
    buffer_destroy,
    uapi::IOC_MAGIC,
    uapi::IOC_NR_BUFFER_DESTROY,
    uapi::BufferDestroy
);

nix::ioctl_readwrite!(
    queue_create,
    uapi::IOC_MAGIC,
    uapi::IOC_NR_QUEUE_CREATE,
    uapi::QueueCreate
);
nix::ioctl_readwrite!(
    queue_destroy,
    uapi::IOC_MAGIC,
    uapi::IOC_NR_QUEUE_DESTROY,
    uapi::QueueDestroy
);
nix::ioctl_readwrite!(submit, uapi::IOC_MAGIC, uapi::IOC_NR_SUBMIT, uapi::Submit);
nix::ioctl_readwrite!(
    ring_setup,
    uapi::IOC_MAGIC,
    uapi::IOC_NR_RING_SETUP,
    uapi::RingSetup
);
nix::ioctl_readwrite!(enter, uapi::IOC_MAGIC, uapi::IOC_NR_ENTER, uapi::Enter);
nix::ioctl_readwrite!(
    job_batch,
    uapi::IOC_MAGIC,
    uapi::IOC_NR_JOB_BATCH,
    uapi::JobBatch
);
nix::ioctl_readwrite!(wait, uapi::IOC_MAGIC, uapi::IOC_NR_WAIT, uapi::Wait);
nix::ioctl_readwrite!(
    executor_register,
    uapi::IOC_MAGIC,
    uapi::IOC_NR_EXECUTOR_REGISTER,
    uapi::ExecutorRegister
);
nix::ioctl_readwrite!(
    job_fetch,
    uapi::IOC_MAGIC,
    uapi::IOC_NR_JOB_FETCH,
    uapi::JobFetch
);
nix::ioctl_readwrite!(
    job_complete,
    uapi::IOC_MAGIC,
    uapi::IOC_NR_JOB_COMPLETE,
    uapi::JobComplete
);
nix::ioctl_readwrite!(
    route_set,
    uapi::IOC_MAGIC,
    uapi::IOC_NR_ROUTE_SET,
    uapi::RouteSet
);

nix::ioctl_readwrite!(
    buffer_export,
    uapi::IOC_MAGIC,
    uapi::IOC_NR_BUFFER_EXPORT,
    uapi::BufferExport
);
nix::ioctl_readwrite!(
    buffer_import,
    uapi::IOC_MAGIC,
    uapi::IOC_NR_BUFFER_IMPORT,
    uapi::BufferImport
);
nix::ioctl_readwrite!(
    event_wait,
    uapi::IOC_MAGIC,
    uapi::IOC_NR_EVENT_WAIT,
    uapi::EventWait
);
nix::ioctl_readwrite!(
    spike_queue_create,
    uapi::IOC_MAGIC,
    uapi::IOC_NR_SPIKE_QUEUE_CREATE,
    uapi::SpikeQueueCreate
);
nix::ioctl_readwrite!(
    spike_queue_destroy,
    uapi::IOC_MAGIC,
    uapi::IOC_NR_SPIKE_QUEUE_DESTROY,
    uapi::SpikeQueueId
);
nix::ioctl_readwrite!(
    spike_wait,
    uapi::IOC_MAGIC,
    uapi::IOC_NR_SPIKE_WAIT,
    uapi::SpikeWait
);
nix::ioctl_readwrite!(
    spike_notify,
    uapi::IOC_MAGIC,
    uapi::IOC_NR_SPIKE_NOTIFY,
    uapi::SpikeQueueId
);
nix::ioctl_readwrite!(
    spike_queue_export,
    uapi::IOC_MAGIC,
    uapi::IOC_NR_SPIKE_QUEUE_EXPORT,
    uapi::SpikeQueueExport
);
nix::ioctl_readwrite!(
    spike_queue_import,
    uapi::IOC_MAGIC,
    uapi::IOC_NR_SPIKE_QUEUE_IMPORT,
    uapi::SpikeQueueImport
);

nix::ioctl_readwrite!(
    power_set,
    uapi::IOC_MAGIC,
    uapi::IOC_NR_POWER_SET,
    uapi::PowerSet
);

/// The `_IOC_NR` of the ioctl named `op` in the runtime's errors (`"SUBMIT"`, ...).
fn ioctl_nr(op: &str) -> Option<u32> {
    Some(match op {
        "GET_INFO" => uapi::IOC_NR_GET_INFO,
        "BUFFER_CREATE" => uapi::IOC_NR_BUFFER_CREATE,
        "BUFFER_INFO" => uapi::IOC_NR_BUFFER_INFO,
        "BUFFER_DESTROY" => uapi::IOC_NR_BUFFER_DESTROY,
        "QUERY" => uapi::IOC_NR_QUERY,
        "QUEUE_CREATE" => uapi::IOC_NR_QUEUE_CREATE,
        "QUEUE_DESTROY" => uapi::IOC_NR_QUEUE_DESTROY,
        "SUBMIT" => uapi::IOC_NR_SUBMIT,
        "WAIT" => uapi::IOC_NR_WAIT,
        "EXECUTOR_REGISTER" => uapi::IOC_NR_EXECUTOR_REGISTER,
        "JOB_FETCH" => uapi::IOC_NR_JOB_FETCH,
        "JOB_COMPLETE" => uapi::IOC_NR_JOB_COMPLETE,
        "ROUTE_SET" => uapi::IOC_NR_ROUTE_SET,
        "BUFFER_EXPORT" => uapi::IOC_NR_BUFFER_EXPORT,
        "BUFFER_IMPORT" => uapi::IOC_NR_BUFFER_IMPORT,
        "EVENT_WAIT" => uapi::IOC_NR_EVENT_WAIT,
        "SPIKE_QUEUE_CREATE" => uapi::IOC_NR_SPIKE_QUEUE_CREATE,
        "SPIKE_QUEUE_DESTROY" => uapi::IOC_NR_SPIKE_QUEUE_DESTROY,
        "SPIKE_WAIT" => uapi::IOC_NR_SPIKE_WAIT,
        "SPIKE_NOTIFY" => uapi::IOC_NR_SPIKE_NOTIFY,
        "SPIKE_QUEUE_EXPORT" => uapi::IOC_NR_SPIKE_QUEUE_EXPORT,
        "SPIKE_QUEUE_IMPORT" => uapi::IOC_NR_SPIKE_QUEUE_IMPORT,
        "POWER_SET" => uapi::IOC_NR_POWER_SET,
        "RING_SETUP" => uapi::IOC_NR_RING_SETUP,
        "ENTER" => uapi::IOC_NR_ENTER,
        "JOB_BATCH" => uapi::IOC_NR_JOB_BATCH,
        _ => return None,
    })
}

/// The context's last rejection (`QUERY_LAST_ERROR`, ABI 1.8); `None` from a module without it.
pub(crate) fn last_rejection(fd: RawFd) -> Option<uapi::QueryLastError> {
    let mut last = uapi::QueryLastError::default();
    let mut req = uapi::Query {
        query_type: uapi::QUERY_LAST_ERROR,
        size: std::mem::size_of::<uapi::QueryLastError>() as u64,
        ptr: &mut last as *mut uapi::QueryLastError as u64,
        ..Default::default()
    };
    // SAFETY: `req.ptr` points to a writable `QueryLastError` of `req.size` bytes and `req` is a
    // valid `Query`, both outliving the call; the kernel writes at most `size` bytes. A bad fd or
    // an older module fails the call, which is reported as `None`.
    unsafe { query(fd, &mut req) }.ok()?;
    Some(last)
}

/// Why the kernel rejected ioctl `op` on `fd` with `errno`: the context's last rejection's reason
/// if that rejection is this one (same ioctl and errno) and has a reason. Call it right after the
/// failed ioctl; `None` from modules before ABI 1.8.
pub(crate) fn rejection_reason(fd: RawFd, op: &str, errno: Errno) -> Option<String> {
    // Waits that time out, would block or are interrupted reject nothing: the kernel records none.
    if matches!(errno, Errno::EAGAIN | Errno::ETIMEDOUT | Errno::EINTR) {
        return None;
    }
    let nr = ioctl_nr(op)?;
    let last = last_rejection(fd)?;
    let ours = last.rejections != 0 && last.ioctl_nr == nr && last.error == errno as u32;
    let reason = String::from_utf8_lossy(last.reason_bytes()).into_owned();
    (ours && !reason.is_empty()).then_some(reason)
}

/// The error of ioctl `op` on `fd` that the kernel rejected with `errno`, with its reason.
pub(crate) fn rejected(fd: RawFd, op: &'static str, errno: Errno) -> Error {
    Error::Ioctl {
        op,
        errno,
        reason: rejection_reason(fd, op, errno),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nix_encodes_the_same_numbers_as_the_uapi() {
        let nix_number = nix::request_code_readwrite!(
            uapi::IOC_MAGIC,
            uapi::IOC_NR_GET_INFO,
            std::mem::size_of::<uapi::Info>()
        );
        assert_eq!(nix_number as u32, uapi::IOC_GET_INFO);
        let create = nix::request_code_readwrite!(
            uapi::IOC_MAGIC,
            uapi::IOC_NR_BUFFER_CREATE,
            std::mem::size_of::<uapi::BufferCreate>()
        );
        assert_eq!(create as u32, uapi::IOC_BUFFER_CREATE);
        let submit = nix::request_code_readwrite!(
            uapi::IOC_MAGIC,
            uapi::IOC_NR_SUBMIT,
            std::mem::size_of::<uapi::Submit>()
        );
        assert_eq!(submit as u32, uapi::IOC_SUBMIT);
    }

    #[test]
    fn every_ioctl_name_maps_to_its_number() {
        for nr in 0..=uapi::IOC_NR_POWER_SET {
            let names = [
                "GET_INFO",
                "BUFFER_CREATE",
                "BUFFER_INFO",
                "BUFFER_DESTROY",
                "QUERY",
                "QUEUE_CREATE",
                "QUEUE_DESTROY",
                "SUBMIT",
                "WAIT",
                "EXECUTOR_REGISTER",
                "JOB_FETCH",
                "JOB_COMPLETE",
                "ROUTE_SET",
                "BUFFER_EXPORT",
                "BUFFER_IMPORT",
                "EVENT_WAIT",
                "SPIKE_QUEUE_CREATE",
                "SPIKE_QUEUE_DESTROY",
                "SPIKE_WAIT",
                "SPIKE_NOTIFY",
                "SPIKE_QUEUE_EXPORT",
                "SPIKE_QUEUE_IMPORT",
                "POWER_SET",
            ];
            assert_eq!(ioctl_nr(names[nr as usize]), Some(nr));
        }
        assert_eq!(ioctl_nr("spike push"), None);
    }

    #[test]
    fn no_reason_without_a_lightos_context() {
        let null = std::fs::File::open("/dev/null").unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&null);
        assert_eq!(rejection_reason(fd, "SUBMIT", Errno::EINVAL), None);
    }
}
