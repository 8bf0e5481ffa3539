//! f32 tensors living in GPU storage buffers. A tensor is a view (byte offset + shape) into a
//! buffer, so all parameters of a network can share one flat buffer and the optimizer runs as
//! one dispatch.

use crate::gpu::Gpu;
use anyhow::{bail, Context, Result};
use std::sync::Arc;

/// Elements per alignment unit for views into a shared buffer (256 bytes covers every adapter's
/// `min_storage_buffer_offset_alignment`).
pub const ALIGN_ELEMS: usize = 64;

#[derive(Clone, Debug)]
pub struct Tensor {
    pub buffer: Arc<wgpu::Buffer>,
    /// Offset into `buffer`, in f32 elements.
    pub offset: usize,
    pub shape: Vec<usize>,
}

pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Allocates a storage buffer of `elems` f32 after checking it against the device limits.
pub fn alloc_buffer(gpu: &Gpu, elems: usize, label: &str) -> Result<Arc<wgpu::Buffer>> {
    let bytes = (elems.max(1) * 4) as u64;
    let bytes = bytes.div_ceil(4) * 4;
    if bytes > gpu.limits.max_buffer_size {
        bail!(
            "tensor '{label}' needs {bytes} bytes, more than this adapter's max_buffer_size ({} bytes); \
             use a smaller batch or model",
            gpu.limits.max_buffer_size
        );
    }
    let buf = gpu.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    Ok(Arc::new(buf))
}

impl Tensor {
    /// A new zero-filled tensor in its own buffer.
    pub fn zeros(gpu: &Gpu, shape: &[usize], label: &str) -> Result<Tensor> {
        let n = numel(shape);
        check_binding(gpu, n, label)?;
        let buffer = alloc_buffer(gpu, n, label)?;
        Ok(Tensor { buffer, offset: 0, shape: shape.to_vec() })
    }

    /// A new tensor holding `data`.
    pub fn from_slice(gpu: &Gpu, shape: &[usize], data: &[f32], label: &str) -> Result<Tensor> {
        if numel(shape) != data.len() {
            bail!("tensor '{label}': shape {shape:?} holds {} values but {} were given", numel(shape), data.len());
        }
        let t = Tensor::zeros(gpu, shape, label)?;
        t.write(gpu, data)?;
        Ok(t)
    }

    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }

    pub fn byte_offset(&self) -> u64 {
        (self.offset * 4) as u64
    }

    pub fn byte_size(&self) -> u64 {
        (self.numel().max(1) * 4) as u64
    }

    /// The binding of this view for a bind group.
    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: self.byte_offset(),
            size: std::num::NonZeroU64::new(self.byte_size()),
        })
    }

    /// Same storage, another shape with the same element count.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if numel(shape) != self.numel() {
            bail!("cannot reshape {:?} to {:?}: element counts differ", self.shape, shape);
        }
        Ok(Tensor { buffer: self.buffer.clone(), offset: self.offset, shape: shape.to_vec() })
    }

    /// Uploads `data` (host -> GPU); the copy happens before the next submit.
    pub fn write(&self, gpu: &Gpu, data: &[f32]) -> Result<()> {
        if data.len() != self.numel() {
            bail!("write of {} values into a tensor of shape {:?}", data.len(), self.shape);
        }
        gpu.queue.write_buffer(&self.buffer, self.byte_offset(), bytemuck::cast_slice(data));
        Ok(())
    }

    /// Blocking read-back (tests, samples, checkpoints). The training loop uses `Readback` instead.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        crate::wait::block_on(self.read_async(gpu))
    }

    /// The read-back as a future: what the browser awaits (natively it is ready once the GPU is
    /// idle, which `read` waits for).
    pub async fn read_async(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        read_buffer_async(gpu, &self.buffer, self.byte_offset(), self.byte_size())
            .await
            .map(|mut v| {
                v.truncate(self.numel());
                v
            })
            .with_context(|| format!("reading back a tensor of shape {:?}", self.shape))
    }

    /// Host-side shape check before recording a dispatch.
    pub fn expect_shape(&self, want: &[usize], what: &str) -> Result<()> {
        if self.shape != want {
            bail!("{what}: expected shape {want:?}, got {:?}", self.shape);
        }
        Ok(())
    }
}

/// Fails with a clear message when a binding of `elems` f32 exceeds the device's binding limit.
pub fn check_binding(gpu: &Gpu, elems: usize, label: &str) -> Result<()> {
    let bytes = (elems as u64) * 4;
    if bytes > gpu.max_binding_bytes() {
        bail!(
            "tensor '{label}' is {bytes} bytes, more than this adapter's max_storage_buffer_binding_size \
             ({} bytes); reduce the batch size or the model width",
            gpu.max_binding_bytes()
        );
    }
    Ok(())
}

/// Blocking copy of a buffer range to the host (native).
#[cfg(not(target_arch = "wasm32"))]
pub fn read_buffer(gpu: &Gpu, buffer: &wgpu::Buffer, offset: u64, size: u64) -> Result<Vec<f32>> {
    crate::wait::block_on(read_buffer_async(gpu, buffer, offset, size))
}

/// Copies a buffer range to the host once the GPU has run the copy.
pub async fn read_buffer_async(gpu: &Gpu, buffer: &wgpu::Buffer, offset: u64, size: u64) -> Result<Vec<f32>> {
    let size = size.div_ceil(4) * 4;
    let staging = gpu.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("readback") });
    enc.copy_buffer_to_buffer(buffer, offset, &staging, 0, size);
    gpu.queue.submit(Some(enc.finish()));
    crate::wait::map_read(gpu, &staging).await
}

/// Maps a MAP_READ buffer, waits, copies its content out and unmaps it (native; the browser
/// awaits `wait::map_read`).
#[cfg(not(target_arch = "wasm32"))]
pub fn map_blocking(gpu: &Gpu, staging: &wgpu::Buffer) -> Result<Vec<f32>> {
    crate::wait::block_on(crate::wait::map_read(gpu, staging))
}
