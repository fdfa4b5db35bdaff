//! The real calls on this very test process.

use netorch_memory::{executable_resident_bytes, release_startup_memory};

/// Something to run after the release, so that code is faulted back in and must still be right.
fn work() -> String {
    let v: Vec<String> = (0..2000).map(|i| format!("{i:x}")).collect();
    v.join(",")
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn releasing_drops_the_executables_resident_pages_and_the_process_keeps_working() {
    let expected = work();
    let before = executable_resident_bytes();
    assert!(before > 0, "a running test binary has resident code");
    let released = release_startup_memory();
    assert!(released.executable_bytes > 0, "{released:?}");
    let after = executable_resident_bytes();
    assert!(
        after < before,
        "resident executable bytes went from {before} to {after}"
    );
    // Code and constants come back from the page cache on use, unchanged.
    assert_eq!(work(), expected);
    let big: Vec<u8> = vec![7; 1 << 20];
    drop(big);
    let _ = release_startup_memory();
    assert_eq!(work(), expected);
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn glibc_takes_the_pinned_mmap_threshold_and_allocations_on_both_sides_work() {
    assert!(netorch_memory::pin_mmap_threshold(128 * 1024));
    // Allocations on either side of the threshold still work.
    let small = vec![1_u8; 64 * 1024];
    let large = vec![2_u8; 4 << 20];
    assert_eq!(small.iter().map(|&b| u64::from(b)).sum::<u64>(), 64 * 1024);
    assert_eq!(large.iter().map(|&b| u64::from(b)).sum::<u64>(), 8 << 20);
}
