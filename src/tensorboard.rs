//! TensorBoard event files: scalars and sample grids of a run, readable by `tensorboard --logdir`.
//! A small writer on the format itself (no maintained Rust crate writes images): TFRecord framing
//! (length, masked CRC-32C of the length, the record, its masked CRC-32C) around `Event` protocol
//! buffers, encoded by hand (tensorflow/core/util/event.proto, framework/summary.proto):
//!   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//!   Summary { repeated Value value = 1; }
//!   Value   { string tag = 1; float simple_value = 2; Image image = 4; }
//!   Image   { int32 height = 1; int32 width = 2; int32 colorspace = 3; bytes encoded_image_string = 4; }
//! Checked against TensorBoard's own reader by scripts/check_tensorboard.py (tests/report.rs).

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// CRC-32C (Castagnoli), bit-reflected, as TFRecord uses.
pub fn crc32c(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0x82F6_3B78 ^ (c >> 1) } else { c >> 1 };
            }
            *e = c;
        }
        t
    });
    !data.iter().fold(!0u32, |c, b| table[((c ^ *b as u32) & 0xff) as usize] ^ (c >> 8))
}

fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c(data);
    (c.rotate_right(15)).wrapping_add(0xa282_ead8)
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field (wire type 2).
fn bytes_field(field: u32, data: &[u8], out: &mut Vec<u8>) {
    varint(((field << 3) | 2) as u64, out);
    varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

fn varint_field(field: u32, v: u64, out: &mut Vec<u8>) {
    varint((field << 3) as u64, out);
    varint(v, out);
}

fn event(step: u64, summary: Option<&[u8]>, file_version: Option<&str>) -> Vec<u8> {
    let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let mut e = vec![0x09]; // field 1, 64-bit
    e.extend_from_slice(&wall.to_le_bytes());
    varint_field(2, step, &mut e);
    if let Some(v) = file_version {
        bytes_field(3, v.as_bytes(), &mut e);
    }
    if let Some(s) = summary {
        bytes_field(5, s, &mut e);
    }
    e
}

/// One run's event file.
pub struct EventWriter {
    file: std::fs::File,
    pub path: PathBuf,
}

impl EventWriter {
    /// A new event file in `dir` (one per session; TensorBoard reads every file of a folder).
    pub fn create(dir: &Path) -> Result<EventWriter> {
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let path = dir.join(format!("events.out.tfevents.{secs}.gangpu.{}", std::process::id()));
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut w = EventWriter { file, path };
        w.record(&event(0, None, Some("brain.Event:2")))?;
        Ok(w)
    }

    fn record(&mut self, data: &[u8]) -> Result<()> {
        let len = (data.len() as u64).to_le_bytes();
        let mut buf = Vec::with_capacity(data.len() + 16);
        buf.extend_from_slice(&len);
        buf.extend_from_slice(&masked_crc(&len).to_le_bytes());
        buf.extend_from_slice(data);
        buf.extend_from_slice(&masked_crc(data).to_le_bytes());
        self.file.write_all(&buf).with_context(|| format!("writing {}", self.path.display()))?;
        self.file.flush().with_context(|| format!("writing {}", self.path.display()))
    }

    /// Scalars at `step`, one event.
    pub fn scalars(&mut self, step: u64, values: &[(&str, f64)]) -> Result<()> {
        let mut summary = Vec::new();
        for (tag, v) in values.iter().filter(|(_, v)| v.is_finite()) {
            let mut value = Vec::new();
            bytes_field(1, tag.as_bytes(), &mut value);
            value.push(0x15); // field 2, 32-bit
            value.extend_from_slice(&(*v as f32).to_le_bytes());
            bytes_field(1, &value, &mut summary);
        }
        self.record(&event(step, Some(&summary), None))
    }

    /// A PNG image (e.g. a sample grid) at `step`.
    pub fn image(&mut self, step: u64, tag: &str, png: &[u8], width: u32, height: u32, channels: u32) -> Result<()> {
        let mut img = Vec::new();
        varint_field(1, height as u64, &mut img);
        varint_field(2, width as u64, &mut img);
        varint_field(3, channels as u64, &mut img);
        bytes_field(4, png, &mut img);
        let mut value = Vec::new();
        bytes_field(1, tag.as_bytes(), &mut value);
        bytes_field(4, &img, &mut value);
        let mut summary = Vec::new();
        bytes_field(1, &value, &mut summary);
        self.record(&event(step, Some(&summary), None))
    }

    /// A PNG file as an image.
    pub fn image_file(&mut self, step: u64, tag: &str, path: &Path) -> Result<()> {
        let png = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let (w, h) = image::image_dimensions(path).with_context(|| format!("reading the size of {}", path.display()))?;
        self.image(step, tag, &png, w, h, 3)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc32c_matches_the_standard_check_value() {
        // the CRC-32C check value of "123456789" (RFC 3720, appendix B.4)
        assert_eq!(super::crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(super::crc32c(&[0u8; 32]), 0x8A91_36AA);
    }
}
