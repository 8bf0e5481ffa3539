//! Every shader family parses and validates with naga: no adapter needed.

use gangpu::engine::{shader_source, SHADERS, SUBGROUP_FAMILIES};

#[test]
fn every_shader_parses_and_validates() {
    assert!(SHADERS.len() >= 7, "expected all kernel families, found {}", SHADERS.len());
    for (name, _) in SHADERS {
        let src = shader_source(name).expect("source");
        let module = naga::front::wgsl::parse_str(&src)
            .unwrap_or_else(|e| panic!("shader '{name}' does not parse:\n{}", e.emit_to_string(&src)));
        // only the subgroup families may use subgroup operations (the others run on adapters without them)
        let caps = if SUBGROUP_FAMILIES.contains(name) {
            naga::valid::Capabilities::all()
        } else {
            naga::valid::Capabilities::all() - naga::valid::Capabilities::SUBGROUP - naga::valid::Capabilities::SUBGROUP_BARRIER
        };
        let mut validator = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps);
        let info = validator
            .validate(&module)
            .unwrap_or_else(|e| panic!("shader '{name}' does not validate:\n{}", e.emit_to_string(&src)));
        assert!(!module.entry_points.is_empty(), "shader '{name}' has no entry point");
        drop(info);
    }
}

#[test]
fn every_shader_file_is_registered() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    for entry in std::fs::read_dir(dir).expect("shaders dir") {
        let path = entry.expect("entry").path();
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
        if stem == "common" {
            continue;
        }
        assert!(SHADERS.iter().any(|(n, _)| *n == stem), "shaders/{stem}.wgsl is not in engine::SHADERS");
    }
}
