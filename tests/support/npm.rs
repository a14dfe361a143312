//! `npm ci` for the test suites' Node.js packages (pinned by their package-lock.json),
//! run once per test process when `node_modules` lacks the package (the README's test
//! command and CI install them beforehand; this is for a bare `cargo test`).

use std::path::Path;
use std::sync::Mutex;

/// Runs `npm ci` in `dir` unless `node_modules/<package>` is there already.
pub fn ensure_installed(dir: &Path, package: &str) {
    static NPM_CI: Mutex<()> = Mutex::new(());
    let marker = dir.join("node_modules").join(package).join("package.json");
    let _guard = NPM_CI.lock().unwrap_or_else(|p| p.into_inner());
    if marker.exists() {
        return;
    }
    eprintln!(
        "[npm] {} is missing; running `npm ci` in {}",
        marker.display(),
        dir.display()
    );
    let status = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "could not run `npm ci` in {} ({e}); these tests need Node.js >= 20 and npm on \
                 PATH, or run `npm ci --prefix {}` yourself",
                dir.display(),
                dir.display()
            )
        });
    assert!(
        status.success() && marker.exists(),
        "`npm ci` in {} failed ({status}); run `npm ci --prefix {}` by hand to see why",
        dir.display(),
        dir.display()
    );
}
