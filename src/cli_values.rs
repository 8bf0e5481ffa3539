//! Value parsers for the command line. Every numeric flag accepts a negative number at the
//! parser, so a bad value gets a range error that names the flag, e.g. "invalid value '-1' for
//! '--lr <LR>': must be a positive number, got -1", like any other out-of-range value.

pub fn whole(s: &str) -> Result<i128, String> {
    s.trim().parse::<i128>().map_err(|_| format!("expected a whole number, got '{s}'"))
}
pub fn count_u64(s: &str) -> Result<u64, String> {
    let v = whole(s)?;
    if v < 1 {
        return Err(format!("must be at least 1, got {v}"));
    }
    u64::try_from(v).map_err(|_| format!("{v} is too large"))
}
pub fn count_usize(s: &str) -> Result<usize, String> {
    count_u64(s).and_then(|v| usize::try_from(v).map_err(|_| format!("{v} is too large")))
}
pub fn whole_u64(s: &str) -> Result<u64, String> {
    let v = whole(s)?;
    u64::try_from(v).map_err(|_| format!("must be 0 or more, got {v}"))
}
pub fn seed_u32(s: &str) -> Result<u32, String> {
    let v = whole(s)?;
    u32::try_from(v).map_err(|_| format!("must be in 0..={}, got {v}", u32::MAX))
}
pub fn label_u32(s: &str) -> Result<u32, String> {
    let v = whole(s)?;
    u32::try_from(v).map_err(|_| format!("must be a class index (0 or more), got {v}"))
}
pub fn number(s: &str) -> Result<f64, String> {
    s.trim().parse::<f64>().map_err(|_| format!("expected a number, got '{s}'"))
}
pub fn positive_f64(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v > 0.0 && v.is_finite() {
        Ok(v)
    } else {
        Err(format!("must be a positive number, got {v}"))
    }
}
pub fn non_negative_f64(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v >= 0.0 && v.is_finite() {
        Ok(v)
    } else {
        Err(format!("must be 0 or a positive number, got {v}"))
    }
}
pub fn positive_f32(s: &str) -> Result<f32, String> {
    positive_f64(s).map(|v| v as f32)
}
pub fn beta(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if (0.0..1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("must be in [0, 1), got {v}"))
    }
}

// The help headings of `gangpu train`'s flags: each is one `--resume` group (train::RESUME_POLICY).
pub const MODEL: &str = "Model (kept on --resume)";
pub const DATA: &str = "Data (kept on --resume)";
pub const OBJECTIVE: &str = "Objective (kept on --resume)";
pub const SCHEDULE: &str = "Schedule (may change on --resume)";
pub const OUTPUT: &str = "Output (may change on --resume)";
pub const START: &str = "Start";
pub const DEVICE: &str = "Device";
