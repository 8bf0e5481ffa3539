//! A decoded data set: images as bytes in one buffer, labels, where they came from.

/// Images as bytes, (count, channels, size, size), plus labels where the source has them.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub count: usize,
    pub channels: usize,
    pub size: usize,
    pub pixels: Vec<u8>,
    pub labels: Option<Vec<u8>>,
    /// Where it came from, for config.json.
    pub source: String,
    /// Files skipped because they could not be decoded.
    pub skipped: Vec<String>,
    /// Class names (sub-folder names for image folders, digits for MNIST).
    pub class_names: Vec<String>,
}

impl Dataset {
    pub fn values_per_image(&self) -> usize {
        self.channels * self.size * self.size
    }
    pub fn image(&self, i: usize) -> &[u8] {
        let v = self.values_per_image();
        &self.pixels[i * v..(i + 1) * v]
    }
    /// The first `n` images (`--data-limit`), or an error naming the set's size when it has fewer.
    pub fn first(&self, n: usize) -> anyhow::Result<Dataset> {
        anyhow::ensure!(
            n <= self.count,
            "--data-limit {n}: {} holds only {} images; ask for at most {} (or drop --data-limit)",
            self.source,
            self.count,
            self.count
        );
        Ok(Dataset {
            count: n,
            pixels: self.pixels[..n * self.values_per_image()].to_vec(),
            labels: self.labels.as_ref().map(|l| l[..n].to_vec()),
            source: format!("{} (first {n} images)", self.source),
            ..self.clone()
        })
    }

    /// Number of classes (labels are 0..classes), 0 for unlabelled data.
    pub fn classes(&self) -> usize {
        self.labels.as_ref().map_or(0, |l| l.iter().map(|v| *v as usize + 1).max().unwrap_or(0))
    }

    /// Pixels packed 4 per u32 word, each image padded to whole words (the GPU layout).
    pub fn packed_words(&self) -> Vec<u8> {
        let v = self.values_per_image();
        let words = v.div_ceil(4);
        let mut out = vec![0u8; self.count * words * 4];
        for i in 0..self.count {
            out[i * words * 4..i * words * 4 + v].copy_from_slice(self.image(i));
        }
        out
    }
}
