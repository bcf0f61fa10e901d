//! The raw ioctl calls, generated from the ABI in `lightos-uapi`. Private: callers use [`crate::Device`].

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
    }
}
