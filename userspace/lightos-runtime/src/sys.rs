//! The raw ioctl calls, generated from the ABI in `lightos-uapi`. Private: callers use [`crate::Context`].

use lightos_uapi as uapi;

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
}
