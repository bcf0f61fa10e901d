//! `lightos info`: what the kernel module says about itself.

use lightos_runtime::{Context, ModuleInfo, Result};
use std::path::Path;

/// Opens `device`, asks for its info and prints it as text or JSON.
pub fn run(device: &Path, json: bool) -> Result<()> {
    let dev = Context::open_path(device)?;
    let info = dev.info()?;
    if json {
        println!("{}", to_json(device, &info));
    } else {
        print!("{}", to_text(device, &info));
    }
    Ok(())
}

fn to_json(device: &Path, info: &ModuleInfo) -> serde_json::Value {
    serde_json::json!({
        "device": device.display().to_string(),
        "module_version": info.module_version,
        "abi": { "major": info.abi_major, "minor": info.abi_minor },
        "capabilities": info.capability_names(),
        "capability_bits": info.capabilities,
        "context_id": info.context_id,
        "open_contexts": info.open_contexts,
        "limits": {
            "max_contexts": info.max_contexts,
            "max_buffer_size": info.max_buffer_size,
            "max_buffer_bytes": info.max_buffer_bytes,
            "max_buffers_per_context": info.max_buffers_per_context,
        },
    })
}

fn to_text(device: &Path, info: &ModuleInfo) -> String {
    let caps = info.capability_names();
    format!(
        "LightOS device   {}\n\
         module version   {}\n\
         ABI              {}.{}\n\
         capabilities     {:#x} [{}]\n\
         context          {} ({} open module-wide)\n\
         limits           max_contexts={} max_buffers_per_context={} max_buffer_size={} MiB \
         max_buffer_bytes={} MiB\n",
        device.display(),
        info.module_version,
        info.abi_major,
        info.abi_minor,
        info.capabilities,
        if caps.is_empty() {
            "none".to_string()
        } else {
            caps.join(", ")
        },
        info.context_id,
        info.open_contexts,
        info.max_contexts,
        info.max_buffers_per_context,
        info.max_buffer_size >> 20,
        info.max_buffer_bytes >> 20,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ModuleInfo {
        ModuleInfo {
            abi_major: 1,
            abi_minor: 0,
            capabilities: 1,
            context_id: 7,
            open_contexts: 2,
            max_contexts: 4096,
            module_version: "0.1.0".into(),
            max_buffer_size: 256 << 20,
            max_buffer_bytes: 1 << 30,
            max_buffers_per_context: 4096,
        }
    }

    #[test]
    fn text_output_names_every_field() {
        let text = to_text(Path::new("/dev/lightos"), &sample());
        for needle in [
            "/dev/lightos",
            "0.1.0",
            "ABI              1.0",
            "[fdinfo]",
            "context          7 (2 open",
            "max_contexts=4096",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }

    #[test]
    fn json_output_is_structured() {
        let v = to_json(Path::new("/dev/lightos"), &sample());
        assert_eq!(v["abi"]["major"], 1);
        assert_eq!(v["capabilities"][0], "fdinfo");
        assert_eq!(v["limits"]["max_contexts"], 4096);
        assert_eq!(v["limits"]["max_buffers_per_context"], 4096);
        assert_eq!(v["context_id"], 7);
    }
}
