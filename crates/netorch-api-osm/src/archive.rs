//! Reading uploaded packages safely: tar.gz, zip (SOL004 CSAR) or a plain descriptor file.
//!
//! Everything is read in memory under hard limits (total expanded size, file count, size of one
//! file), so a decompression bomb stops at the limit instead of filling the disk. Paths are
//! normalised and refused when absolute or escaping the package (`..`); links and device entries
//! are refused. The descriptor is chosen by OSM's layout rules.

use std::{
    collections::BTreeMap,
    io::{Cursor, Read},
};

/// Package formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A gzip-compressed tar with one top-level folder (OSM packages).
    TarGz,
    /// A zip archive (SOL004 CSAR).
    Zip,
    /// A single YAML or JSON descriptor.
    Plain,
}

impl Format {
    /// From the `Content-Type` of an upload, falling back to the content's magic bytes.
    pub fn detect(content_type: Option<&str>, bytes: &[u8]) -> Format {
        match content_type
            .map(|c| {
                c.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .as_deref()
        {
            Some("application/gzip" | "application/x-gzip" | "application/x-tar+gzip") => {
                Format::TarGz
            }
            Some("application/zip" | "application/x-zip-compressed") => Format::Zip,
            _ if bytes.starts_with(&[0x1f, 0x8b]) => Format::TarGz,
            _ if bytes.starts_with(b"PK\x03\x04") => Format::Zip,
            _ => Format::Plain,
        }
    }
}

/// Limits on what an upload may expand to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Sum of all extracted file sizes.
    pub max_total: u64,
    /// Number of files.
    pub max_files: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_total: 512 * 1024 * 1024,
            max_files: 10_000,
        }
    }
}

/// Why a package was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    /// Corrupt or hostile content, or a layout OSM does not accept (400).
    #[error("{0}")]
    Invalid(String),
    /// The package expands beyond a limit (413).
    #[error("{0}")]
    TooLarge(String),
}

/// The files of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// Its format.
    pub format: Format,
    /// Files by normalised path.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The top-level folder of a tar.gz (OSM `pkg-dir`), empty otherwise.
    pub root: String,
    /// Path of the descriptor file.
    pub descriptor: String,
}

