//! Non-blocking reads of small GPU buffers (the losses): a ring of MAP_READ staging buffers. A
//! step copies into a free one and maps it asynchronously; completed reads come back in order,
//! tagged with what the caller attached, without stalling the step loop. Built once per run.

use crate::gpu::Gpu;
use anyhow::{anyhow, bail, Result};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub struct ReadbackRing<T> {
    free: Vec<wgpu::Buffer>,
    pending: VecDeque<(T, wgpu::Buffer, Arc<AtomicBool>)>,
}

impl<T> ReadbackRing<T> {
    /// `slots` staging buffers of `bytes` each.
    pub fn new(gpu: &Gpu, slots: usize, bytes: u64, label: &str) -> ReadbackRing<T> {
        let free = (0..slots)
            .map(|i| {
                gpu.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(&format!("{label} staging {i}")),
                    size: bytes,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })
            .collect();
        ReadbackRing { free, pending: VecDeque::new() }
    }

    /// A free staging buffer to copy into, waiting for the oldest read when all are in use; the
    /// reads completed meanwhile are returned through `done`.
    pub fn take(&mut self, gpu: &Gpu, done: &mut dyn FnMut(T, Vec<f32>) -> Result<()>) -> Result<wgpu::Buffer> {
        if self.free.is_empty() {
            self.drain(gpu, true, done)?;
        }
        self.free.pop().ok_or_else(|| anyhow!("no staging buffer free after draining"))
    }

    /// Maps `buf` (its copy is submitted) and queues it with `tag`.
    pub fn submitted(&mut self, buf: wgpu::Buffer, tag: T) {
        let ready = Arc::new(AtomicBool::new(false));
        let r = ready.clone();
        buf.map_async(wgpu::MapMode::Read, .., move |res| {
            if res.is_ok() {
                r.store(true, Ordering::Release);
            }
        });
        self.pending.push_back((tag, buf, ready));
    }

    /// Hands every completed read, in submission order, to `done`; with `block`, waits for all.
    pub fn drain(&mut self, gpu: &Gpu, block: bool, done: &mut dyn FnMut(T, Vec<f32>) -> Result<()>) -> Result<()> {
        while let Some((_, _, ready)) = self.pending.front() {
            if !ready.load(Ordering::Acquire) {
                if !block {
                    break;
                }
                // Another thread sharing the device may be the one whose poll runs our mapping
                // callback, so wait, then give the callback a moment before giving up.
                let t0 = Instant::now();
                while !ready.load(Ordering::Acquire) {
                    gpu.wait()?;
                    if t0.elapsed().as_secs() > 30 {
                        bail!("a read-back never completed (30 s after the GPU went idle)");
                    }
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
            let (tag, buf, _) = self.pending.pop_front().ok_or_else(|| anyhow!("pending read vanished"))?;
            let vals: Vec<f32> = {
                let view = buf.get_mapped_range(..).map_err(|e| anyhow!("reading back: {e}"))?;
                bytemuck::cast_slice::<u8, f32>(&view).to_vec()
            };
            buf.unmap();
            self.free.push(buf);
            done(tag, vals)?;
        }
        Ok(())
    }
}
