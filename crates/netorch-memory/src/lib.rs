//! Returns start-up-only memory to the operating system (see the README for what and why).

/// What [`release_startup_memory`] gave back.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    /// Resident bytes of the executable's read-only mappings whose page-table entries were
    /// dropped (the pages stay in the page cache).
    pub executable_bytes: u64,
    /// Whether glibc returned any free heap memory.
    pub heap_trimmed: bool,
}

/// Trims the heap and unmaps the resident pages of the executable's read-only segments, to be
/// called once start-up is over. Failures are not errors: whatever could not be released stays
/// resident, exactly as if this had not been called.
pub fn release_startup_memory() -> Released {
    imp::release()
}

/// Pins glibc's mmap threshold at `bytes`: allocations of that size or more get their own
/// mapping, returned to the system when freed. glibc otherwise raises the threshold each time such
/// a block is freed (up to 32 MiB), after which large transient allocations — argon2's 19 MiB per
/// password check, SQLite's buffers while migrating — come from the heap and stay resident.
/// The same as starting with `MALLOC_MMAP_THRESHOLD_=<bytes>`. Returns whether glibc accepted it
/// (always `false` off Linux/glibc).
pub fn pin_mmap_threshold(bytes: i32) -> bool {
    imp::pin_mmap_threshold(bytes)
}

