//! Progress on long work, on stderr and only on a terminal that is not `TERM=dumb`: scripts,
//! logs, `--json` and the tests see none (indicatif's hidden bars cost nothing).

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

fn shown(json: bool) -> bool {
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    !json && !dumb && std::io::stderr().is_terminal()
}

/// A bar of `len` steps labelled `prefix`.
pub fn bar(len: u64, prefix: &str, json: bool) -> ProgressBar {
    if !shown(json) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(prefix.to_string());
    bar
}

/// A spinner with the elapsed time, labelled `prefix`, saying `msg`.
pub fn spinner(prefix: &str, msg: &str, json: bool) -> ProgressBar {
    if !shown(json) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("  {spinner} {prefix:<12} {msg} {elapsed}") {
        bar.set_style(style);
    }
    bar.set_prefix(prefix.to_string());
    bar.set_message(msg.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
