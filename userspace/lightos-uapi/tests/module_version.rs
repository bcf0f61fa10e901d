//! The kernel module reports its version through GET_INFO; it must be the workspace's version.

#[test]
fn kernel_module_version_equals_the_workspace_version() {
    let root = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../kernel/lightos_core/lightos_core.rs"
    );
    let src = std::fs::read_to_string(root).unwrap();
    let line = src
        .lines()
        .find(|l| l.contains("pub const MODULE_VERSION: &str"))
        .expect("MODULE_VERSION");
    let version = line.split('"').nth(1).expect("a quoted version");
    assert_eq!(
        version,
        env!("CARGO_PKG_VERSION"),
        "bump kernel/lightos_core/lightos_core.rs with Cargo.toml"
    );
}
