//! Every image format an image folder may hold (data::IMAGE_FORMATS, the list the error messages
//! name) decodes: one file of each, written by the image crate's encoders, loads with its pixels.

use gangpu::data;

#[test]
fn every_listed_format_decodes() {
    let dir = std::env::temp_dir().join(format!("gangpu-test-{}-formats", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // a 16x16 RGB ramp: red grows to the right, green downwards
    let img = image::RgbImage::from_fn(16, 16, |x, y| image::Rgb([(x * 16) as u8, (y * 16) as u8, 100]));
    let mut written = Vec::new();
    for (name, exts) in data::IMAGE_FORMATS {
        let ext = exts[0];
        let path = dir.join(format!("sample.{ext}"));
        let dynimg = image::DynamicImage::ImageRgb8(img.clone());
        // PNM's first extension (.pnm) has no encoder of its own; write the colour variant
        let path = if ext == "pnm" { dir.join("sample.ppm") } else { path };
        dynimg.save(&path).unwrap_or_else(|e| panic!("encoding a {name} test file: {e}"));
        written.push((*name, path));
    }
    for (name, path) in &written {
        let one = dir.join(format!("only-{name}"));
        std::fs::create_dir_all(&one).unwrap();
        let target = one.join(path.file_name().unwrap());
        std::fs::copy(path, &target).unwrap();
        let ds = data::load(one.to_str().unwrap(), 16, 3).unwrap_or_else(|e| panic!("{name} does not decode: {e:#}"));
        assert_eq!((ds.count, ds.skipped.len()), (1, 0), "{name}: one image, none skipped");
        // red channel at (x=15, y=0) and green at (x=0, y=15); lossy formats within 12 levels
        let px = ds.image(0);
        let (red, green) = (px[15], px[256 + 15 * 16]);
        assert!((red as i32 - 240).abs() <= 12 && (green as i32 - 240).abs() <= 12, "{name}: decoded pixels wrong (red {red}, green {green})");
    }
    // the message for a folder without images names exactly these formats
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let msg = format!("{:#}", data::load(empty.to_str().unwrap(), 16, 3).unwrap_err());
    for (name, _) in data::IMAGE_FORMATS {
        assert!(msg.contains(name), "the empty-folder message does not name {name}: {msg}");
    }
}
