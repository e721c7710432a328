//! The worker sandbox: each engine worker confines its own thread (never the host's other
//! threads: no TSYNC) before ONNX Runtime starts there. Threads ORT spawns from it inherit it.
//!
//! Two layers on Linux:
//! - seccomp-bpf: syscalls that create, change or remove files, open sockets, run programs, trace
//!   or share memory through the kernel fail with EPERM (the rest of the process is untouched).
//! - Landlock (where the kernel has it): the file system becomes read-only and TCP bind/connect
//!   are refused for this thread, as a second, path-based wall.

use serde::Serialize;

/// What the worker got, for the receipt and for [`crate::Engine::sandbox`].
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SandboxState {
    pub enforced: bool,
    pub mechanisms: Vec<String>,
    /// Why it is not (fully) enforced, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl SandboxState {
    pub fn off(reason: impl Into<String>) -> Self {
        SandboxState { enforced: false, mechanisms: Vec::new(), reason: Some(reason.into()) }
    }
}

/// Confines the calling thread. Call first thing on a worker thread. An `Err` means seccomp
/// could not be installed, and the engine refuses to start rather than run unconfined.
#[cfg(target_os = "linux")]
pub fn enter() -> Result<SandboxState, String> {
    let mut mechanisms = Vec::new();
    let mut notes = Vec::new();
    // Landlock first: its own syscalls must not be what seccomp blocks.
    match landlock_layer() {
        Ok(Some(m)) => mechanisms.push(m),
        Ok(None) => notes.push("Landlock is not available in this kernel (seccomp still applies)".to_string()),
        Err(e) => notes.push(format!("Landlock could not be applied: {e} (seccomp still applies)")),
    }
    seccomp_layer()?;
    mechanisms.insert(0, "seccomp-bpf (worker threads only)".to_string());
    Ok(SandboxState { enforced: true, mechanisms, reason: (!notes.is_empty()).then(|| notes.join("; ")) })
}

#[cfg(not(target_os = "linux"))]
pub fn enter() -> Result<SandboxState, String> {
    Ok(SandboxState::off(format!(
        "no worker sandbox on {}: lichtbild enforces it with seccomp and Landlock, which only Linux has",
        std::env::consts::OS
    )))
}

#[cfg(target_os = "linux")]
fn seccomp_layer() -> Result<(), String> {
    use std::sync::OnceLock;
    static PROGRAM: OnceLock<Result<seccompiler::BpfProgram, String>> = OnceLock::new();
    let prog = PROGRAM.get_or_init(build_filter).as_ref().map_err(Clone::clone)?;
    // apply_filter sets no_new_privs and installs for this thread only (flags 0, not TSYNC).
    seccompiler::apply_filter(prog).map_err(|e| format!("seccomp: {e}"))
}

#[cfg(target_os = "linux")]
fn build_filter() -> Result<seccompiler::BpfProgram, String> {
    use seccompiler::{SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule};
    use std::collections::BTreeMap;

    let arch: seccompiler::TargetArch = std::env::consts::ARCH.try_into().map_err(|e| format!("seccomp: {e:?}"))?;
    // Any of these open flags means "write, create or change": refused.
    const WRITE_FLAGS: [i32; 5] = [libc::O_WRONLY, libc::O_RDWR, libc::O_CREAT, libc::O_TRUNC, libc::O_APPEND];
    let flag_rules = |arg: u8| -> Result<Vec<SeccompRule>, String> {
        WRITE_FLAGS
            .iter()
            .map(|&f| {
                let c = SeccompCondition::new(arg, Len::Dword, SeccompCmpOp::MaskedEq(f as u64), f as u64).map_err(|e| e.to_string())?;
                SeccompRule::new(vec![c]).map_err(|e| e.to_string())
            })
            .collect()
    };

    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    rules.insert(libc::SYS_openat, flag_rules(2)?);
    #[cfg(target_arch = "x86_64")]
    rules.insert(libc::SYS_open, flag_rules(1)?);
    // Refused whatever the arguments (an empty rule list matches every call).
    let always: &[i64] = &[
        // openat2 hides its flags in a struct seccomp cannot read.
        libc::SYS_openat2,
        libc::SYS_unlinkat,
        libc::SYS_renameat,
        libc::SYS_renameat2,
        libc::SYS_linkat,
        libc::SYS_symlinkat,
        libc::SYS_mkdirat,
        libc::SYS_mknodat,
        libc::SYS_fchmod,
        libc::SYS_fchmodat,
        libc::SYS_fchown,
        libc::SYS_fchownat,
        libc::SYS_truncate,
        libc::SYS_ftruncate,
        libc::SYS_fallocate,
        libc::SYS_name_to_handle_at,
        libc::SYS_open_by_handle_at,
        libc::SYS_socket,
        libc::SYS_socketpair,
        libc::SYS_connect,
        libc::SYS_bind,
        libc::SYS_listen,
        libc::SYS_accept,
        libc::SYS_accept4,
        libc::SYS_sendto,
        libc::SYS_sendmsg,
        libc::SYS_sendmmsg,
        libc::SYS_execve,
        libc::SYS_execveat,
        libc::SYS_ptrace,
        libc::SYS_process_vm_writev,
        libc::SYS_process_vm_readv,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_memfd_create,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_setns,
        libc::SYS_unshare,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_kexec_load,
    ];
    #[cfg(target_arch = "x86_64")]
    let legacy: &[i64] = &[
        libc::SYS_creat,
        libc::SYS_unlink,
        libc::SYS_rename,
        libc::SYS_link,
        libc::SYS_symlink,
        libc::SYS_mkdir,
        libc::SYS_rmdir,
        libc::SYS_mknod,
        libc::SYS_chmod,
        libc::SYS_chown,
        libc::SYS_lchown,
        libc::SYS_fork,
        libc::SYS_vfork,
    ];
    #[cfg(not(target_arch = "x86_64"))]
    let legacy: &[i64] = &[];
    for &nr in always.iter().chain(legacy) {
        rules.insert(nr, Vec::new());
    }
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch)
        .map_err(|e| format!("seccomp filter: {e}"))?;
    filter.try_into().map_err(|e: seccompiler::BackendError| format!("seccomp filter: {e}"))
}