/// The resident bytes of the executable's read-only, purely file-backed mappings: what
/// [`release_startup_memory`] would give back now.
pub fn executable_resident_bytes() -> u64 {
    imp::executable_mappings()
        .iter()
        .map(|m| m.resident_bytes)
        .sum()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    use super::Released;

    /// One mapping of the executable that may be released.
    pub(crate) struct Mapping {
        start: usize,
        end: usize,
        pub(crate) resident_bytes: u64,
    }

    pub(crate) fn pin_mmap_threshold(bytes: i32) -> bool {
        #[expect(unsafe_code, reason = "a foreign call; its safety argument is below")]
        // SAFETY: mallopt takes the allocator's own lock and only changes the size from which
        // future allocations are mapped on their own; existing blocks are unaffected, and glibc
        // refuses (returns 0) values outside its limits.
        let rc = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, bytes) };
        rc == 1
    }

    pub(crate) fn release() -> Released {
        let mut released = Released::default();
        for m in executable_mappings() {
            let len = m.end - m.start;
            #[expect(unsafe_code, reason = "a foreign call; its safety argument is below")]
            // SAFETY: `[start, end)` is a whole, page-aligned mapping of this process's own
            // executable, read from /proc/self/smaps, that is read-only and has no anonymous
            // (copy-on-write) pages, so its contents are exactly the file's. Linux refuses writes
            // to a file that is being executed (ETXTBSY) and a replaced file keeps its inode while
            // mapped, so the file's contents are the ones already mapped. For such a private file
            // mapping MADV_DONTNEED only drops page-table entries: the next access faults the
            // same bytes back in from the page cache, also for threads executing it meanwhile.
            // No Rust reference into the range is invalidated, since its contents never change.
            let rc =
                unsafe { libc::madvise(m.start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
            if rc == 0 {
                released.executable_bytes += m.resident_bytes;
            }
        }
        #[expect(unsafe_code, reason = "a foreign call; its safety argument is below")]
        // SAFETY: malloc_trim is thread-safe (it takes each arena's lock) and only releases
        // memory that is free in glibc's own bookkeeping; no live allocation is touched.
        let trimmed = unsafe { libc::malloc_trim(0) };
        released.heap_trimmed = trimmed == 1;
        released
    }

    /// The executable's mappings that are read-only, private and without anonymous pages.
    pub(crate) fn executable_mappings() -> Vec<Mapping> {
        let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
            return Vec::new();
        };
        let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
            return Vec::new();
        };
        parse(&smaps, &exe.to_string_lossy())
    }

    /// Picks the qualifying mappings of `exe` out of an smaps text.
    pub(crate) fn parse(smaps: &str, exe: &str) -> Vec<Mapping> {
        struct Current {
            start: usize,
            end: usize,
            candidate: bool,
            rss_kb: u64,
            anonymous_kb: Option<u64>,
        }
        let mut out = Vec::new();
        let mut cur: Option<Current> = None;
        let finish = |c: Option<Current>, out: &mut Vec<Mapping>| {
            if let Some(c) = c
                && c.candidate
                && c.anonymous_kb == Some(0)
            {
                out.push(Mapping {
                    start: c.start,
                    end: c.end,
                    resident_bytes: c.rss_kb * 1024,
                });
            }
        };
        for line in smaps.lines() {
            if let Some(header) = mapping_header(line) {
                finish(cur.take(), &mut out);
                let (start, end, perms, path) = header;
                cur = Some(Current {
                    start,
                    end,
                    // Read-only and private: `r-xp` (code) or `r--p` (constants, unwind tables,
                    // and the RELRO segment — which has anonymous pages and is filtered below).
                    candidate: path == exe && (perms == "r-xp" || perms == "r--p"),
                    rss_kb: 0,
                    anonymous_kb: None,
                });
            } else if let Some(c) = cur.as_mut() {
                if let Some(v) = field_kb(line, "Rss:") {
                    c.rss_kb = v;
                } else if let Some(v) = field_kb(line, "Anonymous:") {
                    c.anonymous_kb = Some(v);
                }
            }
        }
        finish(cur.take(), &mut out);
        out
    }

    /// `start-end perms offset dev inode path` → (start, end, perms, path).
    fn mapping_header(line: &str) -> Option<(usize, usize, &str, &str)> {
        let mut it = line.splitn(6, ' ');
        let range = it.next()?;
        let (s, e) = range.split_once('-')?;
        let start = usize::from_str_radix(s, 16).ok()?;
        let end = usize::from_str_radix(e, 16).ok()?;
        let perms = it.next()?;
        if perms.len() != 4 {
            return None;
        }
        let _offset = it.next()?;
        let _dev = it.next()?;
        let _inode = it.next()?;
        let path = it.next().unwrap_or("").trim_start();
        Some((start, end, perms, path))
    }

    fn field_kb(line: &str, name: &str) -> Option<u64> {
        let rest = line.strip_prefix(name)?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    }

    #[cfg(test)]
    mod tests {
        use super::parse;

        const SMAPS: &str = "\
5555aaaa0000-5555aaab0000 r--p 00000000 fd:01 42                         /usr/bin/netorch
Rss:                  64 kB
Anonymous:             0 kB
5555aaab0000-5555aabb0000 r-xp 00010000 fd:01 42                         /usr/bin/netorch
Rss:                 900 kB
Anonymous:             0 kB
5555aabb0000-5555aabc0000 r--p 00110000 fd:01 42                         /usr/bin/netorch
Rss:                  64 kB
Anonymous:            60 kB
5555aabc0000-5555aabd0000 rw-p 00120000 fd:01 42                         /usr/bin/netorch
Rss:                  64 kB
Anonymous:            64 kB
7f0000000000-7f0000100000 r-xp 00000000 fd:01 7                          /usr/lib/libc.so.6
Rss:                 800 kB
Anonymous:             0 kB
7f0000200000-7f0000300000 rw-p 00000000 00:00 0 
Rss:                 100 kB
Anonymous:           100 kB
";

        #[test]
        fn only_the_executables_read_only_file_backed_mappings_qualify() {
            let got = parse(SMAPS, "/usr/bin/netorch");
            let ranges: Vec<_> = got
                .iter()
                .map(|m| (m.start, m.end, m.resident_bytes))
                .collect();
            assert_eq!(
                ranges,
                vec![
                    (0x5555_aaaa_0000, 0x5555_aaab_0000, 64 * 1024),
                    (0x5555_aaab_0000, 0x5555_aabb_0000, 900 * 1024),
                ],
                "the relocated RELRO segment, the writable data, libc and the heap are left alone"
            );
        }

        #[test]
        fn a_path_with_spaces_or_a_deleted_executable_still_matches_exactly() {
            let smaps = "\
1000-2000 r-xp 00000000 fd:01 42                         /opt/net orch/netorch (deleted)
Rss:                   4 kB
Anonymous:             0 kB
";
            assert_eq!(parse(smaps, "/opt/net orch/netorch (deleted)").len(), 1);
            assert!(parse(smaps, "/opt/net orch/netorch").is_empty());
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    use super::Released;

    pub(crate) struct Mapping {
        pub(crate) resident_bytes: u64,
    }

    pub(crate) fn pin_mmap_threshold(_bytes: i32) -> bool {
        false
    }

    pub(crate) fn release() -> Released {
        Released::default()
    }

    pub(crate) fn executable_mappings() -> Vec<Mapping> {
        Vec::new()
    }
}
