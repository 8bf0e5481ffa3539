//! Decoded image folders cached on disk, so the second run over a large folder starts in seconds.
//! The key is a hash of every image file's relative path, size and modification time, and of
//! --image-size / --channels: a folder that changes (files added, removed, edited) gets a new key
//! and is decoded again, never served stale. A cache file that does not read back whole is
//! rebuilt with a warning. Location: $GANGPU_CACHE_DIR, else $XDG_CACHE_HOME/gangpu, else
//! ~/.cache/gangpu (README: how to clear it).

use super::dataset::Dataset;
use anyhow::{bail, ensure, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"GANGPUC1";

/// Where cached data sets live.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("GANGPU_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(d).join("gangpu"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("gangpu"))
}

/// FNV-1a, 64 bits: stable across builds (the key must not change with the Rust version).
fn fnv(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= *b as u64;
        *h = h.wrapping_mul(0x100000001b3);
    }
}

/// The cache key of `files` under `dir` decoded at `size` x `size` with `channels`.
pub fn key(dir: &Path, files: &[PathBuf], size: usize, channels: usize) -> Result<String> {
    let mut h = 0xcbf29ce484222325u64;
    fnv(&mut h, format!("v1 {size} {channels} {}", files.len()).as_bytes());
    for f in files {
        let meta = std::fs::metadata(f).with_context(|| format!("reading {}", f.display()))?;
        let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
        let rel = f.strip_prefix(dir).unwrap_or(f);
        fnv(&mut h, format!("{}\0{}\0{}\n", rel.display(), meta.len(), mtime).as_bytes());
    }
    Ok(format!("{h:016x}-{size}px-{channels}ch"))
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u64(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Writes `ds` under `key` (atomically: a temp file, then rename).
pub fn store(dir: &Path, key: &str, ds: &Dataset) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating the cache folder {}", dir.display()))?;
    let mut out = Vec::with_capacity(ds.pixels.len() + 4096);
    out.extend_from_slice(MAGIC);
    for v in [ds.count, ds.channels, ds.size] {
        put_u64(&mut out, v as u64);
    }
    match &ds.labels {
        Some(l) => {
            put_u64(&mut out, l.len() as u64);
            out.extend_from_slice(l);
        }
        None => put_u64(&mut out, u64::MAX),
    }
    put_u64(&mut out, ds.class_names.len() as u64);
    for n in &ds.class_names {
        put_str(&mut out, n);
    }
    put_u64(&mut out, ds.skipped.len() as u64);
    for n in &ds.skipped {
        put_str(&mut out, n);
    }
    put_str(&mut out, &ds.source);
    put_u64(&mut out, ds.pixels.len() as u64);
    out.extend_from_slice(&ds.pixels);
    let path = dir.join(format!("{key}.bin"));
    let tmp = path.with_extension("bin.tmp");
    let mut f = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(&out).with_context(|| format!("writing {}", tmp.display()))?;
    f.sync_all().ok();
    std::fs::rename(&tmp, &path).with_context(|| format!("moving {} into place", tmp.display()))?;
    prune(dir, KEEP);
    Ok(path)
}

/// Cached data sets kept; older ones (by modification time) are deleted when a new one is stored.
pub const KEEP: usize = 16;

fn prune(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    for (_, p) in files.into_iter().skip(keep) {
        let _ = std::fs::remove_file(p);
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        ensure!(self.at.checked_add(n).is_some_and(|end| end <= self.b.len()), "truncated");
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into()?))
    }
    fn len(&mut self) -> Result<usize> {
        let v = self.u64()?;
        ensure!(v <= self.b.len() as u64, "length past the end");
        Ok(v as usize)
    }
    fn string(&mut self) -> Result<String> {
        let n = self.len()?;
        Ok(String::from_utf8(self.take(n)?.to_vec())?)
    }
}

/// Reads the data set cached under `key`: Ok(None) when there is none; an error when the file
/// is there but does not read back whole (the caller rebuilds it).
pub fn load(dir: &Path, key: &str, size: usize, channels: usize) -> Result<Option<Dataset>> {
    let path = dir.join(format!("{key}.bin"));
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut r = Reader { b: &bytes, at: 0 };
    if r.take(8)? != MAGIC {
        bail!("{} is not a gangpu data cache", path.display());
    }
    let (count, ch, sz) = (r.len()?, r.len()?, r.len()?);
    ensure!(ch == channels && sz == size, "cache holds {ch} channels at {sz}px, not {channels} at {size}px");
    let labels = match r.u64()? {
        u64::MAX => None,
        n => {
            ensure!(n as usize == count, "{n} labels for {count} images");
            Some(r.take(n as usize)?.to_vec())
        }
    };
    let classes = r.len()?;
    let class_names = (0..classes).map(|_| r.string()).collect::<Result<Vec<_>>>()?;
    let skips = r.len()?;
    let skipped = (0..skips).map(|_| r.string()).collect::<Result<Vec<_>>>()?;
    let source = r.string()?;
    let n = r.len()?;
    ensure!(n == count * channels * size * size, "{n} pixel bytes for {count} images");
    let pixels = r.take(n)?.to_vec();
    ensure!(r.at == bytes.len(), "trailing bytes");
    Ok(Some(Dataset { count, channels, size, pixels, labels, source, skipped, class_names }))
}
