//! Helpers the benches share (`#[path = "support/mod.rs"] mod support;`).
//! Each bench is its own crate and uses a part of them.
#![allow(dead_code)]

/// A number from the environment (`1_000_000` and `1000000` both read),
/// or `default`.
pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// The process's peak resident memory in MiB, from /proc (Linux; NaN
/// elsewhere).
pub fn peak_memory_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}
