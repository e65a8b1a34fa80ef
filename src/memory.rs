//! The C allocator's tuning (glibc). Two habits of glibc cost a chat node memory it never gives back:
//! it raises its mmap threshold after large frees, so the 19 MiB argon2 buffers of password hashing
//! end up in per-thread arenas (64 parallel logins grew a node by 500 MiB); and it keeps freed heap
//! inside its arenas, so a burst (thousands of sockets connecting and resuming at once, each reading
//! the database) leaves the node at its peak size: 395 MiB for 10 000 sockets on PostgreSQL, of which
//! a `malloc_trim` returned 223 MiB (docs/benchmarks.md).

use std::time::{Duration, Instant};

/// Free heap worth returning to the system.
const TRIM_ABOVE: usize = 16 * 1024 * 1024;

/// A fixed threshold keeps every allocation of 4 MiB or more in its own mapping, unmapped on free.
/// Call once, before any thread starts.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    }
}

/// What one trim did.
#[derive(Debug, Clone, Copy)]
pub struct Trimmed {
    pub free_before: usize,
    pub free_after: usize,
    pub took: Duration,
}

/// Bytes free inside the allocator's arenas (held, not in use).
pub fn free_heap() -> usize {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads allocator statistics.
        unsafe { libc::mallinfo2().fordblks }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    0
}

/// Bytes of heap in use by the program: arena chunks handed out plus chunks in their own mappings.
pub fn heap_in_use() -> usize {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads allocator statistics.
        let info = unsafe { libc::mallinfo2() };
        info.uordblks + info.hblkhd
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    0
}

/// Returns free heap to the system if there is at least `above` bytes of it.
pub fn trim_if_above(above: usize) -> Option<Trimmed> {
    let free_before = free_heap();
    if free_before < above {
        return None;
    }
    let started = Instant::now();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
    Some(Trimmed { free_before, free_after: free_heap(), took: started.elapsed() })
}

/// Checks every `every` on a thread of its own and trims when the free heap has grown by 16 MiB since
/// the last trim. Trimmed pages still count as free in the allocator's books, so the trigger is growth,
/// not size: a trim walks the arenas under their locks (27–270 ms for a 220 MiB heap here), which is
/// worth it once after a burst, not every few seconds.
pub fn start_trimmer(every: Duration) {
    let spawned = std::thread::Builder::new().name("heap-trim".into()).spawn(move || {
        let mut baseline = 0usize;
        loop {
            std::thread::sleep(every);
            baseline = baseline.min(free_heap());
            if let Some(t) = trim_if_above(baseline.saturating_add(TRIM_ABOVE)) {
                baseline = t.free_after;
                tracing::debug!(
                    free_before_mib = t.free_before / (1024 * 1024),
                    took_ms = t.took.as_secs_f64() * 1000.0,
                    "returned free heap to the system"
                );
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the heap trimmer; freed memory stays with the process");
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    fn rss_kib() -> usize {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    #[test]
    fn heap_freed_after_a_burst_goes_back_to_the_system() {
        // A burst: 200 MiB in 1 KiB blocks, of which every 64th stays (so the heap cannot shrink from
        // its top by itself), the rest freed.
        let mut blocks: Vec<Vec<u8>> = (0..200 * 1024).map(|i| vec![i as u8; 1024]).collect();
        let kept: Vec<Vec<u8>> = blocks.iter().step_by(64).cloned().collect();
        blocks.clear();
        blocks.shrink_to_fit();
        let before = rss_kib();
        let trimmed = trim_if_above(TRIM_ABOVE).expect("over 16 MiB lies free after the burst");
        let after = rss_kib();
        assert!(trimmed.free_before >= 100 * 1024 * 1024, "{trimmed:?}");
        assert!(before - after >= 100 * 1024, "RSS {before} KiB -> {after} KiB after {trimmed:?}");
        assert_eq!(kept.len(), 3200);
        assert!(trim_if_above(usize::MAX).is_none(), "nothing to do below the threshold");
    }
}
