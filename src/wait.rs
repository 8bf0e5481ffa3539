//! Waiting on the GPU, natively and in the browser: the one place where the two differ.
//!
//! Natively, `Gpu::wait` polls the device until the queue is idle, so a buffer's mapping callback
//! has run by the time it returns and `block_on` of a read finishes at once: the native program
//! blocks exactly as before. In the browser (wasm32, wgpu's WebGPU backend) nothing completes
//! until the page yields to its event loop, so reads are futures the page awaits, and error scopes
//! report through the device's error sink (`Gpu::check`) instead of blocking.

use crate::gpu::Gpu;
use anyhow::{anyhow, Result};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// Runs a future to completion on this thread (native only: the browser cannot block).
#[cfg(not(target_arch = "wasm32"))]
pub fn block_on<F: Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

/// A value handed from a callback (wgpu's map_async) to the future awaiting it.
struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
    dropped: bool,
}

struct Receiver<T>(Arc<Mutex<Slot<T>>>);

struct Sender<T>(Arc<Mutex<Slot<T>>>);

fn one_shot<T>() -> (Sender<T>, Receiver<T>) {
    let s = Arc::new(Mutex::new(Slot { value: None, waker: None, dropped: false }));
    (Sender(s.clone()), Receiver(s))
}

impl<T> Sender<T> {
    fn send(self, v: T) {
        if let Ok(mut s) = self.0.lock() {
            s.value = Some(v);
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.lock() {
            s.dropped = true;
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        }
    }
}

impl<T> Future for Receiver<T> {
    /// None: the callback was dropped without running.
    type Output = Option<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let Ok(mut s) = self.0.lock() else { return Poll::Ready(None) };
        if let Some(v) = s.value.take() {
            return Poll::Ready(Some(v));
        }
        if s.dropped {
            return Poll::Ready(None);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Maps a MAP_READ buffer whose copy is submitted, copies its content out and unmaps it.
pub async fn map_read(gpu: &Gpu, staging: &wgpu::Buffer) -> Result<Vec<f32>> {
    let (tx, rx) = one_shot();
    staging.map_async(wgpu::MapMode::Read, .., move |r| tx.send(r));
    // natively this returns with the callback run; in the browser it only reports errors so far
    gpu.wait()?;
    rx.await.ok_or_else(|| anyhow!("buffer mapping callback never ran"))?.map_err(|e| anyhow!("mapping a read-back buffer: {e}"))?;
    let data = {
        let view = staging.get_mapped_range(..).map_err(|e| anyhow!("mapped range: {e}"))?;
        bytemuck::cast_slice::<u8, f32>(&view).to_vec()
    };
    staging.unmap();
    Ok(data)
}

/// The validation error `scope` caught, natively; in the browser the error goes to the device's
/// error sink when the scope's promise resolves, and `Gpu::check` reports it.
pub fn scope_error(gpu: &Gpu, scope: wgpu::ErrorScopeGuard) -> Option<wgpu::Error> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = gpu;
        block_on(scope.pop())
    }
    #[cfg(target_arch = "wasm32")]
    {
        let sink = gpu.error_sink();
        let pop = scope.pop();
        wasm_bindgen_futures::spawn_local(async move {
            if let Some(e) = pop.await {
                if let Ok(mut v) = sink.lock() {
                    v.push(e.to_string());
                }
            }
        });
        None
    }
}