impl Package {
    /// The descriptor's bytes.
    pub fn descriptor_bytes(&self) -> &[u8] {
        self.files
            .get(&self.descriptor)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// Normalises a path inside a package; refuses absolute paths, `..`, backslashes and NULs.
pub fn safe_path(raw: &str) -> Result<String, ArchiveError> {
    let bad = |why: &str| {
        ArchiveError::Invalid(format!(
            "unsafe path in package '{}': {why}",
            raw.escape_default()
        ))
    };
    if raw.contains('\0') {
        return Err(bad("NUL character"));
    }
    if raw.contains('\\') {
        return Err(bad("backslash"));
    }
    if raw.starts_with('/') || raw.get(1..2) == Some(":") {
        return Err(bad("absolute path"));
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(bad("'..' leaves the package")),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(bad("empty path"));
    }
    Ok(parts.join("/"))
}

struct Budget {
    limits: Limits,
    total: u64,
}

impl Budget {
    /// Reads one file's content within the remaining budget.
    fn read(
        &mut self,
        name: &str,
        r: &mut dyn Read,
        files: usize,
    ) -> Result<Vec<u8>, ArchiveError> {
        if files >= self.limits.max_files {
            return Err(ArchiveError::TooLarge(format!(
                "package has more than {} files",
                self.limits.max_files
            )));
        }
        let remaining = self.limits.max_total - self.total;
        let mut buf = Vec::new();
        r.take(remaining + 1).read_to_end(&mut buf).map_err(|e| {
            ArchiveError::Invalid(format!("cannot read '{name}' from the package: {e}"))
        })?;
        if buf.len() as u64 > remaining {
            return Err(ArchiveError::TooLarge(format!(
                "package expands beyond {} bytes",
                self.limits.max_total
            )));
        }
        self.total += buf.len() as u64;
        Ok(buf)
    }
}

fn is_descriptor(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    p.ends_with(".yaml") || p.ends_with(".yml") || p.ends_with(".json")
}

fn read_tar_gz(bytes: &[u8], limits: Limits) -> Result<BTreeMap<String, Vec<u8>>, ArchiveError> {
    let gz = flate2::read::GzDecoder::new(bytes);
    let mut archive = tar::Archive::new(gz);
    let mut files = BTreeMap::new();
    let mut budget = Budget { limits, total: 0 };
    let entries = archive
        .entries()
        .map_err(|e| ArchiveError::Invalid(format!("not a tar.gz package: {e}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| ArchiveError::Invalid(format!("corrupt tar.gz package: {e}")))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).to_string();
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            safe_path(&raw)?;
            continue;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            return Err(ArchiveError::Invalid(format!(
                "links are not allowed in packages: '{}'",
                raw.escape_default()
            )));
        }
        if !kind.is_file() {
            return Err(ArchiveError::Invalid(format!(
                "only files and folders are allowed in packages: '{}'",
                raw.escape_default()
            )));
        }
        let path = safe_path(&raw)?;
        let content = budget.read(&path, &mut entry, files.len())?;
        files.insert(path, content);
    }
    Ok(files)
}

fn read_zip(bytes: &[u8], limits: Limits) -> Result<BTreeMap<String, Vec<u8>>, ArchiveError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| ArchiveError::Invalid(format!("not a zip package: {e}")))?;
    if archive.len() > limits.max_files {
        return Err(ArchiveError::TooLarge(format!(
            "package has more than {} files",
            limits.max_files
        )));
    }
    let mut files = BTreeMap::new();
    let mut budget = Budget { limits, total: 0 };
    for i in 0..archive.len() {
        let mut f = archive
            .by_index(i)
            .map_err(|e| ArchiveError::Invalid(format!("corrupt zip package: {e}")))?;
        let raw = f
            .name()
            .map_err(|e| {
                ArchiveError::Invalid(format!("unreadable file name in the zip package: {e}"))
            })?
            .to_string();
        let path = safe_path(&raw)?;
        if f.is_symlink() {
            return Err(ArchiveError::Invalid(format!(
                "links are not allowed in packages: '{}'",
                raw.escape_default()
            )));
        }
        if f.is_dir() {
            continue;
        }
        let content = budget.read(&path, &mut f, files.len())?;
        files.insert(path, content);
    }
    Ok(files)
}

/// Chooses the descriptor of a tar.gz: every entry inside one top-level folder, exactly one
/// YAML/JSON file directly in it (deeper ones are artifacts).
fn tar_layout(files: &BTreeMap<String, Vec<u8>>) -> Result<(String, String), ArchiveError> {
    let mut roots: Vec<&str> = Vec::new();
    for path in files.keys() {
        match path.split_once('/') {
            Some((root, _)) => {
                if !roots.contains(&root) {
                    roots.push(root);
                }
            }
            None => {
                return Err(ArchiveError::Invalid(
                    "All files must be inside a dir for package descriptor tar.gz".into(),
                ));
            }
        }
    }
    let [root] = roots.as_slice() else {
        return Err(ArchiveError::Invalid(format!(
            "All files must be inside one dir for package descriptor tar.gz, found {}",
            roots.len()
        )));
    };
    let candidates: Vec<&String> = files
        .keys()
        .filter(|p| p.matches('/').count() == 1 && is_descriptor(p))
        .collect();
    match candidates.as_slice() {
        [one] => Ok((root.to_string(), one.to_string())),
        [] => Err(ArchiveError::Invalid(
            "Not found any descriptor file at package descriptor tar.gz".into(),
        )),
        many => Err(ArchiveError::Invalid(format!(
            "Found more than one descriptor file at package descriptor tar.gz: {}",
            many.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Chooses the descriptor of a zip (CSAR): `Entry-Definitions` of `TOSCA-Metadata/TOSCA.meta`,
/// else the one YAML/JSON file at the root, else the one under a `Definitions` folder.
fn zip_layout(files: &BTreeMap<String, Vec<u8>>) -> Result<String, ArchiveError> {
    if let Some(meta) = files.get("TOSCA-Metadata/TOSCA.meta") {
        let text = String::from_utf8_lossy(meta);
        if let Some(entry) = text.lines().find_map(|l| {
            l.strip_prefix("Entry-Definitions:")
                .map(|v| v.trim().to_string())
        }) {
            let path = safe_path(&entry)?;
            return if files.contains_key(&path) {
                Ok(path)
            } else {
                Err(ArchiveError::Invalid(format!(
                    "TOSCA.meta names Entry-Definitions '{path}', which is not in the package"
                )))
            };
        }
    }
    let pick = |cands: Vec<&String>| -> Result<Option<String>, ArchiveError> {
        match cands.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.to_string())),
            many => Err(ArchiveError::Invalid(format!(
                "Found more than one descriptor file in the zip package: {}",
                many.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    };
    if let Some(p) = pick(
        files
            .keys()
            .filter(|p| !p.contains('/') && is_descriptor(p))
            .collect(),
    )? {
        return Ok(p);
    }
    pick(
        files
            .keys()
            .filter(|p| p.contains("Definitions/") && is_descriptor(p))
            .collect(),
    )?
    .ok_or_else(|| ArchiveError::Invalid("Not found any descriptor file in the zip package".into()))
}

/// Opens an uploaded package.
pub fn open(bytes: &[u8], format: Format, limits: Limits) -> Result<Package, ArchiveError> {
    match format {
        Format::TarGz => {
            let files = read_tar_gz(bytes, limits)?;
            let (root, descriptor) = tar_layout(&files)?;
            Ok(Package {
                format,
                files,
                root,
                descriptor,
            })
        }
        Format::Zip => {
            let files = read_zip(bytes, limits)?;
            let descriptor = zip_layout(&files)?;
            Ok(Package {
                format,
                files,
                root: String::new(),
                descriptor,
            })
        }
        Format::Plain => {
            if bytes.len() as u64 > limits.max_total {
                return Err(ArchiveError::TooLarge(format!(
                    "descriptor larger than {} bytes",
                    limits.max_total
                )));
            }
            let descriptor = "descriptor.yaml".to_string();
            Ok(Package {
                format,
                files: BTreeMap::from([(descriptor.clone(), bytes.to_vec())]),
                root: String::new(),
                descriptor,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    /// A tar.gz with raw entry names (the tar crate's builder refuses `..`, so headers are written by
    /// hand, as an attacker would).
    fn tar_gz(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            {
                let gnu = h.as_gnu_mut().expect("gnu");
                gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            }
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            if let Some(l) = link {
                h.set_link_name(l).expect("link");
            }
            h.set_cksum();
            b.append(&h, *data).expect("append");
        }
        let tar = b.into_inner().expect("tar");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).expect("gz");
        gz.finish().expect("gz")
    }

    fn file<'a>(
        name: &'a str,
        data: &'static [u8],
    ) -> (&'a str, tar::EntryType, &'static [u8], Option<&'static str>) {
        (name, tar::EntryType::Regular, data, None)
    }

    #[test]
    fn an_osm_tar_gz_package_yields_its_descriptor_and_artifacts() {
        let bytes = tar_gz(&[
            file("cirros_vnf/cirros_vnfd.yaml", b"vnfd: {}"),
            file("cirros_vnf/icons/cirros.png", b"\x89PNG"),
            file("cirros_vnf/charms/simple/metadata.yaml", b"name: simple"),
        ]);
        let p = open(
            &bytes,
            Format::detect(Some("application/gzip"), &bytes),
            Limits::default(),
        )
        .expect("open");
        assert_eq!(
            (p.root.as_str(), p.descriptor.as_str()),
            ("cirros_vnf", "cirros_vnf/cirros_vnfd.yaml")
        );
        assert_eq!(p.descriptor_bytes(), b"vnfd: {}");
        assert_eq!(p.files.len(), 3);
    }

    #[test]
    fn traversal_absolute_paths_and_links_are_refused() {
        for bad in ["pkg/../../etc/passwd", "/etc/passwd", "pkg/a\\..\\b"] {
            let bytes = tar_gz(&[file("pkg/d.yaml", b"x"), file(bad, b"x")]);
            let e = open(&bytes, Format::TarGz, Limits::default()).expect_err(bad);
            assert!(
                matches!(e, ArchiveError::Invalid(ref m) if m.contains("unsafe path")),
                "{bad}: {e}"
            );
        }
        let link = tar_gz(&[
            file("pkg/d.yaml", b"x"),
            (
                "pkg/evil",
                tar::EntryType::Symlink,
                b"",
                Some("/etc/passwd"),
            ),
        ]);
        let e = open(&link, Format::TarGz, Limits::default()).expect_err("symlink");
        assert!(e.to_string().contains("links are not allowed"), "{e}");
        let hard = tar_gz(&[
            file("pkg/d.yaml", b"x"),
            ("pkg/evil", tar::EntryType::Link, b"", Some("../../x")),
        ]);
        assert!(open(&hard, Format::TarGz, Limits::default()).is_err());
        let dev = tar_gz(&[
            file("pkg/d.yaml", b"x"),
            ("pkg/dev", tar::EntryType::Char, b"", None),
        ]);
        assert!(open(&dev, Format::TarGz, Limits::default()).is_err());
    }

    #[test]
    fn osm_layout_rules_are_enforced() {
        let flat = tar_gz(&[file("d.yaml", b"x")]);
        assert!(
            open(&flat, Format::TarGz, Limits::default())
                .expect_err("flat")
                .to_string()
                .contains("inside a dir")
        );
        let two = tar_gz(&[file("pkg/a.yaml", b"x"), file("pkg/b.yaml", b"y")]);
        assert!(
            open(&two, Format::TarGz, Limits::default())
                .expect_err("two")
                .to_string()
                .contains("more than one descriptor")
        );
        let none = tar_gz(&[file("pkg/readme.txt", b"x")]);
        assert!(
            open(&none, Format::TarGz, Limits::default())
                .expect_err("none")
                .to_string()
                .contains("Not found any descriptor")
        );
        let roots = tar_gz(&[file("a/d.yaml", b"x"), file("b/e.yaml", b"x")]);
        assert!(open(&roots, Format::TarGz, Limits::default()).is_err());
    }

    #[test]
    fn a_decompression_bomb_stops_at_the_limit() {
        // 1 GiB of zeros compresses to about 1 MiB; extraction must stop at the limit.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut h = tar::Header::new_gnu();
        h.set_path("pkg/d.yaml").expect("path");
        h.set_size(1 << 30);
        h.set_mode(0o644);
        h.set_cksum();
        gz.write_all(h.as_bytes()).expect("header");
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1024 {
            gz.write_all(&zeros).expect("zeros");
        }
        let bomb = gz.finish().expect("gz");
        assert!(bomb.len() < 4 << 20, "the bomb is small: {}", bomb.len());
        let limits = Limits {
            max_total: 64 << 20,
            max_files: 100,
        };
        let e = open(&bomb, Format::TarGz, limits).expect_err("bomb");
        assert!(matches!(e, ArchiveError::TooLarge(_)), "{e}");
        let many: Vec<(String, tar::EntryType, &[u8], Option<&str>)> = (0..20)
            .map(|i| {
                (
                    format!("pkg/f{i}"),
                    tar::EntryType::Regular,
                    b"x".as_slice(),
                    None,
                )
            })
            .collect();
        let refs: Vec<_> = many
            .iter()
            .map(|(n, k, d, l)| (n.as_str(), *k, *d, *l))
            .collect();
        let e = open(
            &tar_gz(&refs),
            Format::TarGz,
            Limits {
                max_total: 1 << 20,
                max_files: 10,
            },
        )
        .expect_err("files");
        assert!(
            matches!(e, ArchiveError::TooLarge(ref m) if m.contains("more than 10 files")),
            "{e}"
        );
    }

    #[test]
    fn corrupt_archives_are_invalid_not_panics() {
        assert!(matches!(
            open(b"\x1f\x8b\x08\x00garbage", Format::TarGz, Limits::default()),
            Err(ArchiveError::Invalid(_))
        ));
        assert!(matches!(
            open(b"PK\x03\x04garbage", Format::Zip, Limits::default()),
            Err(ArchiveError::Invalid(_))
        ));
        let mut truncated = tar_gz(&[file("pkg/d.yaml", b"vnfd: {}")]);
        truncated.truncate(truncated.len() / 2);
        assert!(open(&truncated, Format::TarGz, Limits::default()).is_err());
    }

    fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .expect("file");
            w.write_all(data).expect("write");
        }
        w.finish().expect("zip").into_inner()
    }

    #[test]
    fn a_csar_zip_finds_its_descriptor_by_tosca_meta_root_or_definitions() {
        let meta = zip(&[
            (
                "TOSCA-Metadata/TOSCA.meta",
                b"TOSCA-Meta-File-Version: 1.0\nEntry-Definitions: Definitions/vnfd.yaml\n",
            ),
            ("Definitions/vnfd.yaml", b"vnfd: {}"),
            ("Definitions/types.yaml", b"x: 1"),
        ]);
        assert_eq!(
            open(&meta, Format::detect(None, &meta), Limits::default())
                .expect("zip")
                .descriptor,
            "Definitions/vnfd.yaml"
        );
        let root = zip(&[
            ("vnfd.yaml", b"vnfd: {}"),
            ("Files/cloud-init.txt", b"#cloud-config"),
        ]);
        assert_eq!(
            open(&root, Format::Zip, Limits::default())
                .expect("zip")
                .descriptor,
            "vnfd.yaml"
        );
        let evil = zip(&[("../evil.yaml", b"x")]);
        assert!(open(&evil, Format::Zip, Limits::default()).is_err());
    }

    #[test]
    fn formats_are_detected_by_content_type_then_magic() {
        assert_eq!(
            Format::detect(Some("application/x-gzip"), b""),
            Format::TarGz
        );
        assert_eq!(Format::detect(Some("application/zip"), b""), Format::Zip);
        assert_eq!(
            Format::detect(Some("application/yaml"), b"vnfd: {}"),
            Format::Plain
        );
        assert_eq!(
            Format::detect(Some("application/binary"), b"\x1f\x8b..."),
            Format::TarGz
        );
    }

    proptest::proptest! {
        #[test]
        fn safe_paths_never_escape_the_package(raw in "[a-z./\\\\]{0,20}") {
            if let Ok(p) = safe_path(&raw) {
                proptest::prop_assert!(!p.starts_with('/'));
                proptest::prop_assert!(!p.split('/').any(|c| c == ".." || c.is_empty() || c == "."));
            }
        }
    }
}
