//! How real batches reach the GPU. A data set that fits (in one storage binding, and within
//! --gpu-data-mb) is resident: uploaded once, batches gathered on the GPU. A larger one is
//! streamed: it stays on the host, and before each D step the host picks that batch's images (the
//! same epoch permutation the GPU computes, `rng::epoch_image`) and uploads them into one of
//! a ring of chunk buffers, which the same gather kernel then reads. Both give the same batches,
//! bit for bit, for the same seed.

use crate::data::Dataset;
use crate::engine::{Dispatch, Engine};
use crate::kernels::{self, GatherSource, RngParams};
use crate::models::ModelConfig;
use crate::tensor::Tensor;
use anyhow::{bail, Result};

/// Chunk buffers a streamed data set cycles through (the upload for a step goes to a different
/// buffer than the one the previous, possibly still running, step reads).
const RING: usize = 2;

/// One way of drawing batches: the combined gather + noise dispatch of a D step, and the
/// gather-only one for previews.
struct Path {
    draw: Dispatch,
    gather: Dispatch,
    chunk: Option<wgpu::Buffer>,
}

pub struct Feed {
    paths: Vec<Path>,
    draw_params: RngParams,
    /// Streamed data: the packed images on the host, their count and words per image, the
    /// staging bytes of one batch, and the batch's indices.
    host: Option<(Vec<u8>, usize, usize)>,
    staging: Vec<u8>,
    picked_host: Vec<u32>,
    picked: wgpu::Buffer,
    seed: u32,
    stream: u32,
    batch: usize,
    /// Images in the data set (1 when sampling only).
    pub count: usize,
    pub streamed: bool,
    /// Bytes of GPU memory the data takes (the whole set, or the chunk ring).
    pub gpu_bytes: u64,
}

fn storage(e: &Engine, label: &str, bytes: u64) -> wgpu::Buffer {
    e.gpu.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(4),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

impl Feed {
    /// `budget`: the most GPU memory the data may take (--gpu-data-mb; None: one binding).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        e: &Engine,
        data: Option<&Dataset>,
        mc: &ModelConfig,
        hflip: bool,
        budget: Option<u64>,
        real: &Tensor,
        z: &Tensor,
        picked: wgpu::Buffer,
        seed: u32,
        stream: u32,
        noise_stream: u32,
    ) -> Result<Feed> {
        let b = mc.batch;
        let values = mc.channels * mc.image_size * mc.image_size;
        let words = values.div_ceil(4);
        let real_flat = real.reshape(&[b, values])?;
        let limit = e.gpu.max_binding_bytes().min(budget.unwrap_or(u64::MAX));
        let (bufs, host, count, streamed) = match data {
            Some(ds) => {
                if ds.channels != mc.channels || ds.size != mc.image_size {
                    bail!(
                        "data set is {}x{}x{} but the model expects {}x{}x{} (--channels, --image-size)",
                        ds.channels,
                        ds.size,
                        ds.size,
                        mc.channels,
                        mc.image_size,
                        mc.image_size
                    );
                }
                let bytes = ds.packed_words();
                if bytes.len() as u64 <= limit {
                    let buf = storage(e, "data set", bytes.len() as u64);
                    e.gpu.queue.write_buffer(&buf, 0, &bytes);
                    (vec![buf], None, ds.count, false)
                } else {
                    let chunk = (b * words * 4) as u64;
                    if RING as u64 * chunk > limit {
                        bail!("--gpu-data-mb leaves {limit} bytes for data, less than two batches of images ({} bytes)", RING as u64 * chunk);
                    }
                    let bufs = (0..RING).map(|i| storage(e, &format!("data chunk {i}"), chunk)).collect();
                    (bufs, Some((bytes, ds.count, words)), ds.count, true)
                }
            }
            None => (vec![storage(e, "no data", (words * 4) as u64)], None, 1, false),
        };
        let mut paths = Vec::new();
        let mut draw_params = RngParams::default();
        for buf in bufs {
            // a chunk holds exactly the batch: the kernel reads image b of the batch from slot b
            let source = GatherSource { bytes: &buf, count: if streamed { b } else { count }, channels: mc.channels, side: mc.image_size, hflip };
            let gather = kernels::gather_batch(e, &source, &real_flat, &picked, seed, stream, 0)?;
            let (draw, p) = kernels::gather_and_noise(e, &source, &real_flat, &picked, z, seed, stream, noise_stream)?;
            draw_params = RngParams { streamed: streamed as u32, ..p };
            paths.push(Path { draw, gather, chunk: streamed.then_some(buf) });
        }
        let gpu_bytes = match &host {
            Some(_) => (RING * b * words * 4) as u64,
            None => data.map_or(0, |ds| (ds.count * words * 4) as u64),
        };
        Ok(Feed {
            paths,
            draw_params,
            host,
            staging: vec![0; b * words * 4],
            picked_host: vec![0; b],
            picked,
            seed,
            stream,
            batch: b,
            count,
            streamed,
            gpu_bytes,
        })
    }

    /// Gets batch `counter` ready: sets the kernels' counter and, when streaming, uploads the
    /// batch's images and indices. Returns the path to record.
    fn prepare(&mut self, e: &Engine, counter: u32) -> usize {
        let slot = if self.streamed { counter as usize % RING } else { 0 };
        let p = RngParams { counter, ..self.draw_params };
        self.paths[slot].draw.set_params(&e.gpu, &p);
        self.paths[slot].gather.set_params(&e.gpu, &RngParams { noise_len: 0, ..p });
        if let (Some((bytes, count, words)), Some(chunk)) = (&self.host, &self.paths[slot].chunk) {
            let (count, per) = (*count as u32, words * 4);
            for b in 0..self.batch {
                // the same epoch permutation as random.wgsl's gather (wrapping, as u32 there)
                let q = counter.wrapping_mul(self.batch as u32).wrapping_add(b as u32);
                let img = crate::rng::epoch_image(self.seed, self.stream, q / count, q % count, count) as usize;
                self.staging[b * per..(b + 1) * per].copy_from_slice(&bytes[img * per..(img + 1) * per]);
                self.picked_host[b] = img as u32;
            }
            e.gpu.queue.write_buffer(chunk, 0, &self.staging);
            e.gpu.queue.write_buffer(&self.picked, 0, bytemuck::cast_slice(&self.picked_host));
        }
        slot
    }

    /// The D step's input dispatch for batch `counter` (real batch and noise), ready to record.
    pub fn draw(&mut self, e: &Engine, counter: u32) -> &Dispatch {
        let slot = self.prepare(e, counter);
        &self.paths[slot].draw
    }

    /// The gather-only dispatch for batch `counter` (previews), ready to run.
    pub fn gather(&mut self, e: &Engine, counter: u32) -> &Dispatch {
        let slot = self.prepare(e, counter);
        &self.paths[slot].gather
    }

    /// A step's draw dispatch, without preparing a batch (for profiling lists).
    pub fn draw_dispatch(&self) -> &Dispatch {
        &self.paths[0].draw
    }
}
