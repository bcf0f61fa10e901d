//! What `GET_INFO` tells about the module, in Rust types.

use lightos_uapi as uapi;

/// The module's identity, ABI version, capabilities and limits, as seen from one context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleInfo {
    /// ABI major version.
    pub abi_major: u32,
    /// ABI minor version.
    pub abi_minor: u32,
    /// `CAP_*` bits.
    pub capabilities: u64,
    /// This file descriptor's context identifier.
    pub context_id: u64,
    /// Contexts open module-wide, this one included.
    pub open_contexts: u32,
    /// The module-wide limit on open contexts.
    pub max_contexts: u32,
    /// The module's version string.
    pub module_version: String,
    /// The largest buffer object, in bytes (0 before ABI 1.1).
    pub max_buffer_size: u64,
    /// Bytes all buffer objects may hold module-wide (0 before ABI 1.1).
    pub max_buffer_bytes: u64,
    /// Buffer objects one context may hold (0 before ABI 1.1).
    pub max_buffers_per_context: u32,
}

impl ModuleInfo {
    /// Converts the kernel's reply.
    pub(crate) fn from_raw(raw: &uapi::Info) -> Self {
        let len = raw
            .module_version
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(raw.module_version.len());
        Self {
            abi_major: raw.abi_major,
            abi_minor: raw.abi_minor,
            capabilities: raw.capabilities,
            context_id: raw.context_id,
            open_contexts: raw.open_contexts,
            max_contexts: raw.max_contexts,
            module_version: String::from_utf8_lossy(&raw.module_version[..len]).into_owned(),
            max_buffer_size: raw.max_buffer_size,
            max_buffer_bytes: raw.max_buffer_bytes,
            max_buffers_per_context: raw.max_buffers_per_context,
        }
    }

    /// The names of the capability bits that are set (unknown bits as hex).
    pub fn capability_names(&self) -> Vec<String> {
        const NAMES: [(u64, &str); 17] = [
            (uapi::CAP_FDINFO, "fdinfo"),
            (uapi::CAP_BUFFERS, "buffers"),
            (uapi::CAP_DEBUGFS, "debugfs"),
            (uapi::CAP_QUERY, "query"),
            (uapi::CAP_SUBMIT, "submit"),
            (uapi::CAP_EXECUTORS, "executors"),
            (uapi::CAP_ROUTING, "routing"),
            (uapi::CAP_EXPORT, "export"),
            (uapi::CAP_THERMAL, "thermal"),
            (uapi::CAP_SPIKES, "spikes"),
            (uapi::CAP_SPIKE_SHARING, "spike-sharing"),
            (uapi::CAP_SPIKE_ENCODE, "spike-encode"),
            (uapi::CAP_POWER, "power"),
            (uapi::CAP_REASONS, "reasons"),
            (uapi::CAP_QUOTAS, "quotas"),
            (uapi::CAP_RINGS, "rings"),
            (uapi::CAP_DEPENDENCIES, "dependencies"),
        ];
        let mut names: Vec<String> = NAMES
            .iter()
            .filter(|(bit, _)| self.capabilities & bit != 0)
            .map(|(_, n)| n.to_string())
            .collect();
        let unknown = self.capabilities & !uapi::CAP_ALL;
        if unknown != 0 {
            names.push(format!("unknown({unknown:#x})"));
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_string_stops_at_the_nul() {
        let mut raw = uapi::Info::zeroed();
        raw.module_version[..5].copy_from_slice(b"1.2.3");
        raw.module_version[6] = b'x';
        assert_eq!(ModuleInfo::from_raw(&raw).module_version, "1.2.3");
    }

    #[test]
    fn version_string_without_nul_uses_the_whole_field() {
        let mut raw = uapi::Info::zeroed();
        raw.module_version = [b'a'; uapi::MODULE_VERSION_LEN];
        assert_eq!(
            ModuleInfo::from_raw(&raw).module_version.len(),
            uapi::MODULE_VERSION_LEN
        );
    }

    #[test]
    fn every_defined_capability_has_a_name() {
        let mut raw = uapi::Info::zeroed();
        raw.capabilities = uapi::CAP_ALL;
        let names = ModuleInfo::from_raw(&raw).capability_names();
        assert_eq!(names.len() as u32, uapi::CAP_ALL.count_ones(), "{names:?}");
        assert!(names.iter().all(|n| !n.starts_with("unknown")), "{names:?}");
    }

    #[test]
    fn capability_names_list_known_and_unknown_bits() {
        let mut raw = uapi::Info::zeroed();
        raw.capabilities = uapi::CAP_FDINFO | (1 << 40);
        assert_eq!(
            ModuleInfo::from_raw(&raw).capability_names(),
            vec!["fdinfo", "unknown(0x10000000000)"]
        );
    }
}