/// Read-only file system and no TCP for this thread. `Ok(None)` when the kernel has no Landlock.
#[cfg(target_os = "linux")]
pub(crate) fn landlock_layer() -> Result<Option<String>, String> {
    use landlock::{
        path_beneath_rules, Access, AccessFs, AccessNet, CompatLevel, Compatible, LandlockStatus, Ruleset, RulesetAttr,
        RulesetCreatedAttr, RulesetStatus, ABI,
    };
    let abi = ABI::V5;
    let status = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))
        .and_then(|r| r.handle_access(AccessNet::from_all(abi)))
        .and_then(|r| r.create())
        .and_then(|r| r.add_rules(path_beneath_rules(["/"], AccessFs::from_read(abi))))
        .and_then(|r| r.restrict_self())
        .map_err(|e| e.to_string())?;
    let abi = match status.landlock {
        LandlockStatus::Available { effective_abi, .. } => effective_abi as i32,
        _ => return Ok(None),
    };
    Ok(match status.ruleset {
        RulesetStatus::NotEnforced => None,
        RulesetStatus::FullyEnforced => Some(format!("landlock ABI {abi} (read-only file system, no TCP)")),
        RulesetStatus::PartiallyEnforced => Some(format!("landlock ABI {abi} (read-only file system; partially enforced by this kernel)")),
    })
}

/// What each forbidden operation returns on the calling thread, for [`crate::Engine::self_check`].
/// Every probe uses arguments that make it harmless when it is *not* blocked (a bad fd, a missing
/// program), so the answer is EPERM inside the sandbox and something else outside.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Probe {
    pub operation: &'static str,
    /// `"EPERM"`/`"EACCES"` when refused; `"ok"` or another errno name otherwise.
    pub result: String,
    pub blocked: bool,
}

