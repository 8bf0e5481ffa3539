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

#[test]
fn decoded_folders_are_cached_and_never_served_stale() {
    let root = std::env::temp_dir().join(format!("gangpu-test-{}-cache", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (imgs, cache) = (root.join("imgs"), root.join("cache"));
    std::fs::create_dir_all(&imgs).unwrap();
    let write = |k: u32, v: u8| image::GrayImage::from_pixel(8, 8, image::Luma([v])).save(imgs.join(format!("{k}.png"))).unwrap();
    for k in 0..5 {
        write(k, 10 * k as u8);
    }
    let files = || {
        let mut v: Vec<std::path::PathBuf> = std::fs::read_dir(&imgs).unwrap().map(|e| e.unwrap().path()).collect();
        v.sort();
        v
    };
    let decode = || {
        let key = gangpu::data::cache::key(&imgs, &files(), 8, 1).unwrap();
        // what the folder loader does: the cache first, else decode and store
        match gangpu::data::cache::load(&cache, &key, 8, 1) {
            Ok(Some(ds)) => (ds, true),
            _ => {
                std::env::set_var("GANGPU_DATA_CACHE", "0");
                let ds = data::image_folder(&imgs, 8, 1).unwrap();
                gangpu::data::cache::store(&cache, &key, &ds).unwrap();
                (ds, false)
            }
        }
    };
    let (first, hit) = decode();
    assert!(!hit, "an empty cache cannot hit");
    let (second, hit) = decode();
    assert!(hit, "the second load must come from the cache");
    assert_eq!((second.count, &second.pixels, &second.source), (first.count, &first.pixels, &first.source));
    // an edited file (new size and time) is decoded again
    std::thread::sleep(std::time::Duration::from_millis(20));
    image::GrayImage::from_pixel(8, 8, image::Luma([200])).save(imgs.join("0.png")).unwrap();
    image::GrayImage::from_pixel(9, 9, image::Luma([200])).save(imgs.join("0.png")).unwrap();
    let (edited, hit) = decode();
    assert!(!hit, "an edited folder must not be served from the cache");
    assert_eq!(edited.image(0)[0], 200);
    // an added file too
    write(7, 70);
    let (added, hit) = decode();
    assert!(!hit && added.count == 6, "an added file must be seen");
    // a corrupt cache file is reported (the folder loader then decodes again)
    let key = gangpu::data::cache::key(&imgs, &files(), 8, 1).unwrap();
    std::fs::write(cache.join(format!("{key}.bin")), b"GANGPUC1 garbage").unwrap();
    assert!(gangpu::data::cache::load(&cache, &key, 8, 1).is_err(), "a corrupt cache file must not load");
    // and the real loader rebuilds it, with the right pixels
    std::env::set_var("GANGPU_CACHE_DIR", &cache);
    std::env::remove_var("GANGPU_DATA_CACHE");
    let rebuilt = data::image_folder(&imgs, 8, 1).unwrap();
    assert_eq!(rebuilt.count, 6);
    assert!(gangpu::data::cache::load(&cache, &key, 8, 1).unwrap().is_some(), "the corrupt cache file must have been rebuilt");
}
