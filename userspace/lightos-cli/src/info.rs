//! `lightos info`: what the kernel module says about itself.

use lightos_runtime::{Context, ModuleInfo, Quota, QuotaUsage, Result};
use std::path::Path;

/// Opens `device`, asks for its info and prints it as text or JSON.
pub fn run(device: &Path, json: bool) -> Result<()> {
    let dev = Context::open_path(device)?;
    let info = dev.info()?;
    // A module before ABI 1.9 has no quotas to show.
    let quota = dev.quota().ok();
    if json {
        println!("{}", to_json(device, &info, quota.as_ref()));
    } else {
        print!("{}", to_text(device, &info, quota.as_ref()));
    }
    Ok(())
}

fn to_json(device: &Path, info: &ModuleInfo, quota: Option<&Quota>) -> serde_json::Value {
    let usage = |u: &QuotaUsage| serde_json::json!({ "used": u.used, "quota": u.quota });
    let quota = quota.map(|q| {
        serde_json::json!({
            "uid": q.uid,
            "exempt": q.exempt,
            "buffer_bytes": usage(&q.buffer_bytes),
            "buffers": usage(&q.buffers),
            "queues": usage(&q.queues),
            "jobs": usage(&q.jobs),
            "spike_queues": usage(&q.spike_queues),
        })
    });
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
        "quota": quota,
    })
}

fn to_text(device: &Path, info: &ModuleInfo, quota: Option<&Quota>) -> String {
    let caps = info.capability_names();
    let quota = quota.map_or_else(String::new, |q| {
        let u = |u: &QuotaUsage| format!("{}/{}", u.used, u.quota);
        format!(
            "quota            uid={}{} buffer_bytes={} buffers={} queues={} jobs={} spike_queues={}\n",
            q.uid,
            if q.exempt { " (exempt)" } else { "" },
            u(&q.buffer_bytes),
            u(&q.buffers),
            u(&q.queues),
            u(&q.jobs),
            u(&q.spike_queues),
        )
    });
    let text = format!(
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
    );
    text + &quota
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
        let text = to_text(Path::new("/dev/lightos"), &sample(), None);
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
        let v = to_json(Path::new("/dev/lightos"), &sample(), None);
        assert_eq!(v["abi"]["major"], 1);
        assert_eq!(v["capabilities"][0], "fdinfo");
        assert_eq!(v["limits"]["max_contexts"], 4096);
        assert_eq!(v["limits"]["max_buffers_per_context"], 4096);
        assert_eq!(v["context_id"], 7);
        assert!(v["quota"].is_null());
    }

    #[test]
    fn quota_is_shown_as_used_over_quota() {
        let q = Quota {
            uid: 1000,
            exempt: false,
            buffers: QuotaUsage {
                used: 3,
                quota: 1024,
            },
            ..Default::default()
        };
        let text = to_text(Path::new("/dev/lightos"), &sample(), Some(&q));
        assert!(
            text.contains("quota            uid=1000 buffer_bytes=0/0"),
            "{text}"
        );
        assert!(text.contains("buffers=3/1024"), "{text}");
        let v = to_json(Path::new("/dev/lightos"), &sample(), Some(&q));
        assert_eq!(v["quota"]["uid"], 1000);
        assert_eq!(v["quota"]["buffers"]["used"], 3);
        assert_eq!(v["quota"]["buffers"]["quota"], 1024);
    }
}