#[cfg(target_os = "linux")]
pub fn probe(scratch_dir: &std::path::Path) -> Vec<Probe> {
    use std::ffi::CString;
    fn errno_name(e: i32) -> String {
        match e {
            libc::EPERM => "EPERM".into(),
            libc::EACCES => "EACCES".into(),
            libc::ENOENT => "ENOENT".into(),
            libc::EBADF => "EBADF".into(),
            libc::EINVAL => "EINVAL".into(),
            libc::EFAULT => "EFAULT".into(),
            libc::ESRCH => "ESRCH".into(),
            libc::ENOSYS => "ENOSYS".into(),
            e => format!("errno {e}"),
        }
    }
    fn outcome(operation: &'static str, rc: i64) -> Probe {
        let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        let (result, blocked) = if rc >= 0 { ("ok".to_string(), false) } else { (errno_name(e), e == libc::EPERM || e == libc::EACCES) };
        Probe { operation, result, blocked }
    }
    let unique = format!("lichtbild-probe-{}-{:?}", std::process::id(), std::thread::current().id()).replace(['(', ')'], "");
    let file = CString::new(scratch_dir.join(&unique).into_os_string().into_encoded_bytes()).unwrap_or_default();
    let dir = CString::new(scratch_dir.join(format!("{unique}.d")).into_os_string().into_encoded_bytes()).unwrap_or_default();
    let missing = CString::new("/nonexistent/lichtbild-probe").unwrap_or_default();
    let mut out = Vec::new();
    // SAFETY: plain syscalls with valid C strings or deliberately invalid fds/pointers the kernel
    // rejects; anything created is removed again at once.
    unsafe {
        let fd = libc::open(file.as_ptr(), libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC, 0o600);
        out.push(outcome("create a file", fd as i64));
        if fd >= 0 {
            libc::close(fd);
            libc::unlink(file.as_ptr());
        }
        let rc = libc::mkdir(dir.as_ptr(), 0o700);
        out.push(outcome("make a directory", rc as i64));
        if rc == 0 {
            libc::rmdir(dir.as_ptr());
        }
        let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        out.push(outcome("open a TCP socket", s as i64));
        if s >= 0 {
            libc::close(s);
        }
        let s = libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        out.push(outcome("open a local socket", s as i64));
        if s >= 0 {
            libc::close(s);
        }
        out.push(outcome("connect", libc::connect(-1, std::ptr::null(), 0) as i64));
        out.push(outcome("unlink", libc::unlink(missing.as_ptr()) as i64));
        let argv = [missing.as_ptr(), std::ptr::null()];
        out.push(outcome("run a program", libc::execve(missing.as_ptr(), argv.as_ptr(), std::ptr::null()) as i64));
        let m = libc::syscall(libc::SYS_memfd_create, c"lichtbild-probe".as_ptr(), libc::MFD_CLOEXEC);
        out.push(outcome("create a memory file", m));
        if m >= 0 {
            libc::close(m as i32);
        }
        out.push(outcome("io_uring", libc::syscall(libc::SYS_io_uring_setup, 0u32, std::ptr::null_mut::<libc::c_void>())));
        out.push(outcome("ptrace", libc::ptrace(libc::PTRACE_PEEKDATA, 0, std::ptr::null_mut::<libc::c_void>(), std::ptr::null_mut::<libc::c_void>())));
        out.push(outcome("truncate", libc::truncate(missing.as_ptr(), 0) as i64));
    }
    out
}

#[cfg(not(target_os = "linux"))]
pub fn probe(_scratch_dir: &std::path::Path) -> Vec<Probe> {
    Vec::new()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn on_fresh_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(f).join().unwrap()
    }

    #[test]
    fn seccomp_blocks_the_worker_thread_only() {
        let dir = std::env::temp_dir();
        let d = dir.clone();
        let (state, inside) = on_fresh_thread(move || {
            let s = enter().expect("sandbox");
            // A thread spawned from the sandboxed thread inherits the filter (like ORT's threads).
            let child = std::thread::spawn(move || probe(&d)).join().unwrap();
            (s, child)
        });
        assert!(state.enforced);
        assert!(state.mechanisms[0].starts_with("seccomp"));
        for p in &inside {
            assert!(p.blocked, "{} not blocked inside: {}", p.operation, p.result);
        }
        // The calling (host) thread is untouched: the same operations are not refused here.
        let outside = probe(&dir);
        for p in &outside {
            assert!(!p.blocked, "{} blocked outside the sandbox: {}", p.operation, p.result);
        }
        assert_eq!(outside[0], Probe { operation: "create a file", result: "ok".into(), blocked: false });
        assert_eq!(outside[2].result, "ok", "TCP socket outside");
    }

    #[test]
    fn reading_still_works_inside() {
        let ok = on_fresh_thread(|| {
            enter().unwrap();
            std::fs::read("/proc/self/status").is_ok() && std::fs::metadata("/").is_ok()
        });
        assert!(ok);
    }

    #[test]
    fn landlock_alone_makes_the_file_system_read_only() {
        let dir = std::env::temp_dir().join(format!("lichtbild-landlock-{}", std::process::id()));
        let d = dir.clone();
        let r = on_fresh_thread(move || {
            let m = landlock_layer().unwrap();
            (m, std::fs::write(&d, b"x").map_err(|e| e.raw_os_error()), std::fs::read("/proc/self/status").is_ok())
        });
        match r.0 {
            None => eprintln!("kernel without Landlock: layer reported as absent (checked by enter())"),
            Some(m) => {
                assert!(m.starts_with("landlock"), "{m}");
                assert_eq!(r.1, Err(Some(libc::EACCES)), "a write must be refused by Landlock alone");
                assert!(r.2);
            }
        }
        // Outside the thread, the same write works.
        std::fs::write(&dir, b"x").unwrap();
        std::fs::remove_file(&dir).unwrap();
    }
}
