//! What `/proc` says of a process. Std only: the shim includes this file too.

/// True if `pid` is a live process named `comm` (a zombie, waiting for a slow
/// reaper, is not: it holds nothing any more).
pub fn process_alive(pid: u32, comm: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // Field 2 is the command in parentheses; field 3 the state (Z: a zombie is gone).
    let after = stat
        .rsplit_once(')')
        .map(|(_, r)| r.trim_start())
        .unwrap_or("");
    stat.contains(&format!("({comm})")) && !after.starts_with('Z')
}
